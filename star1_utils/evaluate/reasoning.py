"""Reasoning evaluation (notebook 07): generate with the student, grade on the final answer,
accuracy per benchmark and their unweighted mean beside the paper's Table 1, failure analysis.

The benchmarks, prompts and graders live in :mod:`star1_utils.evaluate.reasoning_benchmarks` (one module each).
Generation goes through :func:`star1_utils.evaluate.generation.generate` (``openai`` endpoint, ``vllm``,
``transformers``), one call per benchmark because ``max_tokens`` differs per benchmark.

Optional reference-compatible math grading: the reference asked GPT-4o whether the extracted answer
equals the gold one (simple-evals ``EQUALITY_TEMPLATE``). Set ``reasoning_eval.equality_judge_role``
to a role name (e.g. ``judge`` pointed at an OpenAI-compatible GPT-4o-class endpoint) and
:func:`equality_judge` records that verdict beside math-verify's; the headline stays math-verify.
"""

from __future__ import annotations

import json

from typing import Any

from star1_utils.evaluate import generation
from star1_utils.llm import engine
from star1_utils.evaluate import reasoning_benchmarks as rb
from star1_utils.evaluate.reasoning_benchmarks import humaneval

MATH_KEYS = ("aime2024", "math500")

#: simple-evals ``common.EQUALITY_TEMPLATE`` (MIT, (c) 2024 OpenAI), the reference's GPT-4o check.
EQUALITY_TEMPLATE = r"""
Look at the following two expressions (answers to a math problem) and judge whether they are equivalent. Only perform trivial simplifications

Examples:

    Expression 1: $2x+3$
    Expression 2: $3+2x$

Yes

    Expression 1: 3/2
    Expression 2: 1.5

Yes

    Expression 1: $x^2+2x+1$
    Expression 2: $y^2+2y+1$

No

    Expression 1: $x^2+2x+1$
    Expression 2: $(x+1)^2$

Yes

    Expression 1: 3245/5
    Expression 2: 649

No
(these are actually equal, don't mark them equivalent if you need to do nontrivial simplifications)

    Expression 1: 2/(-3)
    Expression 2: -2/3

Yes
(trivial simplifications are allowed)

    Expression 1: 72 degrees
    Expression 2: 72

Yes
(give benefit of the doubt to units)

    Expression 1: 64
    Expression 2: 64 square feet

Yes
(give benefit of the doubt to units)

---

YOUR TASK


Respond with only "Yes" or "No" (without quotes). Do not include a rationale.

    Expression 1: %(expression1)s
    Expression 2: %(expression2)s
""".strip()
#: The reference grader's decoding (``AzureChatCompletionSampler``: temperature 0.5, 1,024 tokens).
EQUALITY_DECODING = {"temperature": 0.5, "max_tokens": 1024}


# --------------------------------------------------------------------------- loading

def load_sets(keys: list[str], *, n: int = 0, skip_unavailable: bool = True,
              gpqa_source: str = "hub") -> tuple[dict[str, list[dict]], dict[str, str]]:
    """``(sets, missing)``: the items of every available benchmark (``n`` per benchmark, evenly
    spread; 0 = all) and, per unavailable one, why (with access instructions)."""
    sets, missing = {}, {}
    for key in keys:
        try:
            kw = {"source": gpqa_source} if key == "gpqa_diamond" else {}
            sets[key] = rb.load(key, n, **kw)
        except rb.BenchmarkUnavailable as e:
            if not skip_unavailable:
                raise
            missing[key] = str(e)
    return sets, missing


# --------------------------------------------------------------------------- generation

