"""MATH-500 (the 500-problem test subset of MATH from "Let's Verify Step by Step"), STAR-1's copy.

Prompt: simple-evals' MATH ``QUERY_TEMPLATE`` ("... Answer: $ANSWER ..."). Grading: the final
answer's last ``\\boxed{}`` or, failing that, its last ``Answer: ...`` line, compared with
``math-verify``. The reference cut the whole response at its **last period** (``Answer: 3.5`` became
``5``), then made two GPT-4o calls per item (extraction, then judging); ``math-verify`` replaces
both, at no cost and deterministically. The optional equality judge of
:mod:`star1_utils.evaluate.reasoning` keeps reference-style LLM judging available.
"""

from __future__ import annotations

import json

from star1_utils.run.resources import Resource, fetch
from star1_utils.evaluate.safety_benchmarks import evenly_spread
from star1_utils.evaluate.reasoning_benchmarks.common import Grade, grade_math

KEY = "math500"
COLUMN = "MATH-500"
VERSION = "math500/v1 (STAR-1 datasets/MATH/test.jsonl = prm800k math_splits/test; simple-evals MATH prompt; math-verify)"
N_REFERENCE = 500
MAX_TOKENS = 16384

PROMPT = """
Solve the following math problem step by step. The last line of your response should be of the form Answer: $ANSWER (without quotes) where $ANSWER is the answer to the problem.

{Question}

Remember to put your answer on its own line after "Answer:", and you do not need to use a \\boxed command.
""".strip()

RESOURCE = Resource(
    name="math500",
    mirror_path="benchmarks/math500/test.jsonl",
    sha256="a239272930e5202bf1d5275f7fa475a56687c775a61f1354a6d3371bf9dd7a94",
    url=("https://raw.githubusercontent.com/UCSC-VLAA/STAR-1/b49333598887845f148ed1b4d2576dc2bff7581a/"
         "benchmark/reasoning_benchmark/datasets/MATH/test.jsonl"),
    access_note="Public (MIT; same problems as openai/prm800k math_splits/test.jsonl).",
)


def build_prompt(row: dict) -> str:
    return PROMPT.format(Question=row["problem"])


def load(n: int = 0) -> list[dict]:
    path = fetch(RESOURCE)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    items = [{"id": f"{KEY}-{r['unique_id']}", "benchmark": KEY, "prompt": build_prompt(r), "gold": r["answer"],
              "subject": r["subject"], "level": r["level"]} for r in rows]
    return evenly_spread(items, n)


def grade(item: dict, response: str, finish_reason: str | None = None) -> Grade:
    return grade_math(item["gold"], response, finish_reason=finish_reason)
