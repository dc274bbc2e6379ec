"""Section 2.2, first half: label each instruction with the safety categories it touches (notebook 02).

The reference sends GPT-4o ``CLASSIFICATION_PROMPT_TEMPLATE`` (the instruction and the 8 category
definitions) as one user message whose content is a list with one text part, and reads the reply
with Python's ``eval``. Here the reply is parsed safely (:func:`parse_categories`, never executed). By default
(``classification.lenient_parse``) code fences, a ``<think>`` block and stray text around the list
are tolerated; the list is read as JSON or as a Python literal; every name must be one of the 8
categories or "Other" (case and spacing around "/" are forgiven), and a repeated label is dropped
(``classification.dedupe_labels``). In reference mode (the ``full`` profile) the reply must be a
bare Python list, stored as it is (:func:`parse_reference`). Anything else raises
:class:`~star1_utils.llm.engine.InvalidAnswer`, so the engine retries the item and then records it as a
failure instead of storing garbage.

"Other" items stay in ``classified.jsonl`` (as in the reference) and are excluded before
reasoning generation (:func:`star1_utils.dataset.traces.eligible`), where the reference would crash on
them; this does not change STAR-1, whose selection drops them anyway
(``data_making/data_selection/scorer.py:193-194``).
"""

from __future__ import annotations

import ast
import functools
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from star1_utils.llm import replies
from star1_utils.llm import engine
from star1_utils.dataset import policies
from star1_utils.dataset.policies import CATEGORIES, OTHER
from star1_utils.dataset.release import STAR1_RELEASE, load_star1_release  # noqa: F401  (STAR1_RELEASE re-exported)

ALLOWED: tuple[str, ...] = (*CATEGORIES, OTHER)



def _key(name: str) -> str:
    return re.sub(r"\s*/\s*", " / ", " ".join(name.split())).casefold()


_CANONICAL = {_key(n): n for n in ALLOWED}


def build_prompt(instruction: str) -> str:
    """The reference prompt for one instruction (template and definitions verified by SHA-256)."""
    return policies.template("CLASSIFICATION_PROMPT_TEMPLATE").format(
        instruction=instruction, category_definitions=policies.template("CATEGORY_DEFINITION"))


def build_messages(item: dict) -> list[dict]:
    """The reference's request: one user message, content = one text part, no system message."""
    return [{"role": "user", "content": [{"type": "text", "text": build_prompt(item["question"])}]}]


def _candidate_lists(text: str) -> list[str]:
    """Bracketed substrings, outermost first, from the first ``[`` onwards."""
    out = []
    for start in [m.start() for m in re.finditer(r"\[", text)]:
        depth = 0
        in_str: str | None = None
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if ch == "\\":
                    continue
                if ch == in_str:
                    in_str = None
            elif ch in "\"'":
                in_str = ch
            elif ch == "[":
                depth += 1
            elif ch == "]":
                depth -= 1
                if depth == 0:
                    out.append(text[start:i + 1])
                    break
    return out


def parse_reference(text: str) -> list:
    """The reference's reading of a classifier reply: the whole reply must be a Python list.

    ``category_classification.py:42`` retries unless ``eval(content)`` is a ``list`` and ``:70``
    stores that list as it is: names unchecked, repeats and order kept, an empty list accepted.
    Read with ``ast.literal_eval`` (as ``eval``, leading spaces and tabs are ignored), so a reply
    the reference would execute as code is refused here; raises ``engine.InvalidAnswer`` (retried).
    """
    try:
        value = ast.literal_eval(str(text or ""))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
        raise engine.InvalidAnswer(f"not a bare Python list ({type(e).__name__}): {str(text)[:60]!r}") from None
    if not isinstance(value, list):
        raise engine.InvalidAnswer(f"a {type(value).__name__}, not a list: {str(text)[:60]!r}")
    return value


def parse_categories(text: str, *, lenient: bool = True, dedupe: bool = True) -> list:
    """The category list of a classifier reply; raises ``engine.InvalidAnswer`` (the item is retried).

    ``lenient`` (``classification.lenient_parse``, the default): accepts ``["Self-Harm"]``, a
    fenced block (```json ... ```), a list preceded or followed by prose, single quotes and a
    trailing comma; names are mapped to their canonical spelling and must be one of the 8 or
    "Other". ``lenient=False``: the reference's rule, :func:`parse_reference`. ``dedupe``
    (``classification.dedupe_labels``): a repeated label is dropped; the reference keeps it, so
    its policy appears twice in the prompts and it counts twice in the selection score. The
    model's order is kept either way.
    """
    names = _parse_lenient(text) if lenient else parse_reference(text)
    return list(dict.fromkeys(names)) if dedupe else names


