"""Section 2.2, second half: policy-grounded reasoning traces from the teacher (notebook 03).

For each classified item the reference sends DeepSeek-R1 ``COT_PROMPT_TEMPLATE`` with the
instruction and **only its own categories' policies**, in the classifier's label order, joined
by ``"\\n---\\n"`` (:func:`star1_utils.dataset.policies.policies_for`). Decoding: temperature 0.6,
top_p 0.7, max_tokens 8000 (``cfg.reasoning``). An answer that stops at the token limit
(``finish_reason == "length"``) is retried, then recorded as a failure, as the reference's
``patience`` loop does, but without aborting the run.

The stored ``response`` is the reference's form ``"<think>\\n{reasoning}\\n</think>\\n\\n{answer}"``
whatever the endpoint returns (separate ``reasoning_content`` or inline ``<think>``).

Items labelled "Other" (or, in reference mode, any name outside the 8) have no policy; the reference raises ``KeyError`` on them
(``data_making/deliberative_reasoning/reasoning_generation/reasoning_generation.py:67-69``). They are
excluded here (:func:`eligible`) and counted in the manifest. STAR-1 drops them at selection
anyway (``data_making/data_selection/scorer.py:193-194``), so the 1K is unchanged.
"""

from __future__ import annotations

import functools
from pathlib import Path

from star1_utils.llm import replies
from star1_utils.llm import engine
from star1_utils.dataset import policies
from star1_utils.dataset.policies import CATEGORIES


def build_prompt(instruction: str, categories: list[str]) -> str:
    """The reference reasoning prompt for one item."""
    return policies.template("COT_PROMPT_TEMPLATE").format(
        instruction=instruction, related_policies=policies.policies_for(categories))


def build_messages(item: dict) -> list[dict]:
    """One user message, no system prompt (as the reference)."""
    return [{"role": "user", "content": build_prompt(item["question"], item["category"])}]


def has_policies(categories) -> bool:
    """Whether every label of an item has a policy: a non-empty list of the 8 category names.

    The reference looks each label up in ``policy_map`` and raises on "Other" or any other name
    (``reasoning_generation.py:67-69``, ``scorer.py:84-86``). In reference mode labels are stored
    as the classifier wrote them, so a misspelt name can reach this point too.
    """
    return isinstance(categories, list) and bool(categories) and all(
        isinstance(c, str) and c in CATEGORIES for c in categories)


def eligible(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(kept, excluded)``: items with "Other" (or any label without a policy, or none) are excluded."""
    kept, excluded = [], []
    for r in rows:
        (kept if has_policies(r.get("category")) else excluded).append(r)
    return kept, excluded


def decoding(cfg) -> dict:
    return {"temperature": cfg.reasoning.temperature, "top_p": cfg.reasoning.top_p,
            "max_tokens": cfg.reasoning.max_tokens}


def parse_trace(text: str, resample_empty: bool = True) -> dict:
    """Split a reply; with ``resample_empty`` (``reasoning.resample_empty``) an empty answer is
    invalid, so the engine samples it again. The reference accepts any reply that finished with
    ``stop`` (``reasoning_generation.py:43-44``), an empty answer included."""
    reasoning, answer = replies.split_think(text)
    if resample_empty and not answer.strip():
        raise engine.InvalidAnswer("empty final answer")
    return {"reasoning": reasoning, "answer": answer}


def parser(cfg):
    """The profile's ``parse`` for teacher replies (``reasoning.resample_empty``)."""
    return functools.partial(parse_trace, resample_empty=cfg.reasoning.resample_empty)


def generate(cfg, rows: list[dict], cache_path: str | Path | None, desc: str = "reasoning") -> engine.BatchOutcome:
    """Ask the teacher role for a trace for every (eligible) row.

    ``reasoning.add_think_tag = false`` keeps inline replies as they came (the reference's
    stored ``response``, :func:`star1_utils.llm.replies.inline_think_as_returned`). The engine
    caches a reply in the form it read it, so those replies have their own cache file beside the
    run's (:func:`as_returned_cache`): a reference-mode run never reads a tag added by a default run.
    """
    as_returned = not cfg.reasoning.add_think_tag
    if as_returned:
        cache_path = as_returned_cache(cache_path)
    with replies.inline_think_as_returned(as_returned):
        return engine.run_batch(cfg, "teacher", rows, build_messages=build_messages, parse=parser(cfg),
                                decoding=decoding(cfg), cache_path=cache_path, desc=desc, retry_on_length=True)


def as_returned_cache(cache_path: str | Path | None) -> Path | None:
    """``cache/llm.sqlite`` -> ``cache/llm.as-returned.sqlite``: the teacher's replies as they came."""
    if cache_path is None:
        return None
    p = Path(cache_path)
    return p.with_name(f"{p.stem}.as-returned{p.suffix}")


def stored_response(text: str, add_think_tag: bool = True) -> str:
    """The ``response`` stored for a reply: normalised (a missing opening ``<think>`` added), or as
    it came when ``add_think_tag`` is off. Normalising is idempotent, so a reply cached as it came
    by a reference-mode run is stored normalised by a default run."""
    return replies.normalise(text) if add_think_tag else text


def response_rows(rows: list[dict], outcome: engine.BatchOutcome, add_think_tag: bool = True) -> list[dict]:
    """Input fields plus ``response`` (:func:`stored_response`), for answered items."""
    return [{**r, "response": stored_response(outcome.results[r["id"]].text, add_think_tag)}
            for r in rows if r["id"] in outcome.results]


def length_stats(rows: list[dict]):
    """Per-item words in reasoning and answer, as a DataFrame."""
    import pandas as pd

    out = []
    for r in rows:
        reasoning, answer = replies.split_think(r["response"])
        out.append({"id": r["id"], "n_categories": len(r["category"]),
                    "reasoning_words": len((reasoning or "").split()), "answer_words": len(answer.split())})
    return pd.DataFrame(out, columns=["id", "n_categories", "reasoning_words", "answer_words"])
