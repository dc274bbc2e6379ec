"""A learner's session in a real browser: JupyterLab as `make lab` starts it, driven by Chromium.

The test runs notebook 01 headlessly (its stage feeds 02), then, in JupyterLab, opens notebook 02,
follows its glossary link, runs one cell before the cells it needs, adds a cell under its title,
runs every cell through the Run menu, and saves. It checks what a learner would see and what the
files say afterwards:

- the glossary opens in JupyterLab (the link resolves);
- the cell run out of order says which cell sets the name it lacks (run/cell_order.py);
- every code cell ran, after Run All, and no output is an error;
- a progress widget rendered while the classifier labelled the instructions (run/progress.py);
- the solution cells are folded (hygiene.SOLUTION_FOLDED);
- saving wrote the paired text source (jupytext): the added cell is in the ``.py``.

Needs Debian's chromium and the ``browser`` extra (``make browser``). Where neither can be
installed the test is skipped, saying so; with ``STAR1_REQUIRE_BROWSER=1`` (CI) it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from star1_utils.run.hygiene import SOLUTION_TAG
from star1_utils.run.resources import mirror_root

ROOT = Path(__file__).resolve().parents[1]
FIRST, NOTEBOOK = "01_data_collection", "02_category_classification"
NOTE = "# a learner's note, typed in JupyterLab"
#: Chromium flags for a machine without a display or a network (no background connections).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-quic"]


#: Run in the page before JupyterLab loads: the texts of the progress widgets (ipywidgets' bar,
#: ``widget-hprogress``) that rendered, however briefly, in ``window.star1Progress``.
SEE_PROGRESS = """
window.star1Progress = [];
new MutationObserver(() => {
  for (const bar of document.querySelectorAll('.jp-OutputArea .widget-hprogress')) {
    const text = (bar.closest('.jp-OutputArea-output') || bar).textContent.trim();
    if (text && !window.star1Progress.includes(text)) window.star1Progress.push(text);
  }
}).observe(document, {childList: true, subtree: true, characterData: true});
"""


#: True once every code cell of the open notebook has an execution count and its kernel is idle
#: (read from JupyterLab's own model: the page draws only the cells in view).
ALL_RUN = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  if (!panel || !panel.content || !panel.content.model) return false;
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells.get(i);
    if (cell.type === 'code' && cell.executionCount === null) return false;
  }
  return panel.sessionContext.kernelDisplayStatus === 'idle';
}"""


