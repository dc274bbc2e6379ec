"""Section 2.3 of the paper: scoring each reasoning trace 0-10 on three criteria (notebook 04).

The reference (``data_making/data_selection/scorer.py``) splits the stored
response ``"<think>\\n{reasoning}\\n</think>\\n\\n{answer}"`` with :data:`COT_RE`, fills
``SCORER_PROMPT_TEMPLATE`` with the instruction, the reasoning, the answer, the item's policies
(the same block as in reasoning generation) and ``SCORER_FORMAT_EXAMPLE``, sends it to GPT-4o as
one user message and reads the answer's fenced JSON with Python ``eval``.

Here the answer is parsed without ``eval`` (:func:`parse_score`). By default
(``selection.lenient_scores``) the fenced block (or, failing that, the last bare ``{...}``) is read
as JSON after dropping trailing commas (the format example itself has one), else with
``ast.literal_eval`` (literals only, no code runs). The three keys must be present (and no others)
with integer values 0-10; anything else raises :class:`star1_utils.llm.engine.InvalidAnswer`, so the
engine asks again and finally records a failure with the item's id (the reference wrote error
records without an id, which crashed its resume). In reference mode (:func:`parse_score_reference`)
an answer without a ```` ```json ```` fence is dropped at once, as the reference drops it, and
recorded as a failure with its id.

:func:`score_items` sends the scorer role's requests through :func:`star1_utils.llm.engine.run_batch`
(cache, concurrency, resume).
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from star1_utils.llm import replies
from star1_utils.llm import engine
from star1_utils.dataset.policies import policies_for, template
from star1_utils.dataset.selection import SCORE_KEYS
from star1_utils.dataset.traces import has_policies



def scorer_prompt(item: dict) -> str:
    """The reference's scorer prompt for one item (question, response, category list)."""
    cot, answer = replies.split_scored_response(item["response"])
    return template("SCORER_PROMPT_TEMPLATE").format(
        instruction=item["question"], cot=cot, response=answer,
        related_policies=policies_for(item["category"]),
        format_example=template("SCORER_FORMAT_EXAMPLE"))


def scorer_messages(item: dict) -> list[dict]:
    """One user message whose content is a list with one text part, as the reference sends it."""
    return [{"role": "user", "content": [{"type": "text", "text": scorer_prompt(item)}]}]


def _as_grade(key: str, value: Any) -> int:
    if isinstance(value, bool):
        raise engine.InvalidAnswer(f"{key} is a boolean ({value!r}), not a grade 0-10")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int):
        raise engine.InvalidAnswer(f"{key} is {value!r}, not an integer 0-10")
    if not 0 <= value <= 10:
        raise engine.InvalidAnswer(f"{key} is {value}, outside 0-10")
    return value


@dataclass(frozen=True)
class Dropped:
    """A scorer answer the reference drops without asking again; recorded as a failure with its id."""

    reason: str


def parse_score_reference(text: str) -> dict | Dropped:
    """The reference's reading of a scorer answer (``selection.lenient_scores = false``).

    ``scorer.py:102`` takes the first ```` ```json ```` fence; without one the item is dropped,
    not retried (``:110-111``). ``:104`` evaluates the fenced block and stores whatever it gives:
    floats, other keys or missing ones included (the all-10 filter then compares each value with
    10, ``:195-197``). Here the block is read with ``ast.literal_eval`` (no code runs); where the
    reference's run would stop (the block does not evaluate, ``:104``, or is not a dict, ``:195``)
    the item is dropped too. A dropped item comes back as :class:`Dropped`, so the engine keeps
    the answer instead of sampling another one.
    """
    m = replies.JSON_FENCE_RE.search(text or "")
    if m is None:
        return Dropped("no ```json fence: the reference drops the item (scorer.py:102-111)")
    try:
        value = ast.literal_eval(m.group(1).strip())
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return Dropped("the fenced block is not a Python literal: the reference's eval() stops its run "
                       "(scorer.py:104)")
    if not isinstance(value, dict):
        return Dropped(f"the fenced block is a {type(value).__name__}, not a dict: the reference's all-10 "
                       "filter stops its run (scorer.py:195)")
    return value


