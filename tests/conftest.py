"""Shared test setup: offline, single-threaded, the mirror at ../shared, one demo run per session."""

from __future__ import annotations

import os
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
