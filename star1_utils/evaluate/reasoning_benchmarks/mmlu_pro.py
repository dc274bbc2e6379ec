"""MMLU-Pro, test split (12,032 questions, 14 categories, up to 10 options A-J).

Counts: the mirror's test split (``TIGER-Lab/MMLU-Pro``, mid-2024 revision) has **12,032** rows, as
the issue and the reference's loader (``split='test'``) say. The paper's Table 1 cites **12,102**,
which is test + the 70-row validation split (the 5-shot exemplars), which the reference never
evaluates. We evaluate the 12,032 and note the difference in ``metrics.json``.

Prompt: the reference's ``mmlu_pro_eval.QUERY_TEMPLATE`` verbatim, ``{options}`` rendered as the
Python list repr of the option letters, options as ``(A): text``. The option texts are cleaned as
the reference's ``format_options`` does (``mmlu_pro_eval.py:80-102``: stripped, five HTML entities
unescaped, an empty option named ``Option X``) with ``options="reference"``
(``reasoning_eval.mmlu_pro_options``), or used as stored with ``"raw"``; 532 of the 12,032 prompts
differ between the two. Grading: the **last** stated letter of the final answer; the reference's
own extraction (first match of its first matching pattern anywhere, case-insensitive, so "the
answer is a ..." scored A) is :func:`reference.mmlu_pro_extract` (``reasoning_eval.grading``).
"""

from __future__ import annotations

import json

from star1_utils.run.resources import Resource, ResourceError, fetch
from star1_utils.evaluate.reasoning_benchmarks import reference
from star1_utils.evaluate.safety_benchmarks import evenly_spread
from star1_utils.evaluate.reasoning_benchmarks.common import (
    BenchmarkUnavailable,
    Grade,
        grade_letter,
)

KEY = "mmlu_pro"
COLUMN = "MMLU-Pro"
VERSION = "mmlu_pro/v1 (TIGER-Lab/MMLU-Pro test, 12,032 rows; mmlu_pro_eval.QUERY_TEMPLATE; last letter)"
N_REFERENCE = 12032
N_PAPER = 12102  # Table 1 header: test (12,032) + validation (70)
MAX_TOKENS = 4096
ALL_LETTERS = "ABCDEFGHIJ"

PROMPT = """
Answer the following multiple choice question. Think step by step before answering.

IMPORTANT: Your final answer MUST be in the format "ANSWER: X" where X is one of the option letters {options}.
For example, if you think option B is correct, the last line of your response should be exactly "ANSWER: B".

Question: {question}

Options:
{formatted_options}
""".strip()

RESOURCE = Resource(
    name="mmlu_pro", mirror_path="benchmarks/mmlu_pro/test.jsonl",
    sha256="de3e252c059914c90d06ceebad992cf4721de926a3d32ce2d4e00c24a972dd79",
    access_note="This JSONL is derived from TIGER-AI-Lab/MMLU-Pro eval_results (see shared/benchmarks/README.md).")
HUB = Resource(
    name="mmlu_pro_hub", mirror_path="benchmarks/mmlu_pro/test-00000-of-00001.parquet", sha256=None,
    hub_repo="TIGER-Lab/MMLU-Pro", hub_filename="data/test-00000-of-00001.parquet", hub_revision="main",
    access_note="Public on the Hub (TIGER-Lab/MMLU-Pro, MIT per its card).")


def letters_for(options: list) -> str:
    return ALL_LETTERS[:len(options)]


def build_prompt(row: dict, options: str = "reference") -> str:
    """The prompt of one row; ``options`` ``"reference"`` cleans the option texts as
    ``format_options`` (mmlu_pro_eval.py:80-102), ``"raw"`` prints them as stored."""
    letters = letters_for(row["options"])
    texts = reference.mmlu_pro_clean_options(row["options"]) if options == "reference" else row["options"]
    formatted = "\n".join(f"({L}): {opt}" for L, opt in zip(letters, texts))
    return PROMPT.format(options=list(letters), question=row["question"], formatted_options=formatted)


def _rows() -> list[dict]:
    try:
        path = fetch(RESOURCE)
        return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]
    except ResourceError as first:
        try:
            import pandas as pd

            df = pd.read_parquet(fetch(HUB))
        except Exception as e:  # noqa: BLE001
            raise BenchmarkUnavailable(f"MMLU-Pro is not available: {first}; Hub: {str(e)[:200]}") from e
        rows = df.to_dict("records")
        for r in rows:
            r["options"] = [str(o) for o in r["options"]]
        return sorted(rows, key=lambda r: int(r["question_id"]))


def load(n: int = 0, options: str = "reference") -> list[dict]:
    """The items (``n`` evenly spread, 0 = all); ``options`` as in :func:`build_prompt`."""
    rows = _rows()
    items = [{"id": f"{KEY}-{r['question_id']}", "benchmark": KEY, "prompt": build_prompt(r, options), "gold": r["answer"],
              "letters": letters_for(r["options"]), "category": r["category"]} for r in rows]
    return evenly_spread(items, n)


def grade(item: dict, response: str, finish_reason: str | None = None) -> Grade:
    return grade_letter(item["gold"], response, item.get("letters") or ALL_LETTERS, finish_reason=finish_reason)
