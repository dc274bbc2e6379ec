"""Tiny helper for writing notebooks from Python: ``md("...")``, ``code("...")``, ``save(path, cells)``.

Used by developers to author notebooks as plain text; the committed ``.ipynb`` is the source of
truth afterwards (edit it in JupyterLab, then ``make clean-notebooks``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from star1_utils.hygiene import KERNELSPEC, LANGUAGE_INFO, clean_notebook  # noqa: E402


def md(text: str):
    return new_markdown_cell(text.strip("\n"))


def code(text: str, parameters: bool = False):
    cell = new_code_cell(text.strip("\n"))
    if parameters:
        cell.metadata["tags"] = ["parameters"]
    return cell


def save(path: str | Path, cells: list) -> None:
    path = Path(path)
    if not path.is_absolute():
        path = Path(__file__).resolve().parents[1] / path
    for i, cell in enumerate(cells):
        cell["id"] = f"{path.stem[:2]}-{i:03d}"  # stable ids: regenerating a notebook changes only what changed
    nb = new_notebook(cells=cells, metadata={"kernelspec": dict(KERNELSPEC), "language_info": dict(LANGUAGE_INFO)})
    nbformat.write(nb, str(path))
    clean_notebook(path)
