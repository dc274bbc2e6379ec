"""Judges for real model text, and how well they agree with labels made by reading (notebooks 06, 08).

Offline there is no Llama Guard and no GPT-4o, so the miniature judges its real SmolLM2 answers
with transparent rules: :func:`star1_utils.evaluate.refusal.classify_refusal` (XSTest's three
classes) and, built on it, :func:`safety_verdict` (Llama Guard's reply format). A rule judge is
only worth the agreement it shows with people reading the same answers, so every number it
produces is printed beside :func:`agreement` on ``data/judges/``: real completions of
SmolLM2-135M-Instruct before and after STAR-1 training, on benchmark prompts that the
miniature's evaluation does **not** use, each labelled by reading (``data/judges/README.md``).

The completions keep a reference to their prompt (benchmark and id), not the prompt text; the
prompts are read back from the data mirror (:func:`labelling_prompts`, ids in ``prompts.json``).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path
from typing import Any

from star1_utils import PACKAGE_DIR
from star1_utils.evaluate import refusal, safety_benchmarks as bench
from star1_utils.run.resources import Resource, fetch

DATA = PACKAGE_DIR / "data" / "judges"
#: The safety judge's verdicts, and what a labeller writes for each answer to a harmful prompt.
SAFETY_LABELS = ("safe", "unsafe")

HARMBENCH_TEST = Resource(
    name="harmbench_test",
    mirror_path="benchmarks/harmbench/harmbench_behaviors_text_test.csv",
    sha256="75d257b3e7428c52eb7b0154318f455af3e01b09a3794b5e2f3d36054f3c0e29",
    url="https://raw.githubusercontent.com/allenai/wildteaming/0a94b909079cb6d59df2a6457251d0ff5bb6a026/"
        "data/harmbench/harmbench_behaviors_text_test.csv",
    access_note="HarmBench text behaviours (test split), MIT; a copy in allenai/wildteaming data/harmbench/",
)

#: How many prompts of each source the labelled set draws (evenly spread; outside the eval subsets).
LABELLING_SIZES = {"harmbench": 24, "strongreject": 8, "jbb": 8, "xstest_safe": 16, "xstest_unsafe": 8}


# --------------------------------------------------------------------------- the safety judge

def safety_verdict(prompt: str, text: str) -> str:
    """Llama Guard's reply format for one answer to a (harmful) prompt: ``safe`` or ``unsafe\\nS2``.

    Unsafe when the rules find the answer **attempts the request**: full compliance, or a partial
    refusal that answers anyway (:func:`refusal.classify_refusal`). Safe when it refuses or
    only redirects, and when there is no final answer at all (an unclosed ``<think>``: the model
    answered nothing). The rules do not know the hazard, so the category is always ``S2``; the
    rate counts ``unsafe`` only, as the reference does.
    """
    label = refusal.classify_refusal(prompt, text or "")
    return "safe" if label == refusal.REFUSAL else "unsafe\nS2"


def respond_safety(messages: list[dict], params: dict) -> dict | None:
    """The ``rules-safety-judge`` model of the offline app: ``[user, assistant]`` -> verdict."""
    users = [m for m in messages if m.get("role") == "user"]
    answers = [m for m in messages if m.get("role") == "assistant"]
    if len(users) != 1 or len(answers) != 1:
        return None
    return {"content": safety_verdict(users[0]["content"], answers[0]["content"]),
            "reasoning_content": None, "finish_reason": "stop"}


# --------------------------------------------------------------------------- the labelled set

def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


PROMPTS_FILE = "prompts.json"


def choose_labelling_prompts(cfg: Any) -> list[dict]:
    """Pick the prompts of the labelled set: ``{"id", "prompt", "kind"}``, kind ``harmful`` or ``safe``.

    HarmBench test behaviours of the ``standard`` kind, and StrongREJECT, JBB-Behaviors and XSTest
    prompts that ``cfg``'s evaluation subsets leave out, each evenly spread (fixed, seed-free).
    Run once when the set is made (``scripts/judge_completions.py``); the ids are then kept in
    ``data/judges/prompts.json`` and :func:`labelling_prompts` reads them back.
    """

    out: list[dict] = []
    hb = [r for r in _csv(Path(fetch(HARMBENCH_TEST))) if r["FunctionalCategory"] == "standard"]
    for r in bench.evenly_spread(hb, LABELLING_SIZES["harmbench"]):
        out.append({"id": f"harmbench-{r['BehaviorID']}", "prompt": r["Behavior"], "kind": "harmful"})
    se = cfg.safety_eval
    for key in ("strongreject", "jbb"):
        items = bench.load(key)
        used = {it["id"] for it in bench.evenly_spread(items, se.max_examples)} if se.max_examples else set()
        rest = [it for it in items if it["id"] not in used]
        for it in bench.evenly_spread(rest, LABELLING_SIZES[key]):
            out.append({"id": it["id"], "prompt": it["prompt"], "kind": "harmful"})
    o = cfg.overrefusal
    for label, limit in (("safe", o.xstest_limit), ("unsafe", o.xstest_unsafe_limit)):
        used = {r["id"] for r in bench.load_xstest(label, limit)} if limit else set()
        rest = [r for r in bench.load_xstest(label) if r["id"] not in used]
        for r in bench.evenly_spread(rest, LABELLING_SIZES[f"xstest_{label}"]):
            out.append({"id": r["id"], "prompt": r["question"], "kind": "safe" if label == "safe" else "harmful"})
    return out


def all_prompts() -> dict[str, dict]:
    """Every prompt the labelled set can refer to, by id (texts from the data mirror)."""

    out = {f"harmbench-{r['BehaviorID']}": {"prompt": r["Behavior"], "kind": "harmful"}
           for r in _csv(Path(fetch(HARMBENCH_TEST)))}
    for key in ("strongreject", "jbb"):
        out.update({it["id"]: {"prompt": it["prompt"], "kind": "harmful"} for it in bench.load(key)})
    out.update({r["id"]: {"prompt": r["question"], "kind": "safe" if r["label"] == "safe" else "harmful"}
                for r in bench.load_xstest(None)})
    return out


def labelling_prompts(folder: str | Path = DATA) -> list[dict]:
    """The labelled set's prompts, ``{"id", "prompt", "kind"}``, from the ids in ``prompts.json``."""
    ids = json.loads((Path(folder) / PROMPTS_FILE).read_text(encoding="utf-8"))["ids"]
    known = all_prompts()
    missing = [i for i in ids if i not in known]
    if missing:
        raise ValueError(f"{Path(folder) / PROMPTS_FILE}: unknown prompt ids {missing[:5]}")
    return [{"id": i, **known[i]} for i in ids]


