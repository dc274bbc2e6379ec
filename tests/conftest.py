"""Shared test setup: offline, single-threaded, the mirror at ../shared, one demo run per session."""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

# Offline and single-threaded, whatever the caller's shell says (see README, "Tests").
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("MPLBACKEND", "Agg")
if SHARED.is_dir():
    os.environ.setdefault("STAR1_DATA_MIRROR", str(SHARED))

import star1_utils.demo  # noqa: E402,F401 - registers the stand-in app, the endpoint of base_url inprocess


@pytest.fixture(scope="session")
def mirror() -> Path:
    path = Path(os.environ.get("STAR1_DATA_MIRROR", SHARED))
    if not (path / "star1" / "reference_prompts.json").is_file():
        pytest.skip("the data mirror (../shared) is not available")
    return path


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """Every notebook present, executed once in the demo profile through the runner.

    Tests of individual notebooks read the artifacts from this run folder. A failing notebook
    fails every test that uses the fixture, with the runner's message naming the cell.
    """
    from star1_utils.run.runner import run

    run_dir = tmp_path_factory.mktemp("demo_run")
    lines: list[str] = []
    results = run(profile="demo", run_dir=str(run_dir), echo=lines.append)
    failed = [r for r in results if r.status == "FAILED"]
    if failed:
        pytest.fail("\n".join(lines), pytrace=False)
    return run_dir


@pytest.fixture
def free_port() -> int:
    """A TCP port nothing listens on, for a server a test starts."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def project_copy(tmp_path):
    """Makes ``tmp_path/project``: the named files and folders of the project root, and the named
    notebooks (``.ipynb`` and ``.py``), for a server started over a copy, never the checkout."""

    def make(files: tuple[str, ...], notebooks: tuple[str, ...], folders: tuple[str, ...] = ()) -> Path:
        root = tmp_path / "project"
        (root / "notebooks").mkdir(parents=True)
        for name in files:
            shutil.copy(ROOT / name, root / name)
        for name in folders:
            shutil.copytree(ROOT / name, root / name)
        for stem in notebooks:
            for suffix in (".ipynb", ".py"):
                shutil.copy(ROOT / "notebooks" / f"{stem}{suffix}", root / "notebooks" / f"{stem}{suffix}")
        return root

    return make
