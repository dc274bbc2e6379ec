"""What every notebook does in its second cell: resolve the profile and open its stage.

The first cell (tagged ``parameters``) holds only literals; the second calls :func:`start` with
them. Keeping this in one place is what lets papermill, the runner and JupyterLab users all get
the same behaviour.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from star1_utils import project_root
import star1_utils.demo  # noqa: F401 - registers the stand-in app, the endpoint of base_url inprocess
from star1_utils.llm import engine
from star1_utils.run import layout, progress
from star1_utils.run.artifacts import LOCK_TOKEN_ENV, Stage, lock_run_folder
from star1_utils.run.config import Profile, load_profile, profile_sha256
from star1_utils.run.stages import StageSpec, spec_for


@dataclass
class NotebookContext:
    """The resolved configuration, the run folder and this notebook's stage."""

    cfg: Profile
    run_dir: Path
    stage: Stage
    spec: StageSpec

    @property
    def cache_path(self) -> Path:
        """The run's LLM answer cache: every stage of a run shares it, so a re-run asks nothing twice."""
        return self.run_dir / "cache" / "llm.sqlite"

    def take(self, items: list) -> list:
        """The items a stage processes: the first ``limit`` (profile or notebook parameter), or all
        of them when ``limit`` is 0 (:meth:`star1_utils.run.config.Profile.take`)."""
        return self.cfg.take(items)

    def students(self, section: Any) -> list[dict]:
        """The models an evaluation notebook generates with: the trained student, then the untrained
        base model when ``section.compare_base`` (:func:`star1_utils.run.layout.students`)."""
        return layout.students(self.cfg, self.run_dir, section)

    @property
    def tiny_student(self) -> bool:
        """The student is the demo's random tiny model: its scores are near zero by construction and
        say nothing about STAR-1 (they show the pipeline)."""
        return self.cfg.training.base_model == layout.TINY_MODEL

    def is_stand_in(self, role: str) -> bool:
        """Whether ``role`` is answered by the demo's stand-in app (deterministic rules, not a model)."""
        return engine.is_stand_in(self.cfg.role(role))

    def stage_dir(self, key: str) -> Path:
        """Folder of another stage of the same run (e.g. ``ctx.stage_dir("01")``)."""
        return layout.stage_dir(self.run_dir, key)

    def figures_dir(self) -> Path:
        d = self.run_dir / "figures"
        d.mkdir(parents=True, exist_ok=True)
        return d


RUNNER_PID_ENV = "STAR1_RUNNER_PID"


def end_with_runner() -> bool:
    """In a kernel the runner started, ask Linux to kill this process the moment the runner dies
    (``PR_SET_PDEATHSIG``), so a killed runner leaves no kernel sending requests. Returns whether
    it was set (not under the runner, or not on Linux: nothing to do)."""
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux") or os.environ.get(RUNNER_PID_ENV) != str(os.getppid()):
        return False
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL) == 0  # PR_SET_PDEATHSIG
    except OSError:
        return False


def resolve_run_dir(profile: str, run_dir: str = "") -> Path:
    """``""`` -> ``runs/<profile>`` under the project root; relative paths are from the root."""
    if not run_dir:
        name = Path(profile).stem
        return project_root() / "runs" / name
    p = Path(run_dir).expanduser()
    return p if p.is_absolute() else project_root() / p


def notebook_params(stage_key: str, profile: str, limit: int, overrides: dict | None, **role_params: Any) -> dict:
    """The parameters a stage's manifest records (secrets never appear: roles name env vars)."""
    out = {"profile": str(profile), "limit": limit, "overrides": dict(overrides or {})}
    out.update({k: v for k, v in role_params.items() if v not in ("", 0, None)})
    return out


def start(
    stage_key: str,
    *,
    profile: str = "demo",
    run_dir: str = "",
    limit: int = 0,
    overrides: dict | None = None,
    quiet: bool = False,
    **role_params: Any,
) -> NotebookContext:
    """Load the profile with the notebook's overrides and open the stage folder.

    Prints one short header so that an executed notebook says which profile, run folder and
    hardware it ran with.
    """
    spec = spec_for(stage_key)
    cfg = load_profile(profile, overrides=overrides, limit=limit, **role_params)
    rd = resolve_run_dir(profile, run_dir)
    # one writer per run folder; under the runner, its kernels share the runner's lock
    if os.environ.get(LOCK_TOKEN_ENV):
        end_with_runner()
    lock_run_folder(rd, f"notebook {spec.notebook}")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # Without ipywidgets (the `lab` extra), tqdm.auto warns in every notebook that imports
    # transformers; the suite's own steps write plain progress lines then (run/progress.py).
    warnings.filterwarnings("ignore", message="IProgress not found")
    if not cfg.progress_bars:
        # the profile turns progress off (STAR1_PROGRESS=lines or widget shows it anyway)
        os.environ.setdefault(progress.PROGRESS_ENV, "off")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TQDM_DISABLE", "1")
    # pandas cuts table cells at 50 characters by default: too short for instructions and policies
    import pandas as pd

    pd.set_option("display.max_colwidth", 200)
    if not quiet:
        print(f"profile   : {cfg.name} ({cfg.description})")
        if cfg.hardware:
            print(f"expected  : {cfg.hardware}")
        print(f"run folder: {rd}")
        print(f"stage     : {spec.stage_dir} -> {spec.produces}")
        if cfg.limit:
            print(f"limit     : at most {cfg.limit} items per stage")
    # created last: from here on the stage records each setting it reads (its manifest's config_reads)
    stage = Stage(
        rd,
        spec.stage_dir,
        notebook=spec.notebook,
        config_sha256=cfg.section_sha256(*spec.sections),
        params={**notebook_params(stage_key, profile, limit, overrides, **role_params),
                "profile_sha256": profile_sha256(profile)},
        profile=cfg,
    )
    return NotebookContext(cfg=cfg, run_dir=rd, stage=stage, spec=spec)
