"""Section 4.3, the benign-mix curve (notebook 08): over-refusal, safety and reasoning as the
amount of benign data in training grows.

For each amount of benign data (``overrefusal.benign_counts``), notebook 05 trains on the 1K plus
that many benign rows in a sub run folder, then XSTest (:mod:`star1_utils.evaluate.xstest`), safety
(06) and reasoning (07) evaluation run on the model it trained. The 0-benign point may reuse this
run's own 1K model (:func:`can_reuse_main_run`).
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from star1_utils.evaluate import benign_data, xstest
from star1_utils.llm.replies import final_answer
from star1_utils.run import layout
from star1_utils.run.artifacts import atomic_write

#: The TrainingConfig field naming notebook 05's training data file (the 1K by default).
TRAINING_DATA_FIELD = "data_path"


#: One row per curve point, then (with ``compare_base``) one row for the untrained base model,
#: whose ``n_benign`` is empty. Rates in percent; intervals are exact (Clopper-Pearson) 95% for
#: XSTest and 06's bootstrap 95% for the safety average.
CURVE_COLUMNS = ("n_benign", "model", "n_training_rows", "xstest_n", "xstest_full_compliance",
                 "xstest_full_refusal", "xstest_partial_refusal", "xstest_over_refusal",
                 "xstest_over_refusal_ci95_low", "xstest_over_refusal_ci95_high", "xstest_unsafe_refused",
                 "avg_safety", "avg_safety_ci95_low", "avg_safety_ci95_high", "avg_reasoning")


BASE_POINT = "base (untrained)"


def curve_counts(counts: list[int], n_kept: int) -> list[int]:
    """The curve's benign amounts: ``-1`` = all kept rows; values are capped at ``n_kept`` and
    de-duplicated, order kept."""
    out: list[int] = []
    for c in counts:
        n = n_kept if c < 0 else min(int(c), n_kept)
        if n not in out:
            out.append(n)
    return out


def training_mix(star1_rows: list[dict], benign_rows: list[dict], n_benign: int) -> list[dict]:
    """The 1K followed by the first ``n_benign`` benign rows (``sft.py`` needs question/response)."""
    keep = ("id", "question", "response", "source", "category")
    mix = [{k: r[k] for k in keep if k in r} for r in star1_rows]
    mix += [{"id": f"benign-{r['id']}", "question": r["question"], "response": r["response"], "source": benign_data.SOURCE_TAG}
            for r in benign_rows[:n_benign]]
    return mix


#: Settings every curve sub run gets: the mix file replaces the released rows, the base model is
#: evaluated once, by this run (it is the same model at every point), and 05's before/after
#: samples are left to this run's own 05.
POINT_FIXED = {"training.release_rows": 0, "training.sample_prompts": 0, "safety_eval.compare_base": False,
               "reasoning_eval.compare_base": False, "overrefusal.compare_base": False}


def point_overrides(cfg, base_overrides: dict, data_path, n_benign: int) -> dict:
    """Overrides of one curve point's sub run: the notebook's own, the profile's
    ``overrefusal.curve_overrides``, :data:`POINT_FIXED`, then the training data and run name."""
    return {**(base_overrides or {}), **cfg.overrefusal.curve_overrides, **POINT_FIXED,
            f"training.{TRAINING_DATA_FIELD}": str(data_path),
            "training.run_name": f"{cfg.training.run_name}-benign{n_benign}"}


def curve_evaluations(cfg) -> str:
    """The notebooks each curve sub run executes after training (05): safety (06), plus
    reasoning (07) when ``overrefusal.curve_reasoning``."""
    return "06,07" if cfg.overrefusal.curve_reasoning else "06"


def curve_row(n_benign: int | None, xstest_rows: list[dict], safety: dict | None = None,
              traces: dict | None = None, n_training_rows: int | None = None, model: str = "trained") -> dict:
    """One point of the benign-mix curve from its judged XSTest rows and its 06/07 metrics.

    ``n_benign`` is ``None`` for the base-model reference row. ``safety`` and ``reasoning`` are the
    point's ``metrics.json`` dicts (``None`` when not measured: the columns stay empty).
    """
    safe = xstest.refusal_metrics([r for r in xstest_rows if r["label"] == "safe"])
    n, over, (lo, hi) = xstest.refused_share(xstest_rows, "safe")
    unsafe_n, unsafe_refused, _ = xstest.refused_share(xstest_rows, "unsafe")
    ci = (safety or {}).get("average_ci95") or [None, None]
    r2 = lambda v: None if v is None or v != v else round(float(v), 2)  # noqa: E731
    return {"n_benign": n_benign, "model": model, "n_training_rows": n_training_rows, "xstest_n": n,
            "xstest_full_compliance": safe.get("full_compliance"), "xstest_full_refusal": safe.get("full_refusal"),
            "xstest_partial_refusal": safe.get("partial_refusal"), "xstest_over_refusal": r2(over),
            "xstest_over_refusal_ci95_low": r2(lo), "xstest_over_refusal_ci95_high": r2(hi),
            "xstest_unsafe_refused": r2(unsafe_refused) if unsafe_n else None,
            "avg_safety": r2((safety or {}).get("average")), "avg_safety_ci95_low": r2(ci[0]),
            "avg_safety_ci95_high": r2(ci[1]), "avg_reasoning": r2((traces or {}).get("average"))}


def answer_opening(text: str, words: int = 4) -> str:
    """The first ``words`` words of a reply's final answer, lower-cased (for :func:`carryover`)."""
    return " ".join(final_answer(text).lower().split()[:words])