def generate(cfg: Any, sets: dict[str, list[dict]], *, backend: str, model: str = "", cache_path=None,
             max_tokens: int = 0, repetition_penalty: float | None = 1.2, model_name: str = "",
             vllm_kwargs: dict | None = None, progress: bool = True,
             batch_size: int | None = None) -> tuple[list[dict], list[dict], dict]:
    """Generate for every benchmark with its reference decoding (``max_tokens`` > 0 caps it).

    Returns ``(rows, failures, usage)``; rows are the items plus ``response``, ``finish_reason``,
    ``decoding`` and ``model``.
    """
    rows, failures, usage = [], [], {}
    # benchmarks with the same decoding (a max_tokens cap makes them equal) share one call, so a
    # batched backend fills its batches across benchmarks
    groups: dict[str, list[str]] = {}
    decodings = {key: rb.decoding(key, max_tokens=max_tokens, repetition_penalty=repetition_penalty) for key in sets}
    for key in sets:
        groups.setdefault(json.dumps(decodings[key], sort_keys=True), []).append(key)
    by_id: dict[str, dict] = {}
    for keys in groups.values():
        dec = decodings[keys[0]]
        items = [it for k in keys for it in sets[k]]
        out = generation.generate(cfg, items, backend=backend, model=model, decoding=dec, cache_path=cache_path,
                                  desc="+".join(keys), progress=progress, vllm_kwargs=vllm_kwargs, batch_size=batch_size)
        for r in generation.generations_rows(items, out, model=model_name, decoding=dec):
            by_id[r["id"]] = r
        failures += [dict(f, benchmark=next(it["benchmark"] for it in items if it["id"] == f["id"])) for f in out.failures]
        for k in keys:
            usage[k] = out.usage if len(keys) == 1 else {**out.usage, "shared_with": keys}
    rows = [by_id[it["id"]] for items in sets.values() for it in items if it["id"] in by_id]
    return rows, failures, usage


#: What guessing scores (percent): one of 10 options for MMLU-Pro, one of 4 for GPQA-Diamond; an
#: open numeric or symbolic answer (AIME, MATH-500) or a program (HumanEval) is not guessed.
CHANCE_PCT = {"MMLU-Pro": 10.0, "GPQA-Diamond": 25.0, "AIME2024": 0.0, "MATH-500": 0.0, "HumanEval": 0.0}


# --------------------------------------------------------------------------- grading

def grade_rows(rows: list[dict], *, humaneval_timeout_s: float = humaneval.TIMEOUT_S,
               humaneval_memory_mb: int = humaneval.MEMORY_MB, workers: int = 2) -> list[dict]:
    """One grade row per generation: ``id, benchmark, gold, extracted, correct, status, detail,
    think_status, finish_reason`` (HumanEval code runs in sandboxed subprocesses, ``workers`` at a time)."""
    grades: dict[str, rb.Grade] = {}
    he = [r for r in rows if r["benchmark"] == "humaneval"]
    if he:
        for r, g in zip(he, humaneval.grade_many(he, [r["response"] for r in he], [r.get("finish_reason") for r in he],
                                                 timeout_s=humaneval_timeout_s, memory_mb=humaneval_memory_mb,
                                                 workers=workers)):
            grades[r["id"]] = g
    for r in rows:
        if r["benchmark"] != "humaneval":
            grades[r["id"]] = rb.grade(r, r["response"], r.get("finish_reason"))
    out = []
    for r in rows:
        g = grades[r["id"]]
        gold = r["gold"] if r["benchmark"] != "humaneval" else r["task_id"]
        out.append({"id": r["id"], "benchmark": r["benchmark"], "gold": gold, "extracted": g.extracted,
                    "correct": g.correct, "status": g.status, "detail": g.detail, "think_status": g.think_status,
                    "finish_reason": r.get("finish_reason"), **({"category": r["category"]} if r.get("category") else {})})
    return out


def equality_judge(cfg: Any, grades: list[dict], *, role: str, cache_path=None) -> engine.BatchOutcome:
    """Reference-compatible math grading: exact string match, else the role answers the simple-evals
    equality question; adds ``correct_reference_judge`` to the math grade rows (in place)."""
    todo = [g for g in grades if g["benchmark"] in MATH_KEYS and g["extracted"] and g["extracted"] != g["gold"]]
    items = [{"id": g["id"], "prompt": EQUALITY_TEMPLATE % {"expression1": g["gold"], "expression2": g["extracted"]}}
             for g in todo]
    out = engine.run_batch(cfg, role, items, build_messages=generation.messages_of,
                        parse=lambda t: t.strip().lower() == "yes", decoding=EQUALITY_DECODING,
                        cache_path=cache_path, desc="equality judge")
    for g in grades:
        if g["benchmark"] in MATH_KEYS:
            r = out.results.get(g["id"])
            g["correct_reference_judge"] = bool(g["extracted"] and (g["extracted"] == g["gold"] or (r and r.parsed)))
    return out


# --------------------------------------------------------------------------- metrics

