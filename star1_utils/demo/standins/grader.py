"""Stand-in for GPT-4o as the reference's equality checker (notebook 07, ``grading: reference``).
Not a language model: a deterministic program that answers the reference's three grader prompts.

- simple-evals' ``EQUALITY_TEMPLATE`` (AIME) and ``math_judge_instruction`` (MATH): it reads the
  two expressions at the end of the prompt and answers ``Yes`` when math-verify
  (:func:`star1_utils.evaluate.reasoning_benchmarks.common.math_equal`) finds them equal, else ``No``.
  So in the demo a stand-in's "Yes" is exactly math-verify's equality, and a difference between the
  two gradings comes from the reference's extraction (text after the last period, first matches in
  the reasoning), not from the checker.
- ``math_postproc_instruction`` (MATH extraction): the text after the last ``Answer:`` of the
  solution, stripped (what the prompt asks for), else the solution's last non-empty line; an empty
  solution gets an empty reply, which the reference turns into ``"?"``.
"""

from __future__ import annotations

from star1_utils.evaluate.reasoning_benchmarks.common import math_equal

EQUALITY_MARKER = "Look at the following two expressions (answers to a math problem) and judge whether they are equivalent."
RATIONALE = "Do not include a rationale."
EXTRACT_MARKER = "Extract ONLY the final answer from the following solution text."


def _expressions(prompt: str) -> tuple[str, str] | None:
    """The two expressions of an equality prompt (the task after its examples), or None."""
    task = prompt.rpartition(RATIONALE)[2]
    head, sep, second = task.rpartition("\n    Expression 2: ")
    if not sep or "Expression 1: " not in head:
        return None
    return head.partition("Expression 1: ")[2], second


def _extract(prompt: str) -> str:
    """The answer an extraction prompt's solution text states."""
    solution = prompt.partition("Solution text:\n")[2].rpartition("\n\nFinal Answer:")[0]
    if "Answer:" in solution:
        return solution.rpartition("Answer:")[2].strip()
    lines = [ln.strip() for ln in solution.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def respond(messages: list[dict], params: dict) -> dict | None:
    """Answer an equality or extraction prompt of the reference's grader; None for other prompts."""
    prompt = messages[-1]["content"] if messages else ""
    if prompt.startswith(EXTRACT_MARKER):
        return {"content": _extract(prompt), "reasoning_content": None, "finish_reason": "stop"}
    if not prompt.lstrip().startswith(EQUALITY_MARKER):
        return None
    pair = _expressions(prompt)
    if pair is None:
        return None
    equal = bool(pair[0].strip() and pair[1].strip() and math_equal(pair[1].strip(), pair[0].strip()))
    return {"content": "Yes" if equal else "No", "reasoning_content": None, "finish_reason": "stop"}
