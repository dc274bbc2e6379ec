"""GPQA-Diamond (198 graduate-level multiple-choice questions, 4 options). **Gated.**

The authors ask that examples not be published in plain text: the data is a gated Hugging Face
dataset (``Idavidrein/gpqa``, CC-BY-4.0; accept the terms on its page) and a password-protected zip.
The reference reads simple-evals' copy (``openaipublic.blob.core.windows.net/simple-evals/
gpqa_diamond.csv``, gpqa_eval.py:25-27) at run time; ``source="simple_evals"``
(``reasoning_eval.gpqa_source``) reads that copy: from ``<STAR1_DATA_MIRROR>/benchmarks/gpqa/
simple-evals/gpqa_diamond.csv`` when the mirror holds it, else from the cache, else downloaded from
that URL. Its row order decides each question's option permutation (one ``Random(46)`` stream over
the rows), so the Hub file (another order) gives other prompts and gold letters. No hash of the
CSV is published, so a download is verified by its content instead (:func:`check_rows`: 198 rows,
the columns the prompt uses, no empty question or answer). No offline mirror holds either copy
(the data is gated), so offline this module raises :class:`BenchmarkUnavailable` with these
instructions and notebook 07 evaluates the other four benchmarks.

Prompt: simple-evals' ``QUERY_TEMPLATE_MULTICHOICE`` (the reference's GPQA code imports a
``format_multichoice_question`` that its ``common.py`` lacks, so GPQA could not run as shipped; we
use the upstream function it meant). Options are permuted per row with one
``random.Random(46)`` stream, ``rng.sample(range(4), 4)`` per row in file order (the reference's seed;
upstream simple-evals uses 0). Grading: the **last** stated letter A-D of the final answer (the
reference took the first ``Answer: X`` match anywhere, reasoning included).
"""

from __future__ import annotations

import csv
import random

from star1_utils.run.resources import Resource, ResourceError, fetch
from star1_utils.evaluate.safety_benchmarks import evenly_spread
from star1_utils.evaluate.reasoning_benchmarks.common import (
    BenchmarkUnavailable,
    Grade,
        grade_letter,
)

KEY = "gpqa_diamond"
COLUMN = "GPQA-Diamond"
VERSION = "gpqa_diamond/v1 (gpqa_diamond.csv; simple-evals QUERY_TEMPLATE_MULTICHOICE; Random(46) permutations; last letter)"
N_REFERENCE = 198
MAX_TOKENS = 32768
LETTERS = "ABCD"
SEED = 46

PROMPT = """
Answer the following multiple choice question. The last line of your response should be of the following format: 'Answer: $LETTER' (without quotes) where LETTER is one of ABCD. Think step by step before answering.

{Question}

A) {A}
B) {B}
C) {C}
D) {D}
""".strip()

ACCESS = ("GPQA-Diamond is gated: open https://huggingface.co/datasets/Idavidrein/gpqa, accept the "
          "terms (the authors ask that examples never be published in plain text), then "
          "`huggingface-cli login` (or set HF_TOKEN) and unset HF_HUB_OFFLINE. Or place the file "
          "gpqa_diamond.csv you obtained under <STAR1_DATA_MIRROR>/benchmarks/gpqa/. The other "
          "benchmarks do not need it.")

HUB = Resource(
    name="gpqa_diamond", mirror_path="benchmarks/gpqa/gpqa_diamond.csv", sha256=None,
    hub_repo="Idavidrein/gpqa", hub_filename="gpqa_diamond.csv", hub_revision="main",
    access_note=ACCESS)
# sha256 None: no hash is published; check_rows verifies the content. Its own mirror path and
# cache name, so the Hub's file (another row order) is never read in its place.
SIMPLE_EVALS = Resource(
    name="gpqa_diamond_simple_evals", mirror_path="benchmarks/gpqa/simple-evals/gpqa_diamond.csv", sha256=None,
    url="https://openaipublic.blob.core.windows.net/simple-evals/gpqa_diamond.csv", access_note=ACCESS)
#: The columns the prompt and the gold letter are built from (gpqa_eval.py:43-54).
COLUMNS_USED = ("Question", "Correct Answer", "Incorrect Answer 1", "Incorrect Answer 2", "Incorrect Answer 3")


def format_question(row: dict, permutation: list[int]) -> tuple[str, str]:
    """(prompt, gold letter) for one CSV row and its option permutation (simple-evals' logic)."""
    choices = [row["Correct Answer"], row["Incorrect Answer 1"], row["Incorrect Answer 2"], row["Incorrect Answer 3"]]
    choices = [choices[i] for i in permutation]
    gold = LETTERS[choices.index(row["Correct Answer"])]
    return PROMPT.format(Question=row["Question"], A=choices[0], B=choices[1], C=choices[2], D=choices[3]), gold


def items_from_rows(rows: list[dict], seed: int = SEED) -> list[dict]:
    rng = random.Random(seed)
    items = []
    for n, row in enumerate(rows):
        prompt, gold = format_question(row, rng.sample(range(4), 4))
        items.append({"id": f"{KEY}-{n:03d}", "benchmark": KEY, "prompt": prompt, "gold": gold,
                      "domain": row.get("High-level domain", "")})
    return items


def check_rows(rows: list[dict], where: str) -> list[dict]:
    """The content check of an unhashed copy: 198 rows holding every column the prompt uses,
    none empty. Raises :class:`ResourceError` naming the file otherwise."""
    if len(rows) != N_REFERENCE:
        raise ResourceError(f"{where}: {len(rows)} rows, GPQA-Diamond has {N_REFERENCE}")
    for n, row in enumerate(rows):
        bad = [c for c in COLUMNS_USED if not str(row.get(c) or "").strip()]
        if bad:
            raise ResourceError(f"{where}: row {n} lacks {', '.join(bad)}")
    return rows


def load(n: int = 0, source: str = "hub") -> list[dict]:
    """The items (``n`` evenly spread, 0 = all) from ``source``: ``"hub"`` or ``"simple_evals"``
    (the reference's CSV; see the module docstring)."""
    try:
        path = fetch(SIMPLE_EVALS if source == "simple_evals" else HUB)
        with open(path, newline="", encoding="utf-8") as f:
            rows = check_rows(list(csv.DictReader(f)), str(path))
    except ResourceError as e:
        raise BenchmarkUnavailable(f"GPQA-Diamond is not available here. {ACCESS} (Details: {str(e)[:300]})") from e
    return evenly_spread(items_from_rows(rows), n)


def grade(item: dict, response: str, finish_reason: str | None = None) -> Grade:
    return grade_letter(item["gold"], response, LETTERS, finish_reason=finish_reason)