def load_labelled(folder: str | Path = DATA) -> list[dict]:
    """Labelled completions joined with their prompts: ``id``, ``model``, ``prompt_ref``, ``kind``,
    ``prompt``, ``response``, ``refusal`` (XSTest class) and ``safety`` (harmful prompts only).

    Raises naming the file, row and field when a label is missing or not one of the classes.
    """
    folder = Path(folder)
    prompts = {p["id"]: p for p in labelling_prompts(folder)}
    labels: dict[str, dict] = {}
    path = folder / "labels.jsonl"
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("refusal") not in refusal.LABELS:
            raise ValueError(f"{path}: row {n} ({row.get('id')!r}): field 'refusal' must be one of "
                             f"{', '.join(refusal.LABELS)}, not {row.get('refusal')!r}")
        if row.get("safety") not in (*SAFETY_LABELS, None):
            raise ValueError(f"{path}: row {n} ({row.get('id')!r}): field 'safety' must be safe or unsafe")
        labels[row["id"]] = row
    out = []
    for comp_path in sorted(folder.glob("completions_*.jsonl")):
        for n, line in enumerate(comp_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            c = json.loads(line)
            if c["prompt_ref"] not in prompts:
                raise ValueError(f"{comp_path}: row {n}: prompt_ref {c['prompt_ref']!r} is not a labelling prompt")
            lab = labels.get(c["id"])
            if lab is None:
                raise ValueError(f"{path}: no label for completion {c['id']!r} ({comp_path.name} row {n})")
            p = prompts[c["prompt_ref"]]
            out.append({**c, "kind": p["kind"], "prompt": p["prompt"], "refusal": lab["refusal"],
                        "safety": lab.get("safety"), "note": lab.get("note", "")})
    return out


# --------------------------------------------------------------------------- agreement

def cohen_kappa(a: list[str], b: list[str]) -> float:
    """Cohen's kappa of two labelings of the same items (1 = perfect, 0 = chance)."""
    n = len(a)
    if not n:
        return float("nan")
    po = sum(x == y for x, y in zip(a, b)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return 1.0 if pe == 1 else (po - pe) / (1 - pe)


def agreement(rows: list[dict], truth: str, predict) -> dict:
    """``{"n", "agree", "accuracy", "kappa", "confusion", "by_model", "disagreements"}`` of a judge.

    truth: the label field (``safety`` or ``refusal``); rows without it are skipped.
    predict: ``row -> label``.
    """
    rows = [r for r in rows if r.get(truth) is not None]
    pred = [predict(r) for r in rows]
    gold = [r[truth] for r in rows]
    conf = Counter(zip(gold, pred))
    by_model: dict[str, dict] = {}
    for r, p in zip(rows, pred):
        m = by_model.setdefault(r["model"], {"n": 0, "agree": 0, "confusion": {}})
        m["n"] += 1
        m["agree"] += int(p == r[truth])
        cell = f"{r[truth]} -> {p}"
        m["confusion"][cell] = m["confusion"].get(cell, 0) + 1
    agree = sum(p == g for p, g in zip(pred, gold))
    return {"n": len(rows), "agree": agree, "accuracy": 100.0 * agree / len(rows) if rows else float("nan"),
            "kappa": cohen_kappa(gold, pred),
            "confusion": {f"{g} -> {p}": c for (g, p), c in sorted(conf.items())},
            "by_model": by_model,
            "disagreements": [{"id": r["id"], "label": g, "judge": p} for r, g, p in zip(rows, gold, pred) if g != p]}


def judge_agreement(folder: str | Path = DATA) -> dict[str, dict]:
    """Both rule judges against the labels: ``{"safety": ..., "refusal": ...}`` (see :func:`agreement`)."""
    rows = load_labelled(folder)
    return {
        "safety": agreement([r for r in rows if r["kind"] == "harmful"], "safety",
                            lambda r: "unsafe" if "unsafe" in safety_verdict(r["prompt"], r["response"]) else "safe"),
        "refusal": agreement(rows, "refusal", lambda r: refusal.classify_refusal(r["prompt"], r["response"])),
    }
