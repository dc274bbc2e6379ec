"""Section 2.2, second half: policy-grounded reasoning traces from the teacher (notebook 03).

For each classified item the reference sends DeepSeek-R1 ``COT_PROMPT_TEMPLATE`` with the
instruction and **only its own categories' policies**, in the classifier's label order, joined
by ``"\\n---\\n"`` (:func:`star1_utils.dataset.policies.policies_for`). Decoding: temperature 0.6,
top_p 0.7, max_tokens 8000 (``cfg.reasoning``). An answer that stops at the token limit
(``finish_reason == "length"``) is retried, then recorded as a failure, as the reference's
``patience`` loop does, but without aborting the run.

The stored ``response`` is the reference's form ``"<think>\\n{reasoning}\\n</think>\\n\\n{answer}"``
whatever the endpoint returns (separate ``reasoning_content`` or inline ``<think>``).

Items labelled "Other" have no policy; the reference raises ``KeyError`` on them
(``data_making/deliberative_reasoning/reasoning_generation/reasoning_generation.py:67-69``). They are
excluded here (:func:`eligible`) and counted in the manifest. STAR-1 drops them at selection
anyway (``data_making/data_selection/scorer.py:193-194``), so the 1K is unchanged.
"""

from __future__ import annotations

from pathlib import Path

from star1_utils.llm import replies
from star1_utils.llm import engine
from star1_utils.dataset import policies
from star1_utils.dataset.policies import OTHER


def build_prompt(instruction: str, categories: list[str]) -> str:
    """The reference reasoning prompt for one item."""
    return policies.template("COT_PROMPT_TEMPLATE").format(
        instruction=instruction, related_policies=policies.policies_for(categories))


def build_messages(item: dict) -> list[dict]:
    """One user message, no system prompt (as the reference)."""
    return [{"role": "user", "content": build_prompt(item["question"], item["category"])}]


def eligible(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """``(kept, excluded)``: items with "Other" among their labels (or none) are excluded."""
    kept, excluded = [], []
    for r in rows:
        (excluded if (not r.get("category") or OTHER in r["category"]) else kept).append(r)
    return kept, excluded


def decoding(cfg) -> dict:
    return {"temperature": cfg.reasoning.temperature, "top_p": cfg.reasoning.top_p,
            "max_tokens": cfg.reasoning.max_tokens}


def parse_trace(text: str) -> dict:
    """Split a normalised reply; an empty answer is invalid (retried)."""
    reasoning, answer = replies.split_think(text)
    if not answer.strip():
        raise engine.InvalidAnswer("empty final answer")
    return {"reasoning": reasoning, "answer": answer}


def generate(cfg, rows: list[dict], cache_path: str | Path | None, desc: str = "reasoning") -> engine.BatchOutcome:
    """Ask the teacher role for a trace for every (eligible) row."""
    return engine.run_batch(cfg, "teacher", rows, build_messages=build_messages, parse=parse_trace,
                         decoding=decoding(cfg), cache_path=cache_path, desc=desc, retry_on_length=True)


def response_rows(rows: list[dict], outcome: engine.BatchOutcome) -> list[dict]:
    """Input fields plus ``response`` (the reference's stored form), for answered items."""
    return [{**r, "response": outcome.results[r["id"]].text} for r in rows if r["id"] in outcome.results]


def length_stats(rows: list[dict]):
    """Per-item words in reasoning and answer, as a DataFrame."""
    import pandas as pd

    out = []
    for r in rows:
        reasoning, answer = replies.split_think(r["response"])
        out.append({"id": r["id"], "n_categories": len(r["category"]),
                    "reasoning_words": len((reasoning or "").split()), "answer_words": len(answer.split())})
    return pd.DataFrame(out)
