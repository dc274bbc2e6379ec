"""The bookkeeping of notebook 07 around the graders: the tables it shows and the records it writes.

The graders and their verdicts are in the benchmark modules and :mod:`star1_utils.evaluate.reasoning`;
what is here only arranges them: the benchmark overview, the size of each set, the run facts that
``07_reasoning/metrics.json`` carries beside the accuracies, the failure table per benchmark, and the
counts and usage of the stage manifest. Keeping them out of the notebook leaves its cells to the
evaluation itself; the keys and their order are the ones the notebook wrote inline, so every artifact
stays byte-identical.
"""

from __future__ import annotations

from typing import Any, Mapping

import pandas as pd

from star1_utils.evaluate.reasoning_benchmarks import COLUMNS, MODULES, decoding, module

#: Printed into ``metrics.json`` by the demo: why its scores say nothing about the paper.
DEMO_CAVEAT = ("demo: a tiny model on a few items per benchmark with 32 new tokens; near zero by "
               "construction, not comparable to the paper")


def benchmark_table() -> pd.DataFrame:
    """One row per benchmark module: its key, the paper's column, the reference's item count, the
    reference's ``max_tokens`` and the grader version recorded in ``metrics.json``."""
    return pd.DataFrame([{"key": k, "paper column": m.COLUMN, "n (reference)": m.N_REFERENCE,
                          "max_tokens": m.MAX_TOKENS, "version": m.VERSION} for k, m in MODULES.items()])


def set_sizes(sets: Mapping[str, list[dict]]) -> pd.DataFrame:
    """How many items of each benchmark this run evaluates, beside the reference's full size."""
    return pd.DataFrame([{"benchmark": COLUMNS[k], "items": len(v), "of": module(k).N_REFERENCE}
                         for k, v in sets.items()])


def metrics_extra(re_cfg: Any, keys: list[str], *, items_per_benchmark: int | str,
                  missing: Mapping[str, str], demo: bool) -> dict:
    """The run facts stored beside the accuracies in ``07_reasoning/metrics.json``: backend, the
    decoding actually used per benchmark (the reference's, capped by the profile), the set size,
    the benchmarks that could not be loaded and, for the demo, why its numbers are not the paper's.

    ``re_cfg`` is the profile's ``reasoning_eval`` section."""
    return {"backend": re_cfg.backend,
            "decoding": {k: decoding(k, max_tokens=re_cfg.max_tokens,
                                     repetition_penalty=re_cfg.repetition_penalty) for k in keys},
            "items_per_benchmark": items_per_benchmark, "missing_benchmarks": dict(missing),
            "demo": demo, "caveat": DEMO_CAVEAT if demo else ""}


def failure_table(metrics: dict) -> pd.DataFrame:
    """Per paper column of ``metrics``: accuracy in percent, the number of items, then how many
    items ended in each grading status (correct, no answer, truncated, wrong, ...)."""
    benchmarks = metrics["benchmarks"]
    table = pd.DataFrame({col: b["failures"] for col, b in benchmarks.items()}).T
    table.insert(0, "accuracy %", [b["value"] for b in benchmarks.values()])
    table.insert(1, "n", [b["n"] for b in benchmarks.values()])
    return table


def failure_records(failures: list[dict]) -> list[dict]:
    """Failures as the stage's ``failures.jsonl`` stores them: ``id`` and ``reason`` first, so a
    reader sees what failed and why before the details."""
    return [{"id": f["id"], "reason": f["reason"], **f} for f in failures]


def stage_counts(sets: Mapping[str, list[dict]], generations: list[dict], grades: list[dict],
                 failures: list[dict]) -> dict:
    """The manifest's counts: items asked, generations made, grades and correct ones, failures,
    then the items of each benchmark (``n_<key>``)."""
    return {"items": sum(len(v) for v in sets.values()), "generations": len(generations),
            "graded": len(grades), "correct": sum(g["correct"] for g in grades), "failed": len(failures),
            **{f"n_{k}": len(v) for k, v in sets.items()}}


def stage_usage(student_usage: Mapping[str, Any], grader_usage: Mapping[str, Any]) -> dict:
    """The manifest's token usage: the student's per model (``student_<name>``), and the grader
    role's (the reference grading's equality checker) when it was asked."""
    return {**{f"student_{k}": u for k, u in student_usage.items()},
            **({"grader": grader_usage} if grader_usage else {})}
