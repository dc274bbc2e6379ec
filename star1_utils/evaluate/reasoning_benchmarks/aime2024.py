"""AIME 2024 (30 problems: 2024 AIME I and II), STAR-1's own copy (``aime_eval.py``).

Prompt: the reference's ``QUERY_TEMPLATE`` verbatim. Grading: the final answer's last ``\\boxed{}``
(else "the answer is N"), compared with ``math-verify`` (the reference: exact string match, then a
GPT-4o equality check). Gold answers are integers 0-999; the reference stripped leading zeros.
"""

from __future__ import annotations

import json

from star1_utils.run.resources import Resource, fetch
from star1_utils.evaluate.safety_benchmarks import evenly_spread
from star1_utils.evaluate.reasoning_benchmarks.common import Grade, grade_math

KEY = "aime2024"
COLUMN = "AIME2024"
VERSION = "aime2024/v1 (STAR-1 datasets/AIME/test.jsonl @ b4933359; prompt aime_eval.QUERY_TEMPLATE; math-verify)"
N_REFERENCE = 30
MAX_TOKENS = 16384

PROMPT = """
Solve the following AIME math problem step by step. The last line of your response should be of the form \\boxed{{X}} where X is the answer to the problem.

{Problem}

IMPORTANT: Your final answer MUST be in the format \\boxed{{X}} where X is your numerical answer. This is critical for automated evaluation.
""".strip()

RESOURCE = Resource(
    name="aime2024",
    mirror_path="benchmarks/aime2024/test.jsonl",
    sha256="e930dc454d55c88967860d7acbf4a1550cfbab0634d3caa516cf74172ce75c6a",
    url=("https://raw.githubusercontent.com/UCSC-VLAA/STAR-1/b49333598887845f148ed1b4d2576dc2bff7581a/"
         "benchmark/reasoning_benchmark/datasets/AIME/test.jsonl"),
    access_note="Public (part of the STAR-1 repository, Apache-2.0; problems (c) MAA).",
)


def build_prompt(row: dict) -> str:
    return PROMPT.format(Problem=row["problem"])


def normalise_gold(answer) -> str:
    """The reference's ``str(answer).lstrip('0')`` (``"0"`` stays ``"0"``)."""
    return str(answer).strip().lstrip("0") or "0"


def load(n: int = 0) -> list[dict]:
    path = fetch(RESOURCE)
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    items = [{"id": f"{KEY}-{r['id']}", "benchmark": KEY, "prompt": build_prompt(r),
              "gold": normalise_gold(r["answer"]), "source_id": str(r["id"]), "url": r.get("url", "")}
             for r in rows]
    return evenly_spread(items, n)


def grade(item: dict, response: str, finish_reason: str | None = None) -> Grade:
    return grade_math(item["gold"], response, finish_reason=finish_reason, integer=True)