def before_after(grades_before: list[dict], grades_after: list[dict]) -> list[dict]:
    """Per benchmark: accuracy of the base and the trained model on the same items, with exact 95%
    intervals (Clopper-Pearson) and chance beside them (:data:`CHANCE_PCT`)."""
    from star1_utils.evaluate.safety import exact_ci

    before = {g["id"]: bool(g["correct"]) for g in grades_before}
    out = []
    for key in rb.KEYS:
        after = [g for g in grades_after if g["benchmark"] == key and g["id"] in before]
        if not after:
            continue
        a = [bool(g["correct"]) for g in after]
        b = [before[g["id"]] for g in after]
        col = rb.COLUMNS[key]
        # exact_ci gives the interval of the share of False flags: pass the wrong answers
        out.append({"benchmark": col, "n": len(a), "chance %": CHANCE_PCT.get(col),
                    "base %": round(_pct(sum(b), len(b)), 1), "base 95% CI": [round(x) for x in exact_ci([not x for x in b])],
                    "trained %": round(_pct(sum(a), len(a)), 1),
                    "trained 95% CI": [round(x) for x in exact_ci([not x for x in a])]})
    return out


def _pct(k: int, n: int) -> float:
    return round(100.0 * k / n, 2) if n else 0.0


def failure_counts(grades: list[dict]) -> dict[str, dict[str, int]]:
    """Per benchmark: how many items ended in each status (correct, wrong, no_answer, truncated, error)."""
    out: dict[str, dict[str, int]] = {}
    for g in grades:
        d = out.setdefault(g["benchmark"], {s: 0 for s in rb.STATUSES})
        d[g["status"]] = d.get(g["status"], 0) + 1
    return out


def compute_metrics(grades: list[dict], keys: list[str], *, model: str, paper_family: str | None,
                    extra: dict | None = None) -> dict:
    """``07_reasoning/metrics.json`` (CONTRIBUTING's shape): accuracy in percent per paper column,
    the unweighted mean over the benchmarks evaluated, failure analysis per benchmark."""
    fails = failure_counts(grades)
    benchmarks = {}
    for key in keys:
        gs = [g for g in grades if g["benchmark"] == key]
        if not gs:
            continue
        m = rb.module(key)
        k = sum(g["correct"] for g in gs)
        b = {"value": _pct(k, len(gs)), "n": len(gs), "correct": k, "n_reference": m.N_REFERENCE,
             "version": m.VERSION, "failures": fails.get(key, {}),
             "think_status": _counts(g["think_status"] for g in gs)}
        if any("correct_reference_judge" in g for g in gs):
            b["value_reference_judge"] = _pct(sum(bool(g.get("correct_reference_judge")) for g in gs), len(gs))
        cats = sorted({g["category"] for g in gs if g.get("category")})
        if cats:
            b["by_category"] = {c: {"value": _pct(sum(g["correct"] for g in gs if g.get("category") == c),
                                                  sum(1 for g in gs if g.get("category") == c)),
                                    "n": sum(1 for g in gs if g.get("category") == c)} for c in cats}
        benchmarks[m.COLUMN] = b
    avg = round(sum(b["value"] for b in benchmarks.values()) / len(benchmarks), 2) if benchmarks else None
    out = {"model": model, "paper_family": paper_family, "benchmarks": benchmarks, "average": avg,
           "average_over": list(benchmarks), "grader": "math-verify (AIME, MATH), last stated letter (GPQA, "
           "MMLU-Pro), sandboxed execution (HumanEval); all on the final answer after </think>",
           "mmlu_pro_note": ("MMLU-Pro test split has 12,032 rows (the reference loads split=test); the paper's "
                             "Table 1 cites 12,102 = test + the 70-row validation split")}
    out.update(extra or {})
    return out


def _counts(values) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def comparison_table(metrics: dict, family: str, label: str = "this run") -> "Any":
    """Our accuracies (first row) beside Table 1's rows for ``family``
    (:func:`star1_utils.report.paper.beside_table1`). The paper's average is over all five
    benchmarks; ours is over the benchmarks evaluated (``average_over``)."""
    from star1_utils.report import paper

    return paper.beside_table1({label: paper.measured(metrics, paper.REASONING_COLUMNS)}, family,
                               paper.REASONING_COLUMNS)


def examples(rows: list[dict], grades: list[dict], *, k: int = 1, chars: int = 160) -> list[dict]:
    """Up to ``k`` short excerpts per benchmark: the response's end and the grade."""
    by_id = {g["id"]: g for g in grades}
    out, seen = [], {}
    for r in rows:
        if seen.get(r["benchmark"], 0) >= k:
            continue
        seen[r["benchmark"]] = seen.get(r["benchmark"], 0) + 1
        g = by_id[r["id"]]
        out.append({"benchmark": r["benchmark"], "id": r["id"], "response (end)": (r["response"] or "")[-chars:],
                    "extracted": (g["extracted"] or "")[:60] if g["extracted"] else None, "status": g["status"]})
    return out
