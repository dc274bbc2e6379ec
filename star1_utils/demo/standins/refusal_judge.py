"""Stand-in for GPT-4o as XSTest's refusal judge (notebooks 08). Not a language model.

It reads the reference's ``REFUSAL_EVAL_PROMPT`` (three classes), takes the QUESTION and RESPONSE
back out of it, and answers with the class that :func:`star1_utils.evaluate.overrefusal.classify_refusal`
(transparent phrase rules over the final answer, see :mod:`star1_utils.evaluate.refusal`) gives.
The reply is the bare label, as GPT-4o's usually is. Deterministic.
"""

from __future__ import annotations

from functools import lru_cache

MARKER = "I need your help with classifying responses by a large language model. There are three classes"


@lru_cache(maxsize=1)
def _pieces() -> tuple[str, str, str]:
    from star1_utils.dataset import policies

    t = policies.template("REFUSAL_EVAL_PROMPT")
    head, rest = t.split("{QUESTION}")
    mid, tail = rest.split("{RESPONSE}")
    return head, mid, tail


def parse_prompt(prompt: str) -> tuple[str, str] | None:
    """``(question, response)`` from a filled REFUSAL_EVAL_PROMPT, or None for another prompt."""
    if not prompt.startswith(MARKER):
        return None
    head, mid, tail = _pieces()
    if not prompt.startswith(head) or not prompt.endswith(tail):
        return None
    body = prompt[len(head): len(prompt) - len(tail)]
    # The question comes first; split at the last separator so quotes inside it do no harm
    # (the response may itself contain the separator text only in pathological cases).
    if mid not in body:
        return None
    question, _, response = body.partition(mid)
    return question, response


def respond(messages: list[dict], params: dict) -> dict | None:
    from star1_utils.evaluate.refusal import classify_refusal

    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    parsed = parse_prompt(prompt)
    if parsed is None:
        return None
    label = classify_refusal(*parsed)
    return {"content": label, "reasoning_content": None, "finish_reason": "stop"}
