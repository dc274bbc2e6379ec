"""Out-of-order cells: a ``NameError`` that says which cell of the notebook sets the name.

A learner who opens a notebook and runs a cell in the middle gets ``NameError: name 'folder' is
not defined``, which does not say that an earlier cell sets ``folder``. This IPython extension
adds that: the cell (its number among the code cells, the section it sits under, its first line)
and what to run. The kernel the suite installs loads it at start (``make setup`` writes the
kernel's ``--ext``), so it works before any cell of the notebook ran; the notebook is the one the
Jupyter server names for the kernel (``JPY_SESSION_NAME``), read from disk as last saved.

Only standard-library imports here: the kernel imports this module when it starts.
"""

from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: The IPython extension's name, as the kernel spec's ``--ext`` gives it.
EXTENSION = "star1_utils.run.cell_order"
_HEADING = re.compile(r"^#{1,4}\s+(.+)$", re.M)


@dataclass(frozen=True)
class Definition:
    """Where a notebook first sets a name: the code cell's number (1-based, code cells only), the
    section heading above it, and the cell's first line."""

    cell: int
    section: str
    first_line: str


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a cell binds at its top level (assignments, imports, defs, loops, with ... as)."""
    names: set[str] = set()
    stack = list(ast.iter_child_nodes(tree))
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue  # names inside a function or class are not the notebook's
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names if a.name != "*")
        stack.extend(ast.iter_child_nodes(node))
    return names


def definitions(notebook: dict) -> dict[str, Definition]:
    """For each name a notebook's code cells set, the first cell that sets it."""
    found: dict[str, Definition] = {}
    section, number = "", 0
    for cell in notebook.get("cells", []):
        source = "".join(cell.get("source", ""))
        if cell.get("cell_type") == "markdown":
            headings = _HEADING.findall(source)
            section = headings[-1].strip() if headings else section
            continue
        if cell.get("cell_type") != "code":
            continue
        number += 1
        try:
            tree = ast.parse(_as_python(source))
        except SyntaxError:
            continue
        first = next((line for line in source.splitlines() if line.strip() and not line.lstrip().startswith("#")), "")
        for name in _bound_names(tree):
            found.setdefault(name, Definition(number, section, first.strip()))
    return found


def _as_python(source: str) -> str:
    """A cell as Python: IPython's own syntax (``%magic``, ``!shell``, ``x = !ls``) turned into the
    calls IPython runs, or, without IPython, those lines left out. A cell magic's line (``%%time``)
    is dropped: the cells of this suite that carry one hold Python below it."""
    if source.lstrip().startswith("%%"):
        source = source.lstrip().partition("\n")[2]
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - the kernel always has IPython
        return "\n".join(line for line in source.splitlines() if not line.lstrip().startswith(("%", "!")))
    return TransformerManager().transform_cell(source)


def hint(name: str, notebook_path: str | Path, running_cell_id: str = "") -> str | None:
    """What to run first when ``name`` is not defined in the notebook at ``notebook_path``, or
    None when no earlier cell of that notebook sets it (then the error is not about cell order).

    ``running_cell_id`` is the failing cell's id (JupyterLab sends it with each request): a name
    that only this cell or a later one sets gets no "run the cells above" advice."""
    try:
        notebook = json.loads(Path(notebook_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    where = definitions(notebook).get(name)
    if where is None:
        return None
    if running_cell_id:
        code_ids = [c.get("id") for c in notebook.get("cells", []) if c.get("cell_type") == "code"]
        if running_cell_id in code_ids and code_ids.index(running_cell_id) + 1 <= where.cell:
            return None  # set by this cell itself or further down: not a question of order
    section = f', under "{where.section}"' if where.section else ""
    return (f"'{name}' is set by code cell {where.cell} of {Path(notebook_path).name}{section}, which starts "
            f"`{where.first_line[:80]}`. Run the cells above this one first (Run > Run All Above Selected "
            "Cell), or the whole notebook (Run > Run All Cells).")


def _session_notebook() -> str | None:
    """The notebook the Jupyter server started this kernel for (``JPY_SESSION_NAME``: absolute from
    JupyterLab; relative to the server's root from other clients, found from the kernel's folder)."""
    path = os.environ.get("JPY_SESSION_NAME")
    if not path or not path.endswith(".ipynb"):
        return None
    if Path(path).is_absolute():
        return path
    here = Path.cwd() / Path(path).name  # the kernel runs in the notebook's folder
    return str(here) if here.is_file() else None


def _in_a_cell(tb) -> bool:
    """Whether the error was raised by the cell's own code (its innermost frame is a cell), not by a
    library the cell called: a NameError inside a library is a bug there, not a cell run too early."""
    while tb.tb_next is not None:
        tb = tb.tb_next
    filename = tb.tb_frame.f_code.co_filename
    return "ipykernel_" in filename or filename.startswith("<ipython-input")


def _explain(shell, etype, value, tb, tb_offset=None) -> None:
    """IPython's custom exception handler: the usual traceback, with the hint added to the message
    (IPython shows nothing itself when a custom handler runs: the handler shows the traceback)."""
    notebook = _session_notebook()
    name = getattr(value, "name", None)
    request = shell.get_parent() if hasattr(shell, "get_parent") else {}
    running = ((request or {}).get("metadata") or {}).get("cellId", "")  # JupyterLab sends the cell's id
    text = hint(name, notebook, running) if notebook and name and tb is not None and _in_a_cell(tb) else None
    if text and not getattr(value, "_star1_hint", False):
        value.args = (f"{value.args[0] if value.args else ''}\n{text}",) + tuple(value.args[1:])
        value._star1_hint = True
    shell.showtraceback((etype, value, tb), tb_offset=tb_offset)


def load_ipython_extension(shell) -> None:
    """Called by IPython (``%load_ext`` or the kernel's ``--ext``): explain NameErrors."""
    shell.set_custom_exc((NameError,), _explain)
