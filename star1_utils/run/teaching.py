"""Teaching: the exercises at the end of notebooks 01-09, their solutions, and the student edition.

An exercise is a markdown cell whose first line is ``### Exercise NN.k: title``; a title ending in
``(discussion)`` marks an open question answered in class, with no solution cell. Every other
exercise is followed (before the next exercise) by one or more code cells tagged ``solution``,
which compute and assert the answer from what the notebook produced, so CI runs them in the demo
profile. The hint is a line of the exercise text starting with ``*Hint:*``: one source, shown in
the notebook and copied into the student edition's empty cell.

The student edition (``make student``, ``python -m star1_utils student DIR``) replaces each
solution cell with an empty code cell holding the hint as a comment, and copies what the
notebooks need to run (the package, the profiles, the install files) beside them.
"""

from __future__ import annotations

import copy
import re
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from star1_utils import project_root
from star1_utils.run.hygiene import SOLUTION_TAG

DISCUSSION = "(discussion)"
HEADING = re.compile(r"^### Exercise (\d\d)\.(\d+): (.+)$")
HINT = re.compile(r"^\*Hint:\*\s*(.+)$")
#: What a hand-out needs beside the notebooks: the package they import, the profiles they load,
#: the install files (``make setup`` or ``pip install -e .``), the glossary, the paper's figures.
SUPPORT = ("star1_utils", "profiles", "docs", "figures", "pyproject.toml", "environment.yml",
           "Makefile", "README.md", "CONTRIBUTING.md")
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")


@dataclass
class Exercise:
    """One exercise of a notebook: its number, title, hint and the cells of its solution."""

    notebook: str
    number: str  # "01.2"
    title: str
    hint: str
    discussion: bool
    cell: int  # index of the exercise's markdown cell
    solutions: list[int] = field(default_factory=list)  # indices of its solution cells


def is_solution(cell) -> bool:
    """Whether a notebook cell is tagged ``solution``."""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", [])


def _hint(source: str) -> str:
    """The ``*Hint:*`` paragraph of an exercise's markdown (it may run over several lines)."""
    lines, out = source.splitlines(), []
    for i, line in enumerate(lines):
        m = HINT.match(line.strip())
        if m:
            out = [m.group(1)] + [x.strip() for x in _paragraph(lines[i + 1:])]
            break
    return " ".join(out)


def _paragraph(lines: list[str]) -> list[str]:
    """The lines up to the next blank line."""
    out = []
    for line in lines:
        if not line.strip():
            break
        out.append(line)
    return out


def exercises(nb, name: str = "") -> list[Exercise]:
    """The exercises of a notebook (an nbformat notebook), each with its solution cells."""
    found: list[Exercise] = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            first = cell.source.splitlines()[0] if cell.source else ""
            m = HEADING.match(first.strip())
            if m:
                title = m.group(3).strip()
                found.append(Exercise(name, f"{m.group(1)}.{m.group(2)}", title, _hint(cell.source),
                                      title.endswith(DISCUSSION), i))
        elif is_solution(cell) and found:
            found[-1].solutions.append(i)
    return found


def problems(nb, name: str = "") -> list[str]:
    """What is wrong with a notebook's exercises (empty list = every exercise is answerable)."""
    out, found = [], exercises(nb, name)
    first = found[0].cell if found else len(nb.cells)
    out += [f"{name}: cell {i} is tagged solution before any exercise"
            for i, c in enumerate(nb.cells[:first]) if is_solution(c)]
    for ex in found:
        if ex.discussion and ex.solutions:
            out.append(f"{name}: exercise {ex.number} is a discussion but has a solution cell")
        if not ex.discussion and not ex.solutions:
            out.append(f"{name}: exercise {ex.number} has no cell tagged solution")
        if not ex.discussion and not ex.hint:
            out.append(f"{name}: exercise {ex.number} has no *Hint:* line")
        cells = [nb.cells[i] for i in ex.solutions]
        out += [f"{name}: solution cell {i} of {ex.number} is not a code cell"
                for i, c in zip(ex.solutions, cells) if c.cell_type != "code"]
        if cells and not any("assert" in c.source for c in cells):
            out.append(f"{name}: the solution of {ex.number} asserts nothing")
    return out


def student_cell(ex: Exercise):
    """The empty code cell that takes a solution's place: the exercise and its hint as comments."""
    lines = [f"# Exercise {ex.number}: your code here."]
    lines += textwrap.wrap(f"Hint: {ex.hint}", 96, initial_indent="# ", subsequent_indent="# ")
    return nbformat.v4.new_code_cell("\n".join(lines))


def student_notebook(nb, name: str = ""):
    """A copy of ``nb`` with every solution cell replaced: one empty cell per exercise."""
    nb = copy.deepcopy(nb)
    by_first = {ex.solutions[0]: ex for ex in exercises(nb, name) if ex.solutions}
    cells = []
    for i, cell in enumerate(nb.cells):
        if i in by_first:
            new = student_cell(by_first[i])
            new["id"] = cell.get("id") or f"{name[:2]}-student-{i}"
            cells.append(new)
        elif not is_solution(cell):
            cells.append(cell)
    nb.cells = cells
    return nb


def build_student_edition(out_dir: str | Path, root: str | Path | None = None) -> list[Path]:
    """Write the student edition into ``out_dir``: the notebooks without solutions (``.ipynb``
    only: the ``.py`` sources hold the solutions) and what they need to run. Returns the
    notebooks written. ``out_dir`` is replaced when it holds an earlier edition."""

    root = Path(root) if root else project_root()
    out = Path(out_dir).resolve()
    if out == root.resolve() or root.resolve().is_relative_to(out):
        raise ValueError(f"refusing to write the student edition over the project itself: {out}")
    if out.exists():
        if not (out / STAMP).is_file():
            raise FileExistsError(f"{out} exists and is not a student edition; choose another folder")
        shutil.rmtree(out)
    (out / "notebooks").mkdir(parents=True)
    for name in SUPPORT:
        src = root / name
        if src.is_dir():
            shutil.copytree(src, out / name, ignore=IGNORED)
        elif src.is_file():
            shutil.copy2(src, out / name)
    written = []
    for path in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        nb = student_notebook(nbformat.read(str(path), as_version=4), path.stem)
        nbformat.validate(nb)
        nbformat.write(nb, str(out / "notebooks" / path.name))
        written.append(out / "notebooks" / path.name)
    (out / STAMP).write_text(STUDENT_README, encoding="utf-8")
    return written


STAMP = "STUDENT.md"
STUDENT_README = """# STAR-1 notebooks: student edition

The notebooks in `notebooks/` end with exercises; each exercise has an empty code cell with a
hint where the solution goes. Everything the notebooks need is in this folder.

1. Install (Python 3.11, Linux or macOS, about 2 GB): `make setup` (creates `.venv` with the
   pinned CPU stack), or in an environment of your own `pip install "torch==2.13.0" -e ".[dev]"`.
2. Offline? Your teacher gives you the data mirror folder: `export STAR1_DATA_MIRROR=/path/to/it`.
   With a network the policy texts are downloaded once and verified.
3. `make lab` opens JupyterLab; run the notebooks in order, 00 first, in the `demo` profile
   (minutes on a laptop). `docs/GLOSSARY.md` explains the paper's words.
"""
