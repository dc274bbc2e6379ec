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


def test_contributing_map_matches_the_tree():
    """CONTRIBUTING's table names every module of each section folder, and only modules that exist."""
    text = (ROOT / "CONTRIBUTING.md").read_text()
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(\w+)/` \|[^|]*\| (.*) \|$", text, re.M)}
    assert set(rows) == SECTIONS, set(rows) ^ SECTIONS
    wrong = []
    for folder, cell in rows.items():
        while re.search(r"\([^()]*\)", cell):  # what a module does, in parentheses, is not a module
            cell = re.sub(r"\([^()]*\)", "", cell)
        named = set(re.findall(r"`([\w/]+)`", cell))
        here = {p.stem for p in (PACKAGE / folder).glob("*.py") if p.stem != "__init__"}
        here |= {p.name + "/" for p in (PACKAGE / folder).iterdir() if (p / "__init__.py").is_file()}
        wrong += [f"{folder}/{m}: missing from the map" for m in sorted(here - named)]
        wrong += [f"{folder}/{m}: in the map, not in the tree" for m in sorted(named - here)]
    assert not wrong, wrong


# --------------------------------------------------------------------------- the import structure

#: The package's floors, lowest first: a module imports only from its own floor or lower ones.
#: The ground floor is the run's configuration and layout; the top floor runs everything.
GROUND = {"star1_utils", *(f"star1_utils.run.{m}" for m in
                           ("config", "stages", "resources", "environment", "artifacts", "smollm", "layout",
                            "progress"))}
FLOORS = {"llm": 1, "dataset": 2, "report": 3, "evaluate": 4, "train": 5, "demo": 6, "run": 7, "__main__": 7}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _floor(module: str) -> int:
    return 0 if module in GROUND else FLOORS[module.split(".")[1]]


def package_imports() -> tuple[dict[str, set[str]], list[str]]:
    """Each module's imports of the package's own modules, and the ones made inside a function."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    edges: dict[str, set[str]] = {m: set() for m in modules}
    hidden = []
    for name, path in modules.items():
        tree = ast.parse(path.read_text())
        top = {id(n) for n in tree.body}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("star1_utils"):
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names if a.name.startswith("star1_utils")]
            else:
                continue
            edges[name] |= {t for t in targets if t != name and t != "star1_utils"}
            if id(node) not in top and targets:
                hidden.append(f"{name}:{node.lineno}")
    return edges, hidden


def _cycle(edges: dict[str, set[str]]) -> list[str]:
    """One import cycle, or [] (depth-first search)."""
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(m: str) -> list[str]:
        state[m] = 1
        path.append(m)
        for t in sorted(edges.get(m, ())):
            if state.get(t) == 1:
                return path[path.index(t):] + [t]
            if t not in state and (found := visit(t)):
                return found
        state[m] = 2
        path.pop()
        return []

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return []


#: The command line imports each sub-command's modules when it runs (start-up in a fraction of a
#: second instead of about 4 s; git's notebook filter runs it once per file): see its comment.
LAZY = {"star1_utils.__main__"}


def test_imports_are_at_the_top_and_point_down():
    """Every import of the package's own modules sits at the top of its module, no module imports
    one on a higher floor, and there is no cycle: the structure a reader draws is the one that runs."""
    edges, hidden = package_imports()
    hidden = [h for h in hidden if h.split(":")[0] not in LAZY]
    assert not hidden, f"imports inside functions: {hidden}"
    up = [f"{m} -> {t}" for m, ts in edges.items() for t in ts if _floor(t) > _floor(m)]
    assert not up, f"imports from a higher floor: {up}"
    assert not _cycle(edges), _cycle(edges)


def test_the_import_checks_can_fail():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
    assert _floor("star1_utils.llm.engine") < _floor("star1_utils.demo.app")
