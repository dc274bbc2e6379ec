"""Reading model replies: where the reasoning ends, what the final answer is, and the JSON a
scorer returns. Every stage reads replies through these functions, so one rule has one home.

Three splits exist because the reference uses three, and each stage must reproduce its own:

- :func:`split_think` / :func:`normalise`: the stored form of a reply,
  ``"<think>\\n{reasoning}\\n</think>\\n\\n{answer}"`` (the teacher's traces, notebook 03);
- :func:`split_scored_response`: the scorers' regex (``scorer.py:71-78``,
  ``overrefusal_ablation/scorer/scorer.py:59-66``), which fills the scorer prompt's ``cot`` and
  ``response`` slots (notebooks 04 and 08);
- :func:`split_training_response`: the training script's cleaning and regex (``train/sft.py:55``),
  which decides what the model is trained on (notebook 05);
- :func:`split_final_answer`: the evaluation split (notebooks 06-08): the answer follows the
  **last** ``</think>``; a ``<think>`` that never closes leaves no answer at all.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Iterator
from typing import Any

#: The stored form's split (the opening tag may be missing, as in R1's raw output).
STORED_THINK_RE = re.compile(r"^\s*(?:<think>)?(.*?)</think>(.*)$", re.S)
#: The scorers' reasoning/answer split (``scorer.py:71-78``, ``overrefusal_ablation/scorer/scorer.py:59-66``).
SCORER_COT_RE = re.compile(r"<think>\n?(.*?)\n?</think>\n?\n?(.*)", re.DOTALL)
#: The training script's split (``train/sft.py:55``), applied after ``replace("\\/", "/").strip()``.
TRAINING_THINK_RE = re.compile(r"<think>\s*(.*?)\s*</think>\s*(.*)", re.DOTALL)
#: The scorers' fence search (``scorer.py:101``).
JSON_FENCE_RE = re.compile(r"```json([\s\S]*?)```")
#: Any fenced block, for scorer replies that name another language or none.
ANY_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*\n?([\s\S]*?)```")
_TRAILING_COMMA_RE = re.compile(r",\s*([}\]])")


#: While true (:func:`inline_think_as_returned`), :func:`normalise` leaves inline reasoning as it came.
_INLINE_AS_RETURNED = False


@contextlib.contextmanager
def inline_think_as_returned(enabled: bool = True) -> Iterator[None]:
    """Within the block, a reply whose reasoning is inline is kept exactly as the model returned it.

    The reference stores R1's ``message.content`` as it came
    (``reasoning_generation.py:77``): a reply lacking the opening ``<think>`` stays without it
    (``reasoning.add_think_tag = false``). The engine normalises every reply it reads (in a
    worker thread inside Jupyter), so the choice is a module setting held for the block, not a
    parameter. Reasoning returned separately is still joined in the stored form, which is what
    the reference stored from NIM's inline replies.
    """
    global _INLINE_AS_RETURNED
    before, _INLINE_AS_RETURNED = _INLINE_AS_RETURNED, bool(enabled)
    try:
        yield
    finally:
        _INLINE_AS_RETURNED = before


def normalise(content: str | None, reasoning: str | None = None) -> str:
    """The reference's stored form of a reply.

    ``reasoning`` given separately -> ``"<think>\\n{reasoning}\\n</think>\\n\\n{content}"``;
    content with inline ``<think>...</think>`` (or R1's variant without the opening tag) is
    rewritten to the same form (left as it came inside :func:`inline_think_as_returned`);
    otherwise the plain content.
    """
    content = content or ""
    if reasoning is not None and str(reasoning).strip():
        return f"<think>\n{str(reasoning).strip()}\n</think>\n\n{content.strip()}"
    if "</think>" in content and not _INLINE_AS_RETURNED:
        m = STORED_THINK_RE.match(content)
        if m:
            return f"<think>\n{m.group(1).strip()}\n</think>\n\n{m.group(2).strip()}"
    return content


def reopen_think(prompt: str, text: str) -> str:
    """Put back the ``<think>`` that an R1-style chat template writes at the end of the *prompt*.

    The model's output then starts inside the reasoning; without the tag an answer that never
    reached ``</think>`` (cut at ``max_tokens``) would look like a plain answer. With it, the stored
    text is ``"<think>\n..."`` and :func:`normalise` / the think splitter see the
    reasoning for what it is.
    """
    if prompt.rstrip().endswith("<think>") and "<think>" not in text:
        return "<think>\n" + text.lstrip("\n")
    return text


def split_think(text: str) -> tuple[str | None, str]:
    """``(reasoning, answer)`` of a normalised reply; ``(None, text)`` when it has no reasoning."""
    if "</think>" not in (text or ""):
        return None, text or ""
    m = STORED_THINK_RE.match(text)
    return (m.group(1).strip(), m.group(2).strip()) if m else (None, text)


def split_scored_response(response: str | None) -> tuple[str | None, str | None]:
    """``(cot, answer)`` with the scorers' regex, both stripped; ``(None, None)`` when it does not
    match (the reference then formats the prompt with the literal string ``None``)."""
    m = SCORER_COT_RE.search(response or "")
    return (m.group(1).strip(), m.group(2).strip()) if m else (None, None)


def split_training_response(response: str) -> tuple[str, str, bool]:
    """``(thinking, answer, matched)`` with the training script's cleaning and regex.

    ``response.replace("\\\\/", "/").strip()``, then :data:`TRAINING_THINK_RE`; with no match the
    thinking is empty and the answer is the whole response (the reference prints a warning).
    """
    response = response.replace("\\/", "/").strip()
    m = TRAINING_THINK_RE.search(response)
    if not m:
        return "", response, False
    return m.group(1).strip(), m.group(2).strip(), True


def split_final_answer(text: str | None) -> dict:
    """Split a generation into reasoning and final answer, as the evaluations read it.

    Returns ``{"reasoning", "answer", "status"}`` with status

    - ``"no_think"``: no ``<think>`` / ``</think>`` tag: all of it is the answer;
    - ``"closed"``: one reasoning block closed by ``</think>`` (the opening tag may be missing, as
      when the chat template already opened it): the answer is what follows;
    - ``"multiple"``: several ``</think>``: the answer is what follows the **last** one;
    - ``"unclosed"``: ``<think>`` opened and never closed (the model ran out of tokens while
      reasoning): there is **no** final answer (``""``), all of it is reasoning.
    """
    text = text or ""
    closes = text.count("</think>")
    if closes == 0:
        if "<think>" in text:
            return {"reasoning": text.replace("<think>", "\n").strip(), "answer": "", "status": "unclosed"}
        return {"reasoning": None, "answer": text.strip(), "status": "no_think"}
    head, _, answer = text.rpartition("</think>")
    return {"reasoning": re.sub(r"</?think>", "\n", head).strip(), "answer": answer.strip(),
            "status": "closed" if closes == 1 else "multiple"}


def final_answer(text: str | None) -> str:
    """The final answer of a generation (:func:`split_final_answer`'s ``answer``)."""
    return split_final_answer(text)["answer"]


def json_candidates(text: str) -> list[str]:
    """Blocks that may hold a scorer's JSON verdict, most likely first: ```` ```json ```` fences
    (the reference's only form), then any fence, then bare ``{...}`` spans from the last one back
    (the verdict usually comes last)."""
    blocks = [m.group(1) for m in JSON_FENCE_RE.finditer(text)]
    if not blocks:
        blocks = [m.group(1) for m in ANY_FENCE_RE.finditer(text)]
    if not blocks:
        start = text.rfind("{")
        while start != -1:
            end = text.find("}", start)
            if end != -1:
                blocks.append(text[start:end + 1])
            start = text.rfind("{", 0, start)
    return blocks


def load_json_like(block: str) -> Any:
    """JSON (one trailing comma tolerated), else a Python literal; ``None`` when neither parses.
    ``ast.literal_eval`` reads literals only: no names, calls or attribute access, never ``eval``."""
    body = block.strip()
    try:
        return json.loads(_TRAILING_COMMA_RE.sub(r"\1", body))
    except json.JSONDecodeError:
        pass
    try:
        return ast.literal_eval(body)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
