"""Notebook hygiene: committed notebooks carry no outputs and clean metadata.

``check_notebook`` lists what is wrong with one notebook (a test runs it on every notebook);
``clean_notebook`` fixes what can be fixed (``make clean-notebooks``).
"""

from __future__ import annotations

from pathlib import Path

import nbformat

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}
LANGUAGE_INFO = {"name": "python"}
ALLOWED_NB_METADATA = {"kernelspec", "language_info"}
ALLOWED_CELL_METADATA = {"tags"}


def check_notebook(path: str | Path) -> list[str]:
    """Problems with a committed notebook (empty list = clean)."""
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
    if tagged != 1:
        problems.append(f"{name}: {tagged} cells tagged 'parameters', expected exactly 1")
    return problems


def clean_notebook(path: str | Path) -> bool:
    """Strip outputs, execution counts and stray metadata in place; returns True if it changed."""
    path = Path(path)
    before = path.read_text(encoding="utf-8")
    nb = nbformat.reads(before, as_version=4)
    nb.metadata = {"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)}
    for cell in nb.cells:
        cell.metadata = {k: v for k, v in cell.metadata.items() if k in ALLOWED_CELL_METADATA}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    after = nbformat.writes(nb) + ("" if nbformat.writes(nb).endswith("\n") else "\n")
    if after != before:
        path.write_text(after, encoding="utf-8")
        return True
    return False
