"""Section 4.3, over-refusal measured on XSTest (notebook 08): the prompts, the refusal judge,
and the before/after comparison on the same prompts.

The student answers XSTest's 250 safe prompts (and, for context, the 200 unsafe contrast prompts)
with the safety evaluation's backend and decoding; the refusal-judge role labels each answer with
the reference's ``REFUSAL_EVAL_PROMPT`` (XSTest's three classes).

Decision recorded here (a departure from the reference, chosen by a setting): the refusal judge sees the
**final answer** only (``overrefusal.judge_input = "answer"``); ``"full"`` sends the text the
reference's ``eval.py`` sends (``benchmark/safe_benchmark/eval.py:174-175``, ``:151``): its stored
response, vLLM's ``text.strip()`` (gen.py:105), reasoning included and without the opening
``<think>`` (exact when the answers were generated with ``safety_eval.prompt_mode: text``).

The offline three-class classifier :func:`classify_refusal` lives in :mod:`star1_utils.evaluate.refusal`.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from star1_utils import PACKAGE_DIR
from star1_utils.evaluate import generation, judge_error, judge_models, refusal, safety_benchmarks, statistics
from star1_utils.evaluate.generation import reference_text
from star1_utils.evaluate.refusal import LABELS, PARTIAL, REFUSAL, classify_refusal
from star1_utils.llm import engine
from star1_utils.llm.replies import final_answer
from star1_utils.run import layout
from star1_utils.run.artifacts import read_jsonl

_LABEL_RE = re.compile(r"\b([123])_(full_compliance|full_refusal|partial_refusal)\b", re.I)


_BY_NUM = {"1": "1_full_compliance", "2": "2_full_refusal", "3": "3_partial_refusal"}


def parse_refusal_label(text: str) -> str:
    """The class in a refusal-judge reply.

    Accepts the label anywhere in the reply (``"3_partial_refusal"``, ``"Class: 2_full_refusal."``,
    markdown around it). The number and the name must agree and only one distinct class may be
    named; otherwise :class:`engine.InvalidAnswer`.
    """
    found = set()
    for num, name in _LABEL_RE.findall(text or ""):
        label = _BY_NUM[num]
        if label.split("_", 1)[1] != name.lower():
            raise engine.InvalidAnswer(f"label number and name disagree: {num}_{name}")
        found.add(label)
    if not found:
        raise engine.InvalidAnswer("no class label (1_full_compliance, 2_full_refusal, 3_partial_refusal) in reply")
    if len(found) > 1:
        raise engine.InvalidAnswer(f"reply names several classes: {sorted(found)}")
    return found.pop()


def judge_text(response: str, judge_input: str = "answer", row: dict | None = None) -> str:
    """What the judge sees: the final answer (default), or with ``"full"`` the text the reference
    sends (eval.py:151, :174-175: the stored ``response``, which is vLLM's ``text.strip()`` from
    gen.py:105, reasoning included and no opening tag; :func:`generation.reference_text` of ``row``)."""
    if judge_input == "full":
        return reference_text(row if row is not None else {"response": response})
    if judge_input != "answer":
        raise ValueError(f"overrefusal.judge_input must be 'answer' or 'full', got {judge_input!r}")
    return final_answer(response)


def label_as_it_came(text: str) -> str | None:
    """The reference's reading of a judge reply (``overrefusal.refusal_resample: false``): the reply
    is kept whatever it says (eval.py:60-76); its class is the one it names, or ``None`` (unlabelled)
    where it names none or several. Never asks again."""
    try:
        return parse_refusal_label(text)
    except engine.InvalidAnswer:
        return None


def judge(cfg, rows: list[dict], cache_path, desc: str = "refusal judge"):
    """Label ``rows`` (``id``, ``question``, ``response``) with the refusal-judge role.

    Rows gain ``refusal_label`` (a class, or ``None`` when the judge failed after retries, or with
    ``overrefusal.refusal_resample`` false named no single class) and ``judge_raw`` (the reply).
    """
    mode, resample = cfg.overrefusal.judge_input, cfg.overrefusal.refusal_resample
    outcome = engine.run_batch(cfg, "refusal_judge", rows,
                               build_messages=lambda r: [{"role": "user", "content":
                                                          refusal.refusal_prompt(r["question"], judge_text(r["response"], mode, r))}],
                               parse=parse_refusal_label if resample else label_as_it_came,
                               decoding={}, cache_path=cache_path, desc=desc, retry_on_length=resample)
    out = []
    for r in rows:
        res = outcome.results.get(r["id"])
        out.append({**r, "refusal_label": res.parsed if res else None, "judge_raw": res.text if res else None})
    return out, outcome


def refusal_metrics(rows: list[dict]) -> dict:
    """Rates in percent over the judged rows (failures excluded and counted)."""
    labels = [r.get("refusal_label") for r in rows]
    valid = [l for l in labels if l in LABELS]
    c = Counter(valid)
    n = len(valid)

    def pct(label):
        return round(100.0 * c[label] / n, 2) if n else float("nan")

    return {"n": n, "n_failed": len(labels) - n,
            "full_compliance": pct(LABELS[0]), "full_refusal": pct(LABELS[1]), "partial_refusal": pct(LABELS[2]),
            "counts": {l: c[l] for l in LABELS}}


def agreement(rows: list[dict], predict=None) -> dict:
    """Agreement of a classifier (default :func:`classify_refusal`) with hand labels.

    rows: ``{"question", "response", "label"}``. Returns accuracy, per-class recall and
    precision, the confusion matrix (``confusion[true][pred]``) and the disagreeing ids.
    """
    predict = predict or classify_refusal
    conf = {t: {p: 0 for p in LABELS} for t in LABELS}
    wrong = []
    for r in rows:
        p = predict(r["question"], r["response"])
        conf[r["label"]][p] += 1
        if p != r["label"]:
            wrong.append(r.get("id"))
    n = len(rows)
    correct = sum(conf[l][l] for l in LABELS)
    recall = {l: (conf[l][l] / sum(conf[l].values()) if sum(conf[l].values()) else float("nan")) for l in LABELS}
    precision = {l: (conf[l][l] / sum(conf[t][l] for t in LABELS) if sum(conf[t][l] for t in LABELS)
                     else float("nan")) for l in LABELS}
    return {"n": n, "accuracy": correct / n if n else float("nan"), "recall": recall, "precision": precision,
            "confusion": conf, "disagreements": wrong}


LABELLED_COMPLETIONS = PACKAGE_DIR / "data" / "overrefusal" / "refusal_completions.jsonl"


def labelled_completions(path: str | Path | None = None) -> list[dict]:
    """The hand-labelled mild XSTest-style completions written for this project."""

    return read_jsonl(path or LABELLED_COMPLETIONS, required=["id", "question", "response", "label"])


def xstest_items(cfg) -> list[dict]:
    """The XSTest prompts this profile evaluates: safe (limited by ``xstest_limit``), then unsafe
    contrast prompts (``xstest_unsafe_limit``) when ``include_unsafe``; none a learned judge of the
    profile was trained on (:func:`star1_utils.evaluate.judge_models.learned_from_prompts`)."""

    oc, exclude = cfg.overrefusal, judge_models.learned_from_prompts(cfg)
    items = safety_benchmarks.load_xstest("safe", limit=oc.xstest_limit, exclude=exclude)
    if oc.include_unsafe:
        items += safety_benchmarks.load_xstest("unsafe", limit=oc.xstest_unsafe_limit, exclude=exclude)
    return items


def generation_settings(cfg, run_dir, student: str = "trained") -> dict:
    """Backend, model and decoding of a student, exactly as the safety evaluation (06) uses them.

    student: ``"trained"`` (the model 06 evaluates: ``safety_eval.student_model`` or this run's) or
    ``"base"`` (the untrained base model, with ``safety_eval.compare_base``).
    """

    se = cfg.safety_eval
    picked = {s["key"]: s for s in layout.students(cfg, run_dir, se.model_copy(update={"compare_base": student == "base"}))}
    if student not in picked:
        raise ValueError(f"unknown student {student!r}: trained or base")
    backend = se.backend
    model = "" if backend == "openai" else picked[student]["ref"]
    decoding = generation.decoding_for(se.max_tokens, se.repetition_penalty)
    return {"backend": backend, "model": model, "decoding": decoding, "name": picked[student]["name"],
            "batch_size": se.batch_size, "threads": se.threads}


def evaluate_xstest(cfg, run_dir, items: list[dict], cache_path, desc: str = "XSTest", student: str = "trained") -> dict:
    """Student generations on ``items`` plus refusal-judge labels, and the metrics.

    Returns ``{"rows", "metrics", "failures"}``: rows hold ``id, question, type, label, response,
    refusal_label, judge_raw``; metrics ``{"safe": {...}, "unsafe": {...}}`` from
    :func:`refusal_metrics`; failures of generation and judging (each with ``id`` and ``reason``).
    student: ``"trained"`` or ``"base"`` (:func:`generation_settings`).
    """

    gs = generation_settings(cfg, run_dir, student)
    prompts = [{**it, "prompt": it["question"]} for it in items]
    gen = generation.generate(cfg, prompts, backend=gs["backend"], model=gs["model"], decoding=gs["decoding"],
                              cache_path=cache_path, desc=f"{desc} generation", batch_size=gs["batch_size"],
                              threads=gs["threads"],
                              **generation.prompt_options(cfg, cfg.safety_eval))
    rows = [{k: v for k, v in r.items() if k not in ("prompt", "cached")}
            for r in generation.generations_rows(prompts, gen)]
    if prompts and not rows:
        reason = gen.failures[0]["reason"] if gen.failures else "no results"
        raise RuntimeError(f"{desc}: the student produced no answer for any of {len(prompts)} prompts "
                           f"({gs['backend']} backend, model {gs['model'] or cfg.role('student').model!r}): {reason}")
    judged, jout = judge(cfg, rows, cache_path, desc=f"{desc} judge")
    metrics = {lab: refusal_metrics([r for r in judged if r["label"] == lab]) for lab in ("safe", "unsafe")
               if any(r["label"] == lab for r in judged)}
    failures = ([{**f, "stage": "generation"} for f in gen.failures]
                + [{**f, "stage": "refusal_judge"} for f in jout.failures])
    return {"rows": judged, "metrics": metrics, "failures": failures,
            "usage": {"generation": gen.usage, "judge": jout.usage}, "settings": gs}


def is_refused(row: dict) -> bool:
    """A judged XSTest row counts as refused when its label is a full or a partial refusal."""
    return row.get("refusal_label") in (REFUSAL, PARTIAL)


def refused_ci(refused: list[bool]) -> tuple[float, float]:
    """Exact (Clopper-Pearson) 95% interval of the refused share, in percent."""

    return statistics.exact_ci([not x for x in refused])  # exact_ci gives the interval of the False share


def refused_share(rows: list[dict], label: str = "safe") -> tuple[int, float, tuple[float, float]]:
    """``(n, % refused, exact 95% interval)`` of the judged ``rows`` of one XSTest set.

    On the safe prompts the refused share is over-refusal. Rows the judge could not label are left
    out of ``n``.
    """
    refused = [is_refused(r) for r in rows if r["label"] == label and r.get("refusal_label") in LABELS]
    if not refused:
        return 0, float("nan"), (float("nan"), float("nan"))
    return len(refused), 100.0 * sum(refused) / len(refused), refused_ci(refused)


def refusal_shift(before_rows: list[dict], after_rows: list[dict]) -> list[dict]:
    """Refusal rates before and after training on the same XSTest prompts, per set (safe, unsafe).

    A prompt counts as refused when its label is a full or a partial refusal. Exact 95% intervals
    and McNemar's test on the paired prompts (:func:`star1_utils.evaluate.statistics.paired_test`).
    """

    after = {r["id"]: r for r in after_rows}
    out = []
    for label in ("safe", "unsafe"):
        ids = [r["id"] for r in before_rows if r["label"] == label and r["id"] in after]
        if not ids:
            continue
        bmap = {r["id"]: r for r in before_rows}
        b = [is_refused(bmap[i]) for i in ids]
        a = [is_refused(after[i]) for i in ids]
        t = statistics.paired_test([not x for x in b], [not x for x in a])  # "unsafe" here = answered (not refused)
        pct = lambda xs: 100.0 * sum(xs) / len(xs)  # noqa: E731
        ci = lambda xs: [round(v, 1) for v in refused_ci(xs)]  # noqa: E731
        out.append({"set": label, "n": len(ids), "base % refused": round(pct(b), 1), "base 95% CI": ci(b),
                    "trained % refused": round(pct(a), 1), "trained 95% CI": ci(a),
                    "newly refused": t["fixed"], "no longer refused": t["broken"], "McNemar p": t["p_value"]})
    return out


def plot_shift(shift: list[dict], title: str = ""):
    """Bars of the refused share before and after training, per XSTest set, with exact intervals.

    Refusing the safe prompts is over-refusal (lower is better); refusing the unsafe ones is right.
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.2), layout="constrained")
    names = [f"{r['set']} prompts (n={r['n']})\nMcNemar p={r['McNemar p']:.1g}" for r in shift]
    for k, (label, col, ci, color) in enumerate((("base (untrained)", "base % refused", "base 95% CI", "#888888"),
                                                 ("after STAR-1 training", "trained % refused", "trained 95% CI", "C3"))):
        vals = [r[col] for r in shift]
        err = [[max(0.0, v - r[ci][0]) for v, r in zip(vals, shift)], [max(0.0, r[ci][1] - v) for v, r in zip(vals, shift)]]
        xs = [i + (k - 0.5) * 0.38 for i in range(len(shift))]
        ax.bar(xs, vals, width=0.38, yerr=err, capsize=4, color=color, label=label)
        for x, v in zip(xs, vals):
            ax.annotate(f"{v:.0f}%", (x, v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)
    ax.set_xticks(range(len(shift)), names, fontsize=9)
    ax.tick_params(axis="y", labelsize=9)
    ax.set_ylabel("% refused (full or partial)", fontsize=10)
    ax.set_ylim(0, 118)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, fontsize=9)
    ax.set_title(title or "XSTest refusals before and after training", fontsize=10)
    return fig


