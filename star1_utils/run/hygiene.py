"""Notebook hygiene: committed notebooks carry no outputs and clean metadata.

``check_notebook`` lists what is wrong with one notebook (a test runs it on every notebook);
``clean_notebook`` fixes what can be fixed (``make clean-notebooks``).
"""

from __future__ import annotations

import json
from pathlib import Path

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
ALLOWED_NB_METADATA = {"kernelspec", "language_info"}
ALLOWED_CELL_METADATA = {"tags", "jupyter"}
#: The tag of an exercise's solution cells (run/teaching.py reads the exercises).
SOLUTION_TAG = "solution"
#: How JupyterLab shows a solution cell of the teacher's edition: folded, code and output, under
#: its "predict first" exercise until the learner clicks it open (the student edition has none).
SOLUTION_FOLDED = {"source_hidden": True, "outputs_hidden": True}


def committed_cell_metadata(metadata: dict | None) -> dict:
    """A cell's metadata as committed: its tags, and the folding of a solution cell (whatever the
    learner's JupyterLab left open or folded)."""
    tags = (metadata or {}).get("tags")
    out = {"tags": tags} if tags else {}
    if SOLUTION_TAG in (tags or []):
        out["jupyter"] = dict(SOLUTION_FOLDED)
    return out


def check_notebook(path: str | Path) -> list[str]:
    """Problems with a committed notebook (empty list = clean)."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    problems = []
    name = Path(path).name
    ks = nb.metadata.get("kernelspec", {})
    if ks.get("name") != "python3":
        problems.append(f"{name}: kernelspec name is {ks.get('name')!r}, expected 'python3'")
    extra = set(nb.metadata) - ALLOWED_NB_METADATA
    if extra:
        problems.append(f"{name}: notebook metadata has {sorted(extra)}")
    tagged = 0
    for i, cell in enumerate(nb.cells):
        if "parameters" in cell.metadata.get("tags", []):
            tagged += 1
        if cell.cell_type == "code":
            if cell.get("outputs"):
                problems.append(f"{name}: cell {i} has outputs")
            if cell.get("execution_count") is not None:
                problems.append(f"{name}: cell {i} has an execution count")
        extra = set(cell.metadata) - ALLOWED_CELL_METADATA
        if extra:
            problems.append(f"{name}: cell {i} metadata has {sorted(extra)}")
        elif cell.metadata != committed_cell_metadata(cell.metadata):
            problems.append(f"{name}: cell {i} metadata is {dict(cell.metadata)}, expected "
                            f"{committed_cell_metadata(cell.metadata)} (solutions folded, nothing else)")
    if tagged != 1:
        problems.append(f"{name}: {tagged} cells tagged 'parameters', expected exactly 1")
    return problems


def clean_notebook_text(text: str) -> str:
    """A notebook's JSON without outputs, execution counts and stray metadata: the committed form,
    written as nbformat writes it (sorted keys, indent 1, sources as lists of lines).

    Also git's clean filter for ``notebooks/*.ipynb`` (``.gitattributes``, set up by ``make setup``):
    a notebook that was only run in JupyterLab then shows no change in ``git diff``. Plain ``json``,
    not nbformat, whose import alone takes seconds, once per file git filters. Text that is not a
    notebook (a merge in progress) comes back as it was."""
    try:
        nb = json.loads(text)
    except ValueError:
        return text
    if not isinstance(nb, dict) or not isinstance(nb.get("cells"), list):
        return text
    nb["metadata"] = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for cell in nb["cells"]:
        cell["metadata"] = committed_cell_metadata(cell.get("metadata"))
        if isinstance(cell.get("source"), str):
            cell["source"] = cell["source"].splitlines(True)
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False, separators=(",", ": ")) + "\n"


def clean_notebook(path: str | Path) -> bool:
    """Strip outputs, execution counts and stray metadata in place; returns True if it changed."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    after = clean_notebook_text(before)
    if after != before:
        path.write_text(after, encoding="utf-8")
        return True
    return False


# --------------------------------------------------------------------------- text sources

#: jupytext's format of each notebook's source, the ``.py`` file beside the ``.ipynb``
#: (the repository's ``jupytext.toml`` pairs them for JupyterLab with the same format).
TEXT_FORMAT = "py:percent"


def text_source(ipynb: str | Path) -> Path:
    """The text source paired with a notebook: ``notebooks/NN_name.py`` beside ``NN_name.ipynb``."""
    return Path(ipynb).with_suffix(".py")


