"""The notebooks of the suite and the stage each one writes.

One table, used by the runner (which notebook, which stage folder, which profile sections decide
whether a stage is current) and by the notebooks themselves (``notebook.start``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StageSpec:
    key: str  # the notebook's number, e.g. "02"
    notebook: str  # file stem in notebooks/
    stage_dir: str  # folder under run_dir
    # profile sections (dotted) the stage reads. The manifest records the settings it actually read
    # and the hash covers those; tests/test_resume.py checks the demo run reads nothing outside these
    sections: tuple[str, ...]
    produces: str  # what it writes, for the README table and the runner's summary


STAGES: tuple[StageSpec, ...] = (
    # the overview shows which switches the profile sets off the reference: it reads every section
    StageSpec("00", "00_overview", "00_overview",
              ("roles", "collection", "classification", "reasoning", "selection", "training", "safety_eval",
               "reasoning_eval", "overrefusal"), "environment report and the run plan"),
    StageSpec("01", "01_data_collection", "01_collection", ("collection",),
              "01_collection/collected.jsonl"),
    StageSpec("02", "02_category_classification", "02_classification",
              ("classification", "roles.classifier", "collection.reference_compat"), "02_classification/classified.jsonl"),
    StageSpec("03", "03_reasoning_generation", "03_reasoning", ("reasoning", "roles.teacher", "collection.reference_compat"),
              "03_reasoning/reasoning.jsonl"),
    StageSpec("04", "04_data_selection", "04_selection", ("selection", "roles.scorer", "collection.reference_compat"),
              "04_selection/scored.jsonl, 04_selection/star1.jsonl, Figure 2"),
    StageSpec("05", "05_training", "05_training", ("training", "safety_eval.repetition_penalty", "safety_eval.threads"),
              "05_training/<run name>/ (model, log)"),
    StageSpec("06", "06_safety_evaluation", "06_safety",
              ("safety_eval", "judges", "serving", "roles.student", "roles.judge", "roles.refusal_judge", "training.base_model",
               "training.run_name", "training.release_rows"), "06_safety/metrics.json"),
    StageSpec("07", "07_reasoning_evaluation", "07_reasoning",
              ("reasoning_eval", "serving", "roles.student", "roles.grader", "training.base_model",
               "training.run_name", "training.release_rows"),
              "07_reasoning/metrics.json"),
    StageSpec("08", "08_overrefusal_ablation", "08_overrefusal",
              ("overrefusal", "reasoning", "selection", "roles.rewriter", "roles.teacher", "roles.scorer", "roles.refusal_judge", "roles.judge", "roles.grader", "judges",
               "roles.student", "training", "safety_eval", "reasoning_eval", "serving"),
              "08_overrefusal/ (benign set, XSTest metrics, benign-mix curve)"),
    StageSpec("09", "09_figures", "figures", ("figures",), "figures/ (PNG + PDF), Table 1 comparison"),
)

BY_KEY = {s.key: s for s in STAGES}
BY_NOTEBOOK = {s.notebook: s for s in STAGES}


def spec_for(key_or_notebook: str) -> StageSpec:
    """Look a stage up by number ("02") or notebook stem ("02_category_classification")."""
    if key_or_notebook in BY_KEY:
        return BY_KEY[key_or_notebook]
    stem = key_or_notebook.removesuffix(".ipynb")
    if stem in BY_NOTEBOOK:
        return BY_NOTEBOOK[stem]
    raise KeyError(f"unknown stage {key_or_notebook!r}; stages are {', '.join(BY_KEY)}")
