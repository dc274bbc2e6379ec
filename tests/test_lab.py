"""JupyterLab, the learner's home: saving a notebook updates its text source through the server
`make lab` starts, the text sources stay out of the file browser, and a notebook that was only run
shows no diff in git (the clean filter of .gitattributes)."""

from __future__ import annotations

import ast
import difflib
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from star1_utils.run import cell_order, lab

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_data_collection"


#: What the server's root holds that matters here: the configs and one notebook pair.
LAB_FILES = ("jupytext.toml", "jupyter_server_config.json", ".gitattributes")


@pytest.fixture
def lab_server(tmp_path, project_copy, free_port):
    """A Jupyter server configured as `make lab` configures it (root, config file, jupytext)."""
    pytest.importorskip("jupyter_server", reason="the lab extra is not installed (make setup installs it)")
    pytest.importorskip("jupytext")
    root, port, token = project_copy(LAB_FILES, (NOTEBOOK,)), free_port, "star1-test"
    cmd = [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", f"--ServerApp.token={token}",
           f"--ServerApp.root_dir={root}", f"--config={root / 'jupyter_server_config.json'}", "--allow-root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}/api/contents/"

    def call(method: str, path: str, body: dict | None = None) -> dict:
        req = urllib.request.Request(f"{base}{path}?token={token}", method=method,
                                     data=json.dumps(body).encode() if body else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    deadline = time.time() + 60
    while True:
        try:
            call("GET", "")
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"jupyter server did not start: {proc.stderr.read()[-2000:]}")
            time.sleep(0.5)
    yield root, call
    proc.terminate()
    proc.wait(timeout=30)


def test_saving_a_notebook_in_jupyterlab_updates_its_text_source(lab_server):
    root, call = lab_server
    listing = [c["name"] for c in call("GET", "notebooks")["content"]]
    assert listing == [f"{NOTEBOOK}.ipynb"]  # listed once: the .py source is hidden
    nb = call("GET", f"notebooks/{NOTEBOOK}.ipynb")
    nb["content"]["cells"][0]["source"] += "\n\nA learner's note, saved in JupyterLab."
    call("PUT", f"notebooks/{NOTEBOOK}.ipynb", {"type": "notebook", "format": "json", "content": nb["content"]})
    text = (root / "notebooks" / f"{NOTEBOOK}.py").read_text()
    assert "# A learner's note, saved in JupyterLab." in text
    before = (ROOT / "notebooks" / f"{NOTEBOOK}.py").read_text().splitlines()
    changes = [d for d in difflib.ndiff(before, text.splitlines()) if d[:2] in ("+ ", "- ")]
    assert changes == ["+ #", "+ # A learner's note, saved in JupyterLab."]  # nothing else rewritten
    assert call("GET", f"notebooks/{NOTEBOOK}.py")["type"] == "notebook"  # the source opens as a notebook


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def test_a_notebook_that_was_only_run_shows_no_diff_in_git(project_copy):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = project_copy(LAB_FILES, (NOTEBOOK,))
    _git(root, "init", "-q")
    _git(root, "config", "user.email", "t@example.org")
    _git(root, "config", "user.name", "t")
    # what `make setup` configures, with this interpreter
    _git(root, "config", "filter.star1-notebook.clean", f"{sys.executable} -m star1_utils clean-notebooks --stdin")
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "clean")
    path = root / "notebooks" / f"{NOTEBOOK}.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7", "mimetype": "text/x-python"}
    nb.metadata["jupytext"] = {"notebook_metadata_filter": "-all"}
    for n, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
        cell.execution_count = n + 1
    nbformat.write(nb, path)
    assert _git(root, "diff", "--stat") == ""  # run, not changed
    _git(root, "add", "-A")
    assert _git(root, "status", "--porcelain") == ""  # and nothing to commit
    nb.cells[0].source += "\nAn edit."
    nbformat.write(nb, path)
    assert "An edit." in _git(root, "diff")  # an edit is still a change


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")), ids=lambda p: p.stem)
def test_the_clean_filter_gives_back_the_committed_notebook(path):
    """Every committed notebook, run (outputs, counts, kernel and jupytext metadata, a cell's
    collapsed state), comes back byte for byte from the filter; so does the committed one."""
    from star1_utils.run.hygiene import clean_notebook_text

    committed = path.read_text(encoding="utf-8")
    nb = nbformat.reads(committed, as_version=4)
    nb.metadata.update(jupytext={"notebook_metadata_filter": "-all"},
                       language_info={"name": "python", "version": "3.11.7", "mimetype": "text/x-python"})
    for n, cell in enumerate(nb.cells):
        cell.metadata["collapsed"] = False
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("execute_result", data={"text/plain": "1\n2"}, execution_count=n)]
            cell.execution_count = n
    assert clean_notebook_text(nbformat.writes(nb)) == committed
    assert clean_notebook_text(committed) == committed
    assert clean_notebook_text("<<<<<<< HEAD\n{") == "<<<<<<< HEAD\n{"  # not a notebook: left as it is


