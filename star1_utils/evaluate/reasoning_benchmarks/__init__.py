"""The five reasoning benchmarks of the paper's Table 1, one module each.

=============  ================  ======  ==========  =============================================
key            paper column      n       max_tokens  grading (on the final answer, after </think>)
=============  ================  ======  ==========  =============================================
aime2024       AIME2024          30      16384       last \\boxed{}, math-verify
math500        MATH-500          500     16384       last \\boxed{} or Answer: line, math-verify
gpqa_diamond   GPQA-Diamond      198     32768       last stated letter A-D (gated data)
humaneval      HumanEval         164     16384       code run with the tests in a sandboxed subprocess
mmlu_pro       MMLU-Pro          12,032  4096        last stated letter A-J
=============  ================  ======  ==========  =============================================

Decoding (the reference's sampler): greedy, top_p 0.95, repetition_penalty 1.2, seed 46
(:data:`common.REFERENCE_SAMPLING`), one sample per prompt, no system prompt.
"""

from __future__ import annotations

from types import ModuleType

from star1_utils.evaluate.reasoning_benchmarks import aime2024, gpqa_diamond, humaneval, math500, mmlu_pro
from star1_utils.evaluate.reasoning_benchmarks.common import (
    REFERENCE_SAMPLING,
    STATUSES,
    BenchmarkUnavailable,
    Grade,
    extract_letter,
    last_boxed,
    math_candidate,
    math_equal,
)

MODULES: dict[str, ModuleType] = {m.KEY: m for m in (mmlu_pro, aime2024, math500, gpqa_diamond, humaneval)}
#: Keys in the paper's Table 1 column order.
KEYS = tuple(MODULES)
COLUMNS = {k: m.COLUMN for k, m in MODULES.items()}


def module(key: str) -> ModuleType:
    if key not in MODULES:
        raise KeyError(f"unknown reasoning benchmark {key!r}; choose from {', '.join(MODULES)}")
    return MODULES[key]


def decoding(key: str, *, max_tokens: int = 0, **more) -> dict:
    """The reference decoding for one benchmark; ``max_tokens`` > 0 caps the benchmark's value."""
    m = module(key)
    out = dict(REFERENCE_SAMPLING, max_tokens=min(m.MAX_TOKENS, max_tokens) if max_tokens else m.MAX_TOKENS)
    out.update({k: v for k, v in more.items() if v is not None})
    return out


def load(key: str, n: int = 0, **kw) -> list[dict]:
    """Items ``{"id", "benchmark", "prompt", "gold", ...}`` of one benchmark (``n`` evenly spread, 0 = all).
    Raises :class:`BenchmarkUnavailable` (with access instructions) when the data cannot be had."""
    return module(key).load(n, **kw)


def grade(item: dict, response: str, finish_reason: str | None = None) -> Grade:
    return module(item["benchmark"]).grade(item, response, finish_reason)


__all__ = ["MODULES", "KEYS", "COLUMNS", "REFERENCE_SAMPLING", "STATUSES", "BenchmarkUnavailable", "Grade",
           "module", "decoding", "load", "grade", "last_boxed",
           "math_candidate", "math_equal", "extract_letter"]
