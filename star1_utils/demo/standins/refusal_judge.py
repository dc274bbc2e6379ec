"""Stand-in for GPT-4o as XSTest's refusal judge (notebooks 08). Not a language model.

It reads the reference's ``REFUSAL_EVAL_PROMPT`` (three classes), takes the QUESTION and RESPONSE
back out of it, and answers with the class that :func:`star1_utils.evaluate.refusal.classify_refusal`
(transparent phrase rules over the final answer, see :mod:`star1_utils.evaluate.refusal`) gives.
The reply is the bare label, as GPT-4o's usually is. Deterministic.
"""

from __future__ import annotations

from star1_utils.evaluate import refusal

def respond(messages: list[dict], params: dict) -> dict | None:
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    parsed = refusal.parse_refusal_prompt(prompt)
    if parsed is None:
        return None
    label = refusal.classify_refusal(*parsed)
    return {"content": label, "reasoning_content": None, "finish_reason": "stop"}