def carryover(benign_rows: list[dict], answers: list[str], words: int = 4) -> dict:
    """How often ``answers`` (e.g. a curve point's answers to notebook 06's harmful prompts) open
    like the benign training traces' most common final answer.

    A small student trained on templated benign traces can learn the template as a new way to
    answer *anything*; this counts it. Returns ``{"opening", "benign_share", "n", "count"}``:
    the most common opening of the benign answers and the share of benign rows that use it, then
    how many of the ``n`` answers begin with it.
    """
    openings = Counter(answer_opening(r["response"], words) for r in benign_rows)
    openings.pop("", None)
    if not openings:
        return {"opening": "", "benign_share": 0.0, "n": len(answers), "count": 0}
    opening, k = openings.most_common(1)[0]
    count = sum(answer_opening(a, words) == opening for a in answers)
    return {"opening": opening, "benign_share": round(100.0 * k / len(benign_rows), 1), "n": len(answers),
            "count": count}


def write_curve_csv(path, rows: list[dict]) -> None:

    with atomic_write(path) as f:
        w = csv.DictWriter(f, fieldnames=list(CURVE_COLUMNS), lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r[k]) for k in CURVE_COLUMNS})


def can_reuse_main_run(cfg, run_dir) -> bool:
    """Whether the 0-benign point is this run's own 1K model: reuse is on, the sub runs would
    change nothing else (no ``curve_overrides``, same limit), and notebooks 05-06 (and 07 when
    the curve measures reasoning) left their model and metrics."""
    oc = cfg.overrefusal
    if not oc.reuse_main_run or oc.curve_overrides or oc.curve_limit not in (0, cfg.limit):
        return False
    rd = Path(run_dir)
    needed = [rd / "06_safety" / "metrics.json"]
    if oc.curve_reasoning:
        needed.append(rd / "07_reasoning" / "metrics.json")
    if cfg.safety_eval.backend != "openai":
        needed.append(layout.final_model_dir(rd, cfg))
    return all(p.exists() for p in needed)


def point_detail(n_benign: int, n_training_rows: int, run: str | Path, summary: dict,
                 safety: dict | None, seconds: float) -> dict:
    """One curve point of ``benign_mix_points.json``: its amounts, the run folder (relative to the
    main run), the training time its notebook 05 recorded (``summary.json``), the seconds this run
    spent on it (small when it was resumed), and its safety per benchmark (``None`` unmeasured)."""
    return {"n_benign": n_benign, "n_training_rows": n_training_rows, "run": str(run),
            "train_seconds": summary.get("train_runtime_s"), "seconds_this_time": round(seconds),
            "safety": safety and safety["benchmarks"]}


def points_record(cfg, details: list[dict]) -> dict:
    """``benign_mix_points.json``: the refusal judge, the models the benign rows came from
    (rewriter and teacher: stand-ins or the paper's), and one :func:`point_detail` per point."""
    return {"judge": cfg.role("refusal_judge").model,
            "benign_source": benign_data.benign_source(cfg), "points": details}


def versus_first(details: list[dict], first_n: int) -> list[dict]:
    """Each later point's :func:`refusal_shift` against the first point (``vs_first_point``), with
    the columns renamed from base/trained to ``<first_n> benign``/``this point``."""
    def rename(column: str) -> str:
        return column.replace("base", f"{first_n} benign").replace("trained", "this point")

    return [{"n_benign": d["n_benign"], **{rename(k): v for k, v in r.items()}}
            for d in details[1:] for r in d["vs_first_point"]]


def readout(row: dict, column: str) -> str:
    """A curve row's value in ``column`` as ``"12.5 %"``, with its 95% interval when it has one."""
    low = row.get(column + "_ci95_low")
    interval = f" (95% CI {low:.0f}-{row[column + '_ci95_high']:.0f})" if low is not None else ""
    return f"{row[column]:.1f} %" + interval


def answer_changes(first_rows: list[dict], last_rows: list[dict], first_n: int, last_n: int,
                   k: int = 5, width: int = 70) -> list[dict]:
    """The first ``k`` safe prompts answered at both ends of the curve: an excerpt of each final
    answer and how the judge's label moved (``first -> last``)."""
    last = {r["id"]: r for r in last_rows}
    return [{"safe prompt": r["question"],
             f"{first_n} benign": final_answer(r["response"])[:width] or "(none)",
             f"{last_n} benign": final_answer(last[r["id"]]["response"])[:width] or "(none)",
             "labels": f"{r['refusal_label']} -> {last[r['id']]['refusal_label']}"}
            for r in first_rows if r["label"] == "safe" and r["id"] in last][:k]
