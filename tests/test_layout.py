"""The shape a newcomer relies on: the package laid out by the paper's sections, notebook cells a
reader can follow, functions short enough to keep the thread, and no words pointing outside."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "star1_utils"
SECTIONS = {"run", "llm", "dataset", "train", "evaluate", "report", "demo"}

#: Code lines in notebook cells are read in a browser beside prose: at most this wide.
MAX_CELL_LINE = 100
#: Non-blank lines of one code cell; longer cells are split into steps with prose between them.
MAX_CELL_LINES = 15
#: Lines of one function in the package (about 60 is the aim; this is the hard limit).
MAX_FUNCTION_LINES = 80


def code_cells(path: Path) -> list[tuple[int, str, list[str]]]:
    """``(first line number, header, lines)`` of each code cell of a py:percent notebook source."""
    cells, current, start, header = [], [], 0, ""
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.startswith("# %%"):
            if header and "[markdown]" not in header:
                cells.append((start, header, current))
            current, start, header = [], n, line
        elif header:
            current.append(line)
    if header and "[markdown]" not in header:
        cells.append((start, header, current))
    return cells


def test_the_package_is_laid_out_by_the_papers_sections():
    flat = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in {"__init__.py", "__main__.py"})
    assert not flat, f"modules outside a section folder: {flat}"
    folders = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    assert folders == SECTIONS, folders ^ SECTIONS
    for folder in SECTIONS:
        doc = ast.get_docstring(ast.parse((PACKAGE / folder / "__init__.py").read_text()))
        assert doc, f"star1_utils/{folder}/__init__.py says nothing about what lives there"


def test_notebook_cells_are_short_and_narrow():
    wide, long_cells = [], []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")):
        for start, header, lines in code_cells(path):
            wide += [f"{path.name}:{start + i + 1}" for i, line in enumerate(lines) if len(line) > MAX_CELL_LINE]
            # the parameters cell holds every parameter in one place (the papermill contract)
            if "parameters" not in header and len([line for line in lines if line.strip()]) > MAX_CELL_LINES:
                long_cells.append(f"{path.name}:{start}")
    assert not wide, f"{len(wide)} code lines over {MAX_CELL_LINE} characters: {wide[:10]}"
    assert not long_cells, f"code cells over {MAX_CELL_LINES} lines: {long_cells}"


def test_package_functions_keep_the_thread():
    long_functions = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name} ({n} lines)")
    assert not long_functions, long_functions


def test_no_words_pointing_outside_the_repository():
    """A student has the repository, not our working notes: cite the reference code as file:line."""
    pattern = re.compile(r"spec §|spec section|\bissue \d+\b|STACK-NOTES|DESIGN\.md|/work/|/root/|/home/\w")
    files = [*PACKAGE.rglob("*.py"), *PACKAGE.rglob("*.md"), *(ROOT / "notebooks").glob("*.py"),
             *(ROOT / "profiles").glob("*.yaml"), ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "Makefile"]
    hits = [f"{p.relative_to(ROOT)}:{n}: {m.group(0)}" for p in files
            for n, line in enumerate(p.read_text().splitlines(), 1) for m in [pattern.search(line)] if m]
    assert not hits, hits