# ---------------------------------------------------------------- cells run out of order

def test_definitions_name_the_first_cell_that_sets_each_name():
    nb = {"cells": [
        {"cell_type": "markdown", "source": "## 1. Load\ntext"},
        {"cell_type": "code", "source": "import time\nfrom star1_utils.run import layout as lay\nfolder = 1"},
        {"cell_type": "code", "source": "%%time\nfor i, (a, b) in enumerate([]):\n    inner = 2\n"
                                        "def f(x):\n    hidden = x\nwith open('x') as fh:\n    pass"},
        {"cell_type": "markdown", "source": "## 2. Again"},
        {"cell_type": "code", "source": "folder = 2\nsquares = [k * k for k in range(3)]\n!ls\nlisted = !ls\n"
                                        "%matplotlib inline"},
    ]}
    found = cell_order.definitions(nb)
    assert found["folder"] == cell_order.Definition(1, "1. Load", "import time")
    assert {"time", "lay", "i", "a", "b", "inner", "f", "fh", "squares"} <= set(found)
    assert "hidden" not in found and "x" not in found and "k" not in found
    assert found["squares"].section == "2. Again" and found["squares"].cell == 3
    assert "listed" in found


def test_no_hint_when_the_name_is_set_by_the_failing_cell_or_a_later_one(tmp_path):
    nb = {"cells": [{"cell_type": "code", "id": "a", "source": "x = 1"},
                    {"cell_type": "code", "id": "b", "source": "print(y)\ny = x"},
                    {"cell_type": "code", "id": "c", "source": "z = y"}]}
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert "code cell 1 of nb.ipynb" in cell_order.hint("x", path, running_cell_id="b")
    assert cell_order.hint("y", path, running_cell_id="b") is None  # this cell sets it, after using it
    assert cell_order.hint("z", path, running_cell_id="a") is None  # a later cell sets it
    assert "code cell 2" in cell_order.hint("y", path, running_cell_id="c")
    assert "code cell 2" in cell_order.hint("y", path)  # a client that sends no cell id


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks").glob("0*.ipynb")), ids=lambda p: p.stem)
def test_every_name_a_cell_reads_from_an_earlier_cell_gets_a_hint(path):
    """Each notebook's cells read names set by earlier cells; run out of order, each such name's
    error says which earlier cell sets it."""
    nb = json.loads(path.read_text())
    found = cell_order.definitions(nb)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    checked = 0
    for number, cell in enumerate(code, start=1):
        try:
            tree = ast.parse("".join(cell["source"]))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in found:
                if found[node.id].cell < number:
                    checked += 1
                    text = cell_order.hint(node.id, path)
                    assert text and f"code cell {found[node.id].cell} of {path.name}" in text
    assert checked > 5


def test_a_cell_run_out_of_order_in_the_suites_kernel_names_the_cell_to_run_first(monkeypatch):
    """The kernel `make setup` installs loads the helper: no cell of the notebook needs to run first."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import start_new_kernel

    spec = KernelSpecManager().get_kernel_spec(lab.KERNEL_NAME)
    assert f"--ext={cell_order.EXTENSION}" in spec.argv, "run `make setup` (python -m star1_utils lab-setup)"
    notebook = ROOT / "notebooks" / "05_training.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", str(notebook))  # what a Jupyter server sets for its kernels
    km, kc = start_new_kernel(kernel_name=lab.KERNEL_NAME)
    errors = []
    try:
        library = ("import types; lib = types.ModuleType('lib'); exec(compile('def f():\\n    return trained_before',"
                   " '/somewhere/lib.py', 'exec'), lib.__dict__); lib.f()")
        for code in ("print(trained_before)", "print(no_cell_sets_this)", library):
            kc.execute_interactive(code, timeout=60, output_hook=lambda m: errors.append(m["content"])
                                   if m["msg_type"] == "error" else None)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    assert len(errors) == 3 and {e["ename"] for e in errors} == {"NameError"}
    where = cell_order.definitions(json.loads(notebook.read_text()))["trained_before"]
    assert f"code cell {where.cell} of 05_training.ipynb" in errors[0]["evalue"]
    assert "Run All Above" in errors[0]["evalue"]
    assert errors[1]["evalue"] == "name 'no_cell_sets_this' is not defined"  # not about cell order
    assert errors[2]["evalue"] == "name 'trained_before' is not defined"  # raised in a library, not the cell


def test_lab_setup_turns_off_the_news_prompt_and_keeps_other_settings(tmp_path):
    path = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"@jupyterlab/apputils-extension:themes": {"theme": "JupyterLab Dark"}}))
    assert lab.write_lab_settings(tmp_path) == path
    settings = json.loads(path.read_text())
    assert settings["@jupyterlab/apputils-extension:notification"] == {"fetchNews": "false", "checkForUpdates": False}
    assert settings["@jupyterlab/apputils-extension:themes"] == {"theme": "JupyterLab Dark"}
