"""star1_utils: the thin, tested helper package behind the STAR-1 notebook suite.

Each notebook in ``notebooks/`` teaches one section of the paper and imports the logic it
needs from here, so that the code a student reads in a notebook is the code the tests check.
Modules are imported lazily by the notebooks (``from star1_utils.dataset import dedup``) so that
``import star1_utils`` stays cheap.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent


def project_root() -> Path:
    """The repository root (the folder holding ``profiles/`` and ``notebooks/``).

    The suite is installed in editable mode, so the package sits inside the checkout. A
    ``STAR1_ROOT`` environment variable wins, for unusual layouts.
    """
    import os

    env = os.environ.get("STAR1_ROOT")
    if env:
        return Path(env).resolve()
    candidate = PACKAGE_DIR.parent
    if (candidate / "profiles").is_dir():
        return candidate
    return Path.cwd().resolve()
