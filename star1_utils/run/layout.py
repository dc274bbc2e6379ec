"""The run's layout and its models: the one home of every path a stage reads or writes.

Where each stage writes (``stage_dir``), where training puts the student (the training contract:
``<run_dir>/05_training/<run_name>/model/``), which base model a profile names and where it lies
on disk, and which models an evaluation notebook generates with (``students``). Training,
evaluation, figures and the notebooks import these; none of them re-derives a path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from star1_utils import project_root
from star1_utils.run import smollm
from star1_utils.run.stages import spec_for

#: ``training.base_model`` of the demo: a random tiny Qwen2-style model built from the run's own
#: rows (``sft.build_tiny_student``), a stand-in for a language model.
TINY_MODEL = "tiny-qwen2"
#: The released STAR-1 file name of notebook 04's selection (``data_selection/scorer.py`` writes it).
SELECTION_FILE = "star1.jsonl"


def stage_dir(run_dir: str | Path, key: str) -> Path:
    """Folder of a stage of a run (``stage_dir(run, "04")`` -> ``<run>/04_selection``)."""
    return Path(run_dir) / spec_for(key).stage_dir


def stage_file(key: str, name: str) -> str:
    """A stage's file relative to the run folder (``stage_file("06", "metrics.json")`` ->
    ``06_safety/metrics.json``)."""
    return f"{spec_for(key).stage_dir}/{name}"


#: The files one stage writes and another stage (or the figures) reads, relative to the run folder.
CLASSIFIED = stage_file("02", "classified.jsonl")
SELECTED = stage_file("04", SELECTION_FILE)
SAFETY_METRICS, SAFETY_METRICS_BASE = stage_file("06", "metrics.json"), stage_file("06", "metrics_base.json")
REASONING_METRICS = stage_file("07", "metrics.json")
REASONING_METRICS_BASE = stage_file("07", "metrics_base.json")
BENIGN_MIX_CURVE = stage_file("08", "benign_mix_curve.csv")


def selection_path(run_dir: str | Path) -> Path:
    """Notebook 04's output, the STAR-1 selection notebook 05 trains on by default."""
    return Path(run_dir) / SELECTED


def training_run_folder(run_dir: str | Path, cfg: Any) -> Path:
    """``<run_dir>/05_training/<training.run_name>/``: everything of one training run."""
    return stage_dir(run_dir, "05") / cfg.training.run_name


def final_model_dir(run_dir: str | Path, cfg: Any) -> Path:
    """The training contract: ``<run_dir>/05_training/<run_name>/model/`` (model, tokenizer, template)."""
    return training_run_folder(run_dir, cfg) / "model"


def training_data_path(run_dir: str | Path, cfg: Any) -> Path:
    """``training.data_path`` when set (relative paths are from the project root), else 04's output."""
    dp = cfg.training.data_path
    if dp:
        p = Path(dp).expanduser()
        return p if p.is_absolute() else project_root() / p
    return selection_path(run_dir)


def base_model_path(tcfg: Any) -> str:
    """``training.base_model`` as given (a Hub id), or as an absolute folder when it names one
    relative to the project root (notebooks run in ``notebooks/``). ``smollm2-135m-instruct`` is the
    miniature's real model, converted once from its offline GGUF (:mod:`star1_utils.run.smollm`)."""
    if tcfg.base_model == smollm.NAME:
        return str(smollm.prepare())
    p = Path(tcfg.base_model).expanduser()
    if not p.is_absolute() and (project_root() / p).is_dir():
        return str(project_root() / p)
    return str(p) if p.is_dir() else tcfg.base_model


def students(cfg: Any, run_dir: str | Path, section: Any) -> list[dict]:
    """The models an evaluation notebook (06, 07, 08) generates with, in order: the trained student,
    then, when ``section.compare_base``, the untrained base model on the same prompts.

    Each is ``{"key": "trained" | "base", "name": shown name, "ref": what the backend loads or the
    served model id}``. ``section`` is the notebook's config section (``backend``, ``student_model``,
    ``compare_base``). The ``openai`` backend evaluates the served model only.
    """
    backend = section.backend
    if backend == "openai":
        trained = {"key": "trained", "name": cfg.roles.student.model, "ref": cfg.roles.student.model}
    else:
        own = getattr(section, "student_model", "")
        ref = own or str(final_model_dir(run_dir, cfg))
        if not own and not Path(ref).is_dir():
            raise FileNotFoundError(f"no trained student at {ref}: run notebook 05 first, or set "
                                    "student_model in this section to a model folder or Hub id")
        t = cfg.training
        how = f"trained on {t.release_rows} released STAR-1 rows" if t.release_rows else f"+ {t.run_name}"
        trained = {"key": "trained", "ref": ref, "name": own or f"{t.base_model} {how} (this run)"}
    out = [trained]
    if getattr(section, "compare_base", False):
        if backend == "openai":
            raise ValueError("compare_base needs a local backend (transformers, vllm or vllm_serve): the openai backend "
                             "reaches one served model; serve the base model too and evaluate it as its own run")
        out.append({"key": "base", "name": f"{cfg.training.base_model} (base, untrained)",
                    "ref": base_model_path(cfg.training)})
    return out
