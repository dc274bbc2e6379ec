"""Shared pieces of the five reasoning benchmarks: the final-answer split, math grading with
``math-verify``, multiple-choice letter extraction, the reference decoding and the item shape.

Every benchmark module (``aime2024``, ``math500``, ``gpqa_diamond``, ``humaneval``, ``mmlu_pro``)
exposes the same names: ``KEY``, ``COLUMN`` (the paper's Table 1 column), ``VERSION``,
``N_REFERENCE``, ``MAX_TOKENS``, ``PROMPT`` / ``build_prompt(row)``, ``load()``, ``extract(answer)``
and ``grade(item, response) -> Grade``.

Grading always reads the **final answer**: the text after the last ``</think>``. The reference
(a modified openai/simple-evals) searched the whole response and took first matches, which can
come from the reasoning; here a response whose reasoning never closed has no final answer at all.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import asdict, dataclass, field

from star1_utils.llm import replies

#: The reference's sampler (``sampler/local_sampler.py`` + ``run_all_evals.sh``):
#: greedy (temperature 0), top_p 0.95, repetition_penalty 1.2, seed 46, no system prompt.
#: ``max_tokens`` is per benchmark (each module's ``MAX_TOKENS``).
REFERENCE_SAMPLING = {"temperature": 0.0, "top_p": 0.95, "repetition_penalty": 1.2, "seed": 46}

#: Why an item did not count as correct (the failure analysis of notebook 07).
STATUSES = ("correct", "wrong", "no_answer", "truncated", "error")


@dataclass
class Grade:
    """The verdict on one response.

    correct: the final answer matches the gold answer.
    extracted: what was read from the final answer (``None`` when nothing was found).
    status: ``correct``; ``wrong`` (an answer, not the gold one); ``no_answer`` (nothing
        extractable); ``truncated`` (not correct and the generation stopped at ``max_tokens``,
        set by :func:`finalise`); ``error`` (the grader itself failed).
    detail: a short human-readable reason (e.g. the sandbox's verdict for HumanEval).
    """

    correct: bool
    extracted: str | None
    status: str
    detail: str = ""
    think_status: str = ""
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def finalise(grade: Grade, finish_reason: str | None) -> Grade:
    """Mark a non-correct grade of a generation cut at ``max_tokens`` as ``truncated``."""
    if not grade.correct and finish_reason == "length" and grade.status != "error":
        grade.status = "truncated"
    return grade


# --------------------------------------------------------------------------- \boxed{...}

def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (or ``\\fbox{...}``), with nested braces balanced.

    The reference's regex allowed one level of nesting only, so ``\\boxed{\\frac{\\sqrt{3}}{2}}``
    was lost; this scans braces.
    """
    starts = [m.end() for m in re.finditer(r"\\(?:boxed|fbox)\s*\{", text)]
    for start in reversed(starts):
        depth, i = 1, start
        while i < len(text) and depth:
            c = text[i]
            if c == "\\" and i + 1 < len(text):
                i += 2
                continue
            depth += c == "{"
            depth -= c == "}"
            i += 1
        if depth == 0:
            return text[start:i - 1].strip()
    return None


_ANSWER_LINE = re.compile(r"(?im)^[ \t>*#_]*(?:final\s+)?answer\s*[:：][ \t*]*(.+?)\s*$")


def math_candidate(answer: str) -> str | None:
    """The answer a math response states: the last ``\\boxed{}``, else the last ``Answer: ...`` line
    (the MATH prompt asks for that form), else ``None``."""
    boxed = last_boxed(answer)
    if boxed is not None:
        return boxed
    lines = _ANSWER_LINE.findall(answer)
    if lines:
        cand = lines[-1].strip().strip("*").strip()
        cand = re.sub(r"^\$+|\$+$", "", cand).strip()
        cand = re.sub(r"\.$", "", cand).strip()
        return cand or None
    return None


# --------------------------------------------------------------------------- math-verify

def _mv_timeout() -> int | None:
    # math-verify times out with signal.alarm, which only works in the main thread; elsewhere
    # (threads, Jupyter kernels' worker threads) it must be disabled, or signal.signal raises ValueError.
    return 5 if threading.current_thread() is threading.main_thread() else None


def _mv():
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return parse, verify, LatexExtractionConfig, ExprExtractionConfig


def mv_parse(expr: str) -> list:
    """Parse a bare answer (LaTeX without dollars, or plain) with math-verify; ``[]`` if it fails."""
    parse, _, Latex, Expr = _mv()
    t = _mv_timeout()
    expr = expr.strip()
    if not expr:
        return []
    for candidate in (f"${expr}$", f"\\boxed{{{expr}}}", expr):
        out = parse(candidate, extraction_config=[Latex(boxed_match_priority=0), Expr()],
                    parsing_timeout=t)
        if out:
            return out
    return []


def math_equal(gold: str, predicted: str) -> bool:
    """``math-verify``'s equivalence of two bare answers (sympy; numbers, fractions, intervals,
    tuples, sets, equations, LaTeX formatting differences). Exact string equality short-cuts."""
    ng, np_ = _norm_str(gold), _norm_str(predicted)
    if ng == np_:
        return True
    # Numbers written in a base ("52_8", "4210_{5}"): math-verify drops subscripts, so compare
    # digits and base exactly.
    bg, bp = _BASE.fullmatch(ng), _BASE.fullmatch(np_)
    if bg or bp:
        return bool(bg and bp and bg.group(1).lstrip("0") == bp.group(1).lstrip("0") and bg.group(2) == bp.group(2))
    # Plain decimals: exact (math-verify rounds to 6 places, so .0000672 == .0000673 there).
    dg, dp = _DECIMAL.fullmatch(_thousands(ng)), _DECIMAL.fullmatch(_thousands(np_))
    if dg and dp:
        from fractions import Fraction

        return Fraction(dg.group(0)) == Fraction(dp.group(0))
    g, p = mv_parse(gold), mv_parse(predicted)
    if not g or not p:
        return False
    _, verify, _, _ = _mv()
    try:
        return bool(verify(g, p, timeout_seconds=_mv_timeout()))
    except Exception:  # noqa: BLE001 - an unverifiable pair is not equal
        return False


_BASE = re.compile(r"(?:\\(?:text|mbox|mathrm)\{)?([0-9A-Za-z]+)\}?_\{?(\d+)\}?")
_DECIMAL = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)")