def parse_score(text: str, lenient: bool = True) -> dict[str, int] | dict | Dropped:
    """The grades from a scorer answer.

    ``lenient`` (``selection.lenient_scores``, the default): the three grades, validated; raises
    :class:`engine.InvalidAnswer` (the engine asks again) when unusable. Accepts prose around a
    ```` ```json ```` fence, an unfenced JSON object, the trailing comma of the reference's format
    example and integral floats; never evaluates code. ``lenient=False``:
    :func:`parse_score_reference`.
    """
    if not lenient:
        return parse_score_reference(text)
    _, answer = replies.split_think(text or "")
    blocks = replies.json_candidates(answer)
    if not blocks:
        raise engine.InvalidAnswer("no JSON found in the answer")
    problems = []
    for block in blocks:
        data = replies.load_json_like(block)
        if not isinstance(data, dict):
            problems.append("not a JSON object")
            continue
        keys = set(map(str, data))
        if keys != set(SCORE_KEYS):
            missing = [k for k in SCORE_KEYS if k not in keys]
            extra = sorted(keys - set(SCORE_KEYS))
            problems.append(f"wrong keys (missing {missing}, unexpected {extra})")
            continue
        return {k: _as_grade(k, data[k]) for k in SCORE_KEYS}
    raise engine.InvalidAnswer(problems[0] if len(problems) == 1 else "; ".join(dict.fromkeys(problems)))


def _as_number(value: Any) -> float:
    """A grade as the tables show it: an int or float as is; anything else (a string, a list,
    ``None``, a boolean) NaN, because the reference's ``== 10`` test would not pass it either."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return float("nan")


def score_table(rows: list[dict], keys: Sequence[str]):
    """The scores as a table: one row per item (index ``id``), one float column per criterion.

    In reference mode a score is whatever dict the scorer's fence held (``scorer.py:104``): keys
    missing, misspelt, of mixed types (``{1: 5, "a": 5}``), values that are strings or lists. Such a
    cell is NaN here, so counts and histograms show what was graded instead of failing on it.
    Notebooks 04 (0-10 grades) and 08 (the 1-5 benign scores) both read their scores through it.
    """
    import pandas as pd

    cells = [{k: _as_number(s.get(k)) if isinstance(s := r.get("score"), dict) else float("nan")
              for k in keys} for r in rows]
    return pd.DataFrame(cells, columns=list(keys),
                        index=pd.Index([r["id"] for r in rows], name="id"), dtype=float)


def parser(cfg):
    """The profile's ``parse`` for scorer answers (``selection.lenient_scores``)."""
    return functools.partial(parse_score, lenient=cfg.selection.lenient_scores)


def decoding(cfg) -> dict:
    """The reference's request parameters: only ``max_completion_tokens`` (default temperature)."""
    return {"max_completion_tokens": cfg.selection.max_completion_tokens}


def score_items(cfg, items: Iterable[dict], *, cache_path: str | Path | None = None,
                desc: str = "scoring", progress: bool = True, **engine_kw: Any):
    """Score items with the profile's scorer role.

    Returns ``(scored, failures, outcome)``: ``scored`` are the items with ``score`` added (input
    order; the reference's fields question, source, id, category, response, score), ``failures``
    ``{"id", "reason", "attempts"}`` records (including items that cannot be scored: no policy
    for "Other", or no category), ``outcome`` the engine's :class:`llm.BatchOutcome`.
    """
    items = list(items)
    sendable, failures = [], []
    for it in items:
        cats = it.get("category") or []
        if not has_policies(cats):
            failures.append({"id": it["id"], "reason": f"no policy to score against (category {cats!r})",
                             "attempts": 0})
        else:
            sendable.append(it)
    outcome = engine.run_batch(cfg, "scorer", sendable, build_messages=scorer_messages, parse=parser(cfg),
                            decoding=decoding(cfg), cache_path=cache_path, desc=desc,
                            retry_on_length=True, progress=progress, **engine_kw)
    scored = []
    for it in sendable:
        res = outcome.results.get(it["id"])
        if res is None:
            continue
        if isinstance(res.parsed, Dropped):
            failures.append({"id": it["id"], "reason": res.parsed.reason, "attempts": 1})
        else:
            scored.append({**it, "score": dict(res.parsed)})
    failed = {f["id"]: f for f in failures + list(outcome.failures)}
    return scored, [failed[it["id"]] for it in items if it["id"] in failed], outcome