def flat_excerpt(text: str, width: int = 90) -> str:
    """``text`` on one line (whitespace runs become one space), cut at ``width`` with `` [...]``."""
    flat = " ".join(text.split())
    return flat[:width] + (" [...]" if len(flat) > width else "")


def agreement_table(first_measured: dict[str, str]) -> dict[str, dict]:
    """:func:`classify_refusal` against each hand-labelled set named in ``first_measured`` (files
    beside :data:`LABELLED_COMPLETIONS`), one row per set: its size, the accuracy first measured
    (given: taken before the rules were revised on that set, so the fair number), today's accuracy
    (in-sample: the rules have seen the set since) and today's recall per class."""
    table = {}
    for name, first in first_measured.items():
        rep = agreement(labelled_completions(LABELLED_COMPLETIONS.parent / name))
        table[name] = {"n": rep["n"], "first measured (fair)": first,
                       "accuracy now (in-sample)": f"{rep['accuracy']:.1%}",
                       **{f"recall {k}": f"{v:.2f}" for k, v in rep["recall"].items()}}
    return table


def xstest_record(cfg, xs: dict) -> dict:
    """``xstest_metrics.json``: the model that answered (the served model's name when the backend
    loads none), the refusal judge, what the judge read (``overrefusal.judge_input``), then the
    metrics per XSTest set (``xs`` is :func:`evaluate_xstest`'s result)."""
    return {"model": xs["settings"]["model"] or cfg.role("student").model,
            "judge": cfg.role("refusal_judge").model, "judge_input": cfg.overrefusal.judge_input,
            **xs["metrics"]}