def _jupytext_config():
    import jupytext.config

    root = Path(__file__).resolve().parents[2] / "jupytext.toml"
    return jupytext.config.load_jupytext_configuration_file(str(root)) if root.is_file() else None


def _stable_ids(stem: str, cells: list, old_cells: list) -> None:
    """Give ``cells`` the ids of the matching cells of the previous ``.ipynb`` (same type and
    source, in order), so that regenerating changes only the cells that changed; a new cell gets
    an id from its notebook and position that no other cell has."""
    from difflib import SequenceMatcher

    key = lambda c: (c.cell_type, c.source)  # noqa: E731
    matcher = SequenceMatcher(a=[key(c) for c in old_cells], b=[key(c) for c in cells], autojunk=False)
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            cells[block.b + k]["id"] = old_cells[block.a + k].get("id")
    used = {c.get("id") for c in cells if c.get("id")}
    for i, cell in enumerate(cells):
        if not cell.get("id"):
            n = i
            while f"{stem[:2]}-{n:03d}" in used:
                n += 1000
            cell["id"] = f"{stem[:2]}-{n:03d}"
            used.add(cell["id"])


def notebook_from_source(source: str | Path, previous: str | Path | None = None):
    """The clean ``.ipynb`` (an nbformat notebook) that the text ``source`` describes.

    Metadata is the suite's fixed kernelspec; cells keep only their tags (solutions folded,
    :func:`committed_cell_metadata`); cell ids come from
    ``previous`` (the committed ``.ipynb``) where a cell is unchanged.
    """
    import jupytext
    import nbformat

    source = Path(source)
    nb = jupytext.read(str(source), fmt=TEXT_FORMAT, config=_jupytext_config())
    nb.nbformat, nb.nbformat_minor = 4, 5
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for cell in nb.cells:
        cell.metadata = committed_cell_metadata(cell.metadata)
        cell.pop("id", None)
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    old = []
    if previous is not None and Path(previous).is_file():
        old = nbformat.read(str(previous), as_version=4).cells
    _stable_ids(source.stem, nb.cells, old)
    return nb


def source_from_notebook(ipynb: str | Path) -> str:
    """The text source of a notebook (for a notebook edited as ``.ipynb`` without jupytext)."""
    import jupytext

    return jupytext.writes(jupytext.read(str(ipynb)), fmt=TEXT_FORMAT, config=_jupytext_config())


def _text(nb) -> str:
    import nbformat

    out = nbformat.writes(nb)
    return out if out.endswith("\n") else out + "\n"


def sync_notebooks(folder: str | Path, check: bool = False, from_ipynb: bool = False) -> list[str]:
    """Regenerate every ``.ipynb`` in ``folder`` from its text source (``make notebooks``).

    ``check``: write nothing, return a problem line per pair that disagrees (a test and CI run
    this). ``from_ipynb``: the other direction, rewrite each ``.py`` from its ``.ipynb`` (after
    editing a notebook in a JupyterLab without jupytext). Returns what changed or disagrees.
    """
    folder = Path(folder)
    out = []
    for ipynb in sorted(folder.glob("[0-9][0-9]_*.ipynb")):
        src = text_source(ipynb)
        if from_ipynb:
            text = source_from_notebook(ipynb)
            if not src.is_file() or src.read_text(encoding="utf-8") != text:
                src.write_text(text, encoding="utf-8")
                out.append(f"wrote {src.name} from {ipynb.name}")
            continue
        if not src.is_file():
            out.append(f"{ipynb.name}: no text source {src.name} (run `make notebooks FROM=ipynb` once)")
            continue
        want = _text(notebook_from_source(src, ipynb))
        if ipynb.read_text(encoding="utf-8") != want:
            if check:
                out.append(f"{ipynb.name} disagrees with {src.name}: run `make notebooks` (or, if you edited "
                           f"the .ipynb, `make notebooks FROM=ipynb`)")
            else:
                ipynb.write_text(want, encoding="utf-8")
                out.append(f"wrote {ipynb.name} from {src.name}")
    for src in sorted(folder.glob("[0-9][0-9]_*.py")):
        if not src.with_suffix(".ipynb").is_file():
            if check:
                out.append(f"{src.name} has no {src.with_suffix('.ipynb').name}: run `make notebooks`")
            elif not from_ipynb:
                src.with_suffix(".ipynb").write_text(_text(notebook_from_source(src)), encoding="utf-8")
                out.append(f"wrote {src.with_suffix('.ipynb').name} from {src.name}")
    return out
