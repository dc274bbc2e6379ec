"""A hosted GPU notebook runtime (Colab- or Kaggle-like): the commands that install the suite there
and run the miniature on its GPU.

Notebook 00 builds these commands in every run (a test checks them) and executes them only when
its parameter ``hosted_setup`` is true. The pins come from ``pyproject.toml`` (torch) and from
``star1_utils.run.smollm.WHEEL`` (the miniature's model wheel): nothing is listed twice.

The GPU build of torch: on Linux, PyPI's ``torch`` wheel is the CUDA build, so the pinned torch is
installed from the default index. The CPU-only build (what ``make setup`` gets on a machine
configured for it) comes only from the PyTorch CPU index, which these commands never name.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from star1_utils.run.environment import pins
from star1_utils.run.smollm import WHEEL
from star1_utils import project_root

#: The only index that serves CPU-only torch wheels: a GPU install must not use it.
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def torch_pin() -> str:
    """``torch==<version>`` as pinned in pyproject.toml."""

    return f"torch=={pins()['torch']}"


def install_commands(repo: str, dest: str = "star1-notebooks", *, gpu: bool = True,
                     python: str = sys.executable) -> list[list[str]]:
    """The commands, in order, that put the suite into a fresh hosted runtime: clone ``repo`` into
    ``dest`` (skipped when ``repo`` is empty: the runtime already holds a checkout at ``dest``),
    install the pinned torch (the CUDA wheel when ``gpu``), then the suite with torch pinned in
    the same command (as ``make setup`` does, so nothing upgrades it), then the miniature's model
    wheel without its dependencies."""

    pip = [python, "-m", "pip", "install", "--quiet"]
    commands = [["git", "clone", "--depth", "1", repo, dest]] if repo else []
    commands.append(pip + [torch_pin()] + ([] if gpu else ["--index-url", CPU_INDEX]))
    commands.append(pip + [torch_pin(), "-e", f"{dest}[dev]"])
    commands.append(pip + ["--no-deps", WHEEL])
    return commands


def miniature_command(python: str = sys.executable) -> list[str]:
    """The miniature, run from the checkout: every notebook in the ``mini`` profile into
    ``runs/mini`` (training uses the GPU when torch sees one)."""
    return [python, "-m", "star1_utils", "run", "--profile", "mini", "--run-dir", "runs/mini"]


def python_mismatch(version: tuple[int, int] | None = None) -> str:
    """One line when this Python is not one the suite supports (pyproject's ``requires-python``:
    a hosted runtime may offer a newer one, and pip then refuses to install the suite)."""
    import tomllib

    path = project_root() / "pyproject.toml"
    if not path.is_file():
        return ""
    spec = tomllib.loads(path.read_text(encoding="utf-8"))["project"].get("requires-python", "")
    have = "%d.%d" % (version or sys.version_info[:2])
    try:
        from packaging.specifiers import SpecifierSet
    except ImportError:  # pragma: no cover - packaging comes with pip
        return ""
    if SpecifierSet(spec).contains(f"{have}.0"):
        return ""
    return (f"WARNING: Python {have} here, the suite needs {spec}: choose a runtime with that "
            "Python (or create one with conda) before installing")


def setup(repo: str, dest: str = "star1-notebooks", *, execute: bool = False,
          echo=print) -> list[list[str]]:
    """Print the install commands and the miniature's command; run them when ``execute``
    (notebook 00's ``hosted_setup``). Returns every command, install first."""
    import shlex

    if not repo and execute and not Path(dest, "pyproject.toml").is_file():
        raise FileNotFoundError(f"no checkout of the suite at {dest}: set hosted_repo to its git URL")
    wrong = python_mismatch()
    if wrong:
        echo(wrong)
    shown = repo or ("" if execute else "<hosted_repo>")  # executing with no repo: already cloned
    commands = install_commands(shown, dest) + [miniature_command()]
    for i, cmd in enumerate(commands):
        where = f"(in {dest}) " if i == len(commands) - 1 else ""
        echo(f"{'running' if execute else 'would run'}: {where}{shlex.join(cmd)}")
        if execute:
            subprocess.run(cmd, check=True, cwd=dest if where else None)
    return commands