#: True once the notebook is open in JupyterLab with its cells and a kernel.
LOADED = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  return !!(panel && panel.content && panel.content.model && panel.content.widgets.length > 0
            && panel.sessionContext.kernelDisplayStatus === 'idle');
}"""
#: The code cell a learner runs first, before the cells that set its names.
OUT_OF_ORDER = "outcome = classification.classify("
#: Makes the first cell whose source starts with the argument the active cell, in command mode and
#: with the keyboard's focus (a click would do the same on a cell in view); returns its index.
SELECT_CELL = """(start) => {
  const notebook = window.jupyterapp.shell.currentWidget.content;
  const index = notebook.widgets.findIndex(w => w.model.sharedModel.getSource().startsWith(start));
  notebook.activeCellIndex = index;
  notebook.mode = 'command';
  notebook.scrollToItem(index);
  notebook.node.focus();
  return index;
}"""
#: Whether cell ``index`` of the open notebook shows an error output; and that error's message.
HAS_ERROR = """(index) => {
  const outputs = window.jupyterapp.shell.currentWidget.content.widgets[index].model.outputs;
  for (let i = 0; i < outputs.length; i++) if (outputs.get(i).type === 'error') return true;
  return false;
}"""
ERROR_TEXT = """(index) => {
  const outputs = window.jupyterapp.shell.currentWidget.content.widgets[index].model.outputs;
  for (let i = 0; i < outputs.length; i++) {
    const out = outputs.get(i).toJSON();
    if (out.output_type === 'error') return out.ename + ': ' + out.evalue;
  }
  return '';
}"""
#: How many cells of the open notebook JupyterLab shows with their code folded.
FOLDED = "() => window.jupyterapp.shell.currentWidget.content.widgets.filter(w => w.inputHidden).length"


def _chromium() -> str | None:
    for candidate in (os.environ.get("STAR1_CHROMIUM"), "chromium", "chromium-browser"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    return None


def _skip_or_fail(reason: str):
    if os.environ.get("STAR1_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (STAR1_REQUIRE_BROWSER=1: run `make browser`)")
    pytest.skip(f"{reason}: run `make browser` (Debian's chromium and the browser extra)")


def _kernel_states(port: int, token: str) -> list[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/kernels?token={token}", timeout=10) as r:
        return [k["execution_state"] for k in json.loads(r.read())]


@pytest.fixture
def lab(tmp_path, project_copy, free_port):
    """JupyterLab started as `make lab` starts it, on a free port, over a copy of the project."""
    chromium = _chromium()
    if chromium is None:
        _skip_or_fail("no chromium on this machine")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("playwright is not installed")
    # a copy of the project for the server and the kernels (STAR1_ROOT): configs, profiles, two notebooks
    root = project_copy(("jupytext.toml", "jupyter_server_config.json", "pyproject.toml"), (FIRST, NOTEBOOK),
                        folders=("profiles", "docs"))
    port, token = free_port, "star1-browser-test"
    mirror = mirror_root()
    env = {**os.environ, "STAR1_ROOT": str(root), "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false",
           **({"STAR1_DATA_MIRROR": str(mirror)} if mirror else {})}
    env.pop(  # the server names each kernel's notebook itself; the suite picks the progress form
        "STAR1_PROGRESS", None)
    # notebook 01's stage, which 02 reads, run headlessly (the README's `run` command)
    first = subprocess.run([sys.executable, "-m", "star1_utils", "run", "--profile", "demo", "--notebooks", "01"],
                           env=env, cwd=root, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, f"notebook 01 failed headlessly:\n{first.stdout[-3000:]}\n{first.stderr[-3000:]}"
    cmd = [str(Path(sys.executable).with_name("jupyter")), "lab", "--no-browser", f"--port={port}",
           f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}",
           f"--config={root / 'jupyter_server_config.json'}", "--LabApp.default_url=/lab/tree/notebooks",
           "--LabApp.expose_app_in_browser=True",
           f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
           f"--LabApp.user_settings_dir={tmp_path / 'settings'}", "--allow-root"]
    log = (tmp_path / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 120
    while True:
        try:
            _kernel_states(port, token)
            break
        except OSError:
            if time.time() > deadline or proc.poll() is not None:
                proc.kill()
                pytest.fail(f"JupyterLab did not start: {(tmp_path / 'lab.log').read_text()[-2000:]}")
            time.sleep(0.5)
    try:
        yield {"root": root, "port": port, "token": token, "chromium": chromium, "tmp": tmp_path}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_a_learner_runs_a_notebook_in_jupyterlab_sees_progress_and_saving_updates_the_text_source(lab):
    from playwright.sync_api import sync_playwright

    root, port, token = lab["root"], lab["port"], lab["token"]
    shot = lab["tmp"] / "jupyterlab.png"
    url = f"http://127.0.0.1:{port}/lab/tree/notebooks/{NOTEBOOK}.ipynb?token={token}&reset"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=lab["chromium"], args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.add_init_script(SEE_PROGRESS)
            page.goto(url, timeout=120_000)
            page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=120_000)
            page.wait_for_function(LOADED, timeout=120_000)
            folded = page.evaluate(FOLDED)
            # the glossary link opens the glossary in JupyterLab (no 404: the server's root is the project)
            page.locator(".jp-RenderedMarkdown a", has_text="the glossary").first.click()
            page.locator(".lm-TabBar-tab", has_text="GLOSSARY.md").first.wait_for(timeout=60_000)
            page.locator(".lm-TabBar-tab", has_text=NOTEBOOK[:12]).first.click()
            page.wait_for_function(LOADED, timeout=60_000)
            # a cell run before the cells it needs: its error names the cell to run first
            index = page.evaluate(SELECT_CELL, OUT_OF_ORDER)
            page.keyboard.press("Shift+Enter")
            page.wait_for_function(HAS_ERROR, arg=index, timeout=120_000)
            page.get_by_text("Run All Above Selected Cell").first.wait_for(timeout=30_000)
            hint = page.evaluate(ERROR_TEXT, index)
            # a learner's edit: a new code cell under the first, typed in the editor
            page.locator(".jp-Notebook .jp-Cell").first.click()
            page.keyboard.press("Escape")
            page.keyboard.press("b")
            page.keyboard.press("Enter")
            page.keyboard.type(NOTE)
            page.keyboard.press("Escape")
            # Run > Run All Cells
            page.locator(".lm-MenuBar-item", has_text="Run").first.click()
            page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
            # done when every code cell of the notebook's model has run and the kernel is idle
            page.wait_for_function(ALL_RUN, timeout=600_000, polling=1000)
            seen = page.evaluate("window.star1Progress")
            page.keyboard.press("Control+s")
            _wait_for(lambda: NOTE in (root / "notebooks" / f"{NOTEBOOK}.py").read_text(), timeout=60,
                      what="the paired .py to hold the new cell after saving")
            page.screenshot(path=str(shot), full_page=False)
        except Exception:
            page.screenshot(path=str(shot))
            raise
        finally:
            browser.close()
    saved = json.loads((root / "notebooks" / f"{NOTEBOOK}.ipynb").read_text())
    code = [c for c in saved["cells"] if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), f"cells not run: {[c['source'][:1] for c in code if not c['execution_count']]}"
    errors = [o for c in code for o in c["outputs"] if o["output_type"] == "error"]
    assert not errors, f"errors: {[(e['ename'], e['evalue']) for e in errors]} (screenshot {shot})"
    # JupyterLab draws only the cells in view: the page recorded each progress bar as it rendered
    assert seen, f"no progress widget rendered (screenshot {shot})"
    assert any(text.startswith("classifying") for text in seen), seen
    views = [o for c in code for o in c["outputs"]
             if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert views, "no progress widget was saved"
    solutions = [c for c in code if SOLUTION_TAG in c["metadata"].get("tags", [])]
    assert solutions and all(c["metadata"].get("jupyter", {}).get("source_hidden") for c in solutions)
    assert folded == len(solutions), f"{folded} folded cells shown, {len(solutions)} solutions"
    assert any(NOTE in "".join(c["source"]) for c in code)
    assert "is set by code cell" in hint and f"of {NOTEBOOK}.ipynb" in hint, hint


def _wait_for(check, *, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)
