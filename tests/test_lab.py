"""JupyterLab, the learner's home: saving a notebook updates its text source through the server
`make lab` starts, the text sources stay out of the file browser, and a notebook that was only run
shows no diff in git (the clean filter of .gitattributes)."""

from __future__ import annotations

import difflib
import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = "01_data_collection"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _project_copy(tmp_path: Path) -> Path:
    """The files the server's root holds that matter here: the configs and one notebook pair."""
    root = tmp_path / "project"
    (root / "notebooks").mkdir(parents=True)
    for name in ("jupytext.toml", "jupyter_server_config.json", ".gitattributes"):
        shutil.copy(ROOT / name, root / name)
    for suffix in (".ipynb", ".py"):
        shutil.copy(ROOT / "notebooks" / f"{NOTEBOOK}{suffix}", root / "notebooks" / f"{NOTEBOOK}{suffix}")
    return root


@pytest.fixture
def lab_server(tmp_path):
    """A Jupyter server configured as `make lab` configures it (root, config file, jupytext)."""
    pytest.importorskip("jupyter_server", reason="the lab extra is not installed (make setup installs it)")
    pytest.importorskip("jupytext")
    root, port, token = _project_copy(tmp_path), _free_port(), "star1-test"
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


def test_a_notebook_that_was_only_run_shows_no_diff_in_git(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = _project_copy(tmp_path)
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