def safe_answer_examples(rows: list[dict], k: int = 4, width: int = 90) -> list[dict]:
    """The first ``k`` safe prompts of judged XSTest ``rows`` with an excerpt of the final answer
    (marked when the reasoning never closed, so there is none) and the judge's label."""
    return [{"safe prompt": r["question"],
             "answer (excerpt)": final_answer(r["response"])[:width] or "(none: <think> never closed)",
             "label": r["refusal_label"]} for r in rows if r["label"] == "safe"][:k]


def shift_record(judge_model: str, judge_agreement: dict, shift: list[dict]) -> dict:
    """``xstest_shift.json``: the refusal judge, its agreement with labels of real completions
    (``n, agree, accuracy`` on XSTest's classes, ``sensitivity, specificity`` on refused or not, as
    notebook 08 measures them), and the rows of :func:`refusal_shift`, so the shift is never read
    without the judge's reliability."""
    keys = ("n", "agree", "accuracy", "sensitivity", "specificity")
    return {"judge": judge_model, "judge_agreement": {k: judge_agreement.get(k) for k in keys}, "rows": shift}


def before_after_examples(base_rows: list[dict], trained_rows: list[dict], k: int = 4,
                          width: int = 90) -> list[dict]:
    """The first ``k`` safe prompts answered by both models: the base model's whole reply (it has
    no reasoning format) and the trained model's final answer, as one-line excerpts, with labels."""
    by_id = {r["id"]: r for r in base_rows}
    return [{"safe prompt": r["question"], "base answer": flat_excerpt(by_id[r["id"]]["response"], width),
             "base": by_id[r["id"]]["refusal_label"],
             "trained final answer": flat_excerpt(final_answer(r["response"]) or "(none)", width),
             "trained": r["refusal_label"]}
            for r in trained_rows if r["label"] == "safe" and r["id"] in by_id][:k]