def parser(cfg):
    """The profile's reading of classifier replies (``classification.lenient_parse`` and
    ``dedupe_labels``), as a ``parse`` function for the engine."""
    c = cfg.classification
    return functools.partial(parse_categories, lenient=c.lenient_parse, dedupe=c.dedupe_labels)


def _parse_lenient(text: str) -> list[str]:
    """The suite's tolerant reading (see :func:`parse_categories`); repeats are kept."""
    if text is None or not str(text).strip():
        raise engine.InvalidAnswer("empty answer")
    _, answer = replies.split_think(str(text))
    answer = re.sub(r"```[a-zA-Z]*", " ", answer)
    candidates = _candidate_lists(answer)
    if not candidates:
        raise engine.InvalidAnswer(f"no list in the answer: {answer[:80]!r}")
    errors = []
    for cand in candidates:
        value: Any = None
        try:
            value = json.loads(cand)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(cand)  # literals only; nothing is executed
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                errors.append(f"not a list literal: {cand[:60]!r}")
                continue
        if not isinstance(value, (list, tuple)) or not value:
            errors.append(f"empty or not a list: {cand[:60]!r}")
            continue
        if not all(isinstance(v, str) for v in value):
            errors.append(f"list items must be strings: {cand[:60]!r}")
            continue
        names: list[str] = []
        unknown = []
        for v in value:
            canon = _CANONICAL.get(_key(v))
            if canon is None:
                unknown.append(v)
            else:
                names.append(canon)
        if unknown:
            errors.append(f"unknown category name(s) {unknown}")
            continue
        return names
    raise engine.InvalidAnswer("; ".join(errors))


def classify(cfg, items: list[dict], cache_path: str | Path | None, desc: str = "classifying") -> engine.BatchOutcome:
    """Label every item (dicts with ``id`` and ``question``) with the classifier role."""
    return engine.run_batch(
        cfg, "classifier", items,
        build_messages=build_messages,
        parse=parser(cfg),
        decoding={"max_completion_tokens": cfg.classification.max_completion_tokens},
        cache_path=cache_path, desc=desc)


def labelled_rows(items: list[dict], outcome: engine.BatchOutcome) -> list[dict]:
    """Input rows plus ``category`` (list, the model's order), for the items that got a label."""
    return [{**it, "category": outcome.results[it["id"]].parsed} for it in items if it["id"] in outcome.results]


def category_counts(rows: list[dict]) -> Counter:
    """Multi-label counts: an item with two categories counts once for each."""
    c: Counter = Counter()
    for r in rows:
        c.update(r["category"])
    return Counter({k: c.get(k, 0) for k in ALLOWED})


def load_release() -> list[dict]:
    """The released STAR-1 rows (``id``, ``question``, ``category`` as a list, ...)."""
    rows = load_star1_release()
    for r in rows:
        if isinstance(r.get("category"), str):  # defensively accept a stringified list
            r["category"] = parse_categories(r["category"])
    return rows


def agreement(gold: dict, pred: dict):
    """Per-category precision, recall and F1 of ``pred`` against ``gold`` (both id -> label list).

    Only ids present in both are compared. Returns a DataFrame indexed by category with a
    final "micro" row.
    """
    import pandas as pd

    ids = [i for i in gold if i in pred]
    rows = []
    tot = Counter()
    for c in ALLOWED:
        tp = sum(c in gold[i] and c in pred[i] for i in ids)
        fp = sum(c not in gold[i] and c in pred[i] for i in ids)
        fn = sum(c in gold[i] and c not in pred[i] for i in ids)
        tot.update(tp=tp, fp=fp, fn=fn)
        rows.append(_prf(c, tp, fp, fn))
    rows.append(_prf("micro", tot["tp"], tot["fp"], tot["fn"]))
    df = pd.DataFrame(rows).set_index("category")
    df.attrs["n_items"] = len(ids)
    df.attrs["exact_match"] = sum(set(gold[i]) == set(pred[i]) for i in ids) / max(1, len(ids))
    return df


def _prf(name, tp, fp, fn) -> dict:
    p = tp / (tp + fp) if tp + fp else float("nan")
    r = tp / (tp + fn) if tp + fn else float("nan")
    f = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan")
    return {"category": name, "support": tp + fn, "predicted": tp + fp, "precision": p, "recall": r, "f1": f}


def confusion(gold: dict, pred: dict):
    """Rows: GPT-4o's label; columns: the stand-in's labels; cell: share of the row's items given that label."""
    import pandas as pd

    ids = [i for i in gold if i in pred]
    m = pd.DataFrame(0.0, index=list(ALLOWED), columns=list(ALLOWED))
    n = Counter()
    for i in ids:
        for g in gold[i]:
            n[g] += 1
            for p in pred[i]:
                m.loc[g, p] += 1
    for g in ALLOWED:
        if n[g]:
            m.loc[g] /= n[g]
    return m.loc[[g for g in ALLOWED if n[g]]]