def _thousands(s: str) -> str:
    """``1,000`` -> ``1000``; ``1,2`` (a list) is left alone."""
    return s.replace(",", "") if re.fullmatch(r"[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s) else s


def _norm_str(s: str) -> str:
    s = re.sub(r"\\(?:left|right|displaystyle|!|,|;|:)", "", s or "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("$", "")
    return re.sub(r"\s+", "", s)


def grade_math(gold: str, response: str, *, finish_reason: str | None = None, integer: bool = False) -> Grade:
    """Grade a math response: candidate from the final answer, then :func:`math_equal`."""
    split = replies.split_final_answer(response)
    answer, think = split["answer"], split["status"]
    cand = math_candidate(answer)
    if cand is None and integer:
        m = re.findall(r"(?i)(?:the\s+)?(?:final\s+)?answer\s+(?:is|=)\s*\$?(\d+)", answer)
        cand = m[-1] if m else None
    if cand is None:
        return finalise(Grade(False, None, "no_answer", "no \\boxed{} or Answer: line in the final answer",
                              think), finish_reason)
    try:
        ok = math_equal(gold, cand)
    except Exception as e:  # noqa: BLE001
        return finalise(Grade(False, cand, "error", f"{type(e).__name__}: {e}"[:200], think), finish_reason)
    return finalise(Grade(ok, cand, "correct" if ok else "wrong", "", think), finish_reason)


# --------------------------------------------------------------------------- multiple choice

def extract_letter(answer: str, letters: str) -> str | None:
    """The **final stated** option letter of a multiple-choice answer, or ``None``.

    Looks for explicit statements (``ANSWER: X``, ``Answer: (X)``, ``**Answer:** X``, ``the answer
    is X``, ``\\boxed{X}``, ``答案是 X``) and takes the **last** one; the letter must be an upper-case
    valid option not followed by another letter ("Answer: Because..." is not B; "the answer is a
    prime" is not A). Otherwise a last line that is just a letter (``C``, ``(C)``, ``C.``).
    The reference took the first match of its first matching pattern, case-insensitively.
    """
    cls = f"[{re.escape(letters)}]"
    not_pronoun = r"(?!\s+(?:think|believe|am|would|will|guess|need|should)\b)"
    opt = rf"(?:\$?\\?(?:text|textbf|mathrm)?\{{?)?\(?({cls})\)?\}}?\$?"
    patterns = [
        rf"\b(?i:answer)\s*(?i:is)?\s*[:：]?\s*\**\s*[:：]?\s*{opt}(?![A-Za-z0-9]){not_pronoun}",
        rf"\\boxed\{{\s*(?:\\text\{{)?\(?({cls})\)?\}}?\s*\}}",
        rf"答案\s*[是为:：]?\s*\(?({cls})\)?",
        rf"(?i:correct\s+(?:option|choice|answer)\s+is)\s*[:：]?\s*\**{opt}(?![A-Za-z0-9]){not_pronoun}",
    ]
    best: tuple[int, str] | None = None
    for pat in patterns:
        for m in re.finditer(pat, answer):
            letter = next(g for g in m.groups() if g)
            if best is None or m.start() >= best[0]:
                best = (m.start(), letter)
    if best:
        return best[1]
    for line in reversed([ln.strip() for ln in answer.strip().splitlines() if ln.strip()]):
        m = re.fullmatch(rf"\**\(?({cls})\)?[.:]?\**", line)
        if m:
            return m.group(1)
        break  # only the last non-empty line
    return None


def grade_letter(gold: str, response: str, letters: str, *, finish_reason: str | None = None) -> Grade:
    split = replies.split_final_answer(response)
    answer, think = split["answer"], split["status"]
    letter = extract_letter(answer, letters)
    if letter is None:
        return finalise(Grade(False, None, "no_answer", "no stated option letter in the final answer", think),
                        finish_reason)
    ok = letter == gold
    return finalise(Grade(ok, letter, "correct" if ok else "wrong", "", think), finish_reason)


class BenchmarkUnavailable(RuntimeError):
    """A benchmark cannot be loaded here (gated, offline, or not downloaded); the message says how
    to get access. Notebook 07 reports such a benchmark as missing and evaluates the rest."""