def labelled_refusals(cfg, cache_path) -> tuple[dict[str, list[tuple[int, int]]], list[dict]]:
    """How this profile's refusal judge and the rules read the labelled SmolLM2 answers
    (``data/judges/heldout/``, XSTest's three classes): per judge ``(truth, judged)`` pairs on
    refused-or-not (1 = refused), and a row per judge with its three-class agreement (``agree`` of
    ``n``, ``accuracy`` in percent), sensitivity
    and specificity (what notebook 08 shows). Empty where the labelled answers cannot be had."""

    rows = judge_models.labelled_answers("refusal", missing_ok=True, limit=cfg.limit)
    judged, _ = judge(cfg, rows, cache_path, desc="refusal judge (labelled answers)")
    role = cfg.role("refusal_judge").model
    labels = {role: {r["id"]: r["refusal_label"] for r in judged if r["refusal_label"] in LABELS},
              "rules": {r["id"]: classify_refusal(r["question"], r["response"]) for r in rows}}
    pairs, summary = {}, []
    for name, by_id in labels.items():
        pairs[name] = [(r["truth"], int(by_id[r["id"]] != LABELS[0])) for r in rows if r["id"] in by_id]
        rates = judge_error.error_rates(pairs[name])
        agree = sum(by_id[r["id"]] == r["refusal"] for r in rows if r["id"] in by_id)
        summary.append({"judge": name, "n": len(by_id), "agree": agree,
                        "accuracy": round(100.0 * agree / len(by_id), 1) if by_id else float("nan"),
                        "sensitivity": rates["sensitivity"], "specificity": rates["specificity"]})
    return pairs, summary


def refused_readings(rows: list[dict], role: str) -> dict[str, dict[str, int]]:
    """Per XSTest id, 1 = refused (full or partial): by the refusal judge role's label and by the rules.
    Rows the judge could not label are left out."""
    return {r["id"]: {role: int(is_refused(r)),
                      "rules": int(classify_refusal(r["question"], r["response"]) != LABELS[0])}
            for r in rows if r.get("refusal_label") in LABELS}


def xstest_groups(rows: list[dict], prefix: str = "") -> dict[str, list[str]]:
    """XSTest ids per set (``safe``: over-refusal; ``unsafe``: refusing is right)."""
    return {f"{prefix}XSTest {label}": [r["id"] for r in rows if r["label"] == label] for label in ("safe", "unsafe")}
