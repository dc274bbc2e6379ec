"""Reading model replies (star1_utils.llm.replies) beside the reference's own functions, and the
notebook context's plumbing (cache path, ``take``, students, switches by settings)."""

from __future__ import annotations

import ast
import itertools
import re
import types
from pathlib import Path

import pytest

from star1_utils.llm import replies
from star1_utils.run.config import load_profile
from star1_utils.run import layout
from star1_utils.train import sft

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "star1-code"


def reference_function(relpath: str, name: str, cls: str | None = None):
    """One function (or method) of the reference's source, compiled on its own.

    The reference's modules create API clients and read prompts at import time, so the function is
    taken from the file's syntax tree and compiled with only the standard modules it uses.
    """
    path = REFERENCE / relpath
    if not path.is_file():
        pytest.skip(f"the reference code is not available at {path}")
    tree = ast.parse(path.read_text())
    scope = tree.body
    if cls:
        scope = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls).body
    node = next(n for n in scope if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace: dict = {"re": re}
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(path), "exec"), namespace)
    return namespace[name]


# Replies the way the teacher, a scorer and the students write them, and the ways they go wrong.
SAMPLES = [
    "<think>\nplan the answer\n</think>\n\nI can't help with that, but here is a safer option.",
    "<think>plan</think>answer",
    "<think>\n\n</think>\n\nanswer only",
    "no reasoning at all",
    "",
    "plan without an opening tag\n</think>\n\nanswer",
    "<think>\nstep one\n</think>\n\nfirst\n</think>\n\nsecond",
    "<think>\nnever closed, ran out of tokens",
    "<think>\r\nwindows line ends\r\n</think>\r\n\r\nanswer\r\n",
    "  <think>\n  padded  \n</think>\n\n  answer with\n\nparagraphs  ",
    "<think>\nescaped \\/ slashes\n</think>\n\nhttp:\\/\\/example.org",
    "```json\n{\"a\": 1}\n```",
]


@pytest.mark.parametrize("relpath", ["data_making/data_selection/scorer.py", "overrefusal_ablation/scorer/scorer.py"])
def test_scored_split_is_the_reference_scorers_split(relpath, capsys):
    reference = reference_function(relpath, "extract_cot_and_answer")
    for text in SAMPLES:
        assert replies.split_scored_response(text) == reference(text), text
    capsys.readouterr()  # the reference prints "error" for each reply without a match


@pytest.mark.parametrize("think_flag,base_flag", list(itertools.product([0, 1], [0, 1])))
def test_training_split_is_the_reference_training_scripts(think_flag, base_flag, capsys):
    get_response = reference_function("train/sft.py", "get_response", cls="Train_dataset")
    config = types.SimpleNamespace(think_flag=think_flag, base_flag=base_flag)
    for text in SAMPLES:
        ours = sft.format_response(text, think_flag=think_flag, base_flag=base_flag)
        assert ours == get_response(types.SimpleNamespace(config=config), {"response": text}), text
    capsys.readouterr()


def test_json_fence_is_the_reference_scorers_search():
    text = 'Reasoning first.\n```json\n{"a": 1}\n```\nthen ```json\n{"b": 2}\n```'
    reference = re.search(r"```json([\s\S]*?)```", text)  # scorer.py:102
    assert replies.JSON_FENCE_RE.search(text).group(1) == reference.group(1)
    assert replies.load_json_like(replies.json_candidates(text)[0]) == {"a": 1}


def test_json_candidates_without_a_json_fence():
    assert replies.json_candidates("```\n{'a': 1,}\n```") == ["{'a': 1,}\n"]
    assert replies.load_json_like("{'a': 1,}") == {"a": 1}
    # no fence: bare objects, the last one first (a verdict usually comes last)
    assert replies.json_candidates('x {"a": 1} y {"b": 2}') == ['{"b": 2}', '{"a": 1}']
    assert replies.load_json_like("__import__('os').system('true')") is None  # literals only


@pytest.mark.parametrize("text,expected", [
    ("no tags", {"reasoning": None, "answer": "no tags", "status": "no_think"}),
    ("<think>\nplan\n</think>\n\nNo.", {"reasoning": "plan", "answer": "No.", "status": "closed"}),
    ("plan\n</think>\n\nNo.", {"reasoning": "plan", "answer": "No.", "status": "closed"}),
    ("<think>a</think>b</think>c", {"reasoning": "a\nb", "answer": "c", "status": "multiple"}),
    ("<think>\nstill thinking", {"reasoning": "still thinking", "answer": "", "status": "unclosed"}),
    (None, {"reasoning": None, "answer": "", "status": "no_think"}),
])
def test_final_answer_follows_the_last_closing_tag(text, expected):
    assert replies.split_final_answer(text) == expected
    assert replies.final_answer(text) == expected["answer"]


def test_stored_form_and_its_split():
    assert replies.normalise("answer", reasoning=" plan ") == "<think>\nplan\n</think>\n\nanswer"
    assert replies.normalise("plan</think>answer") == "<think>\nplan\n</think>\n\nanswer"
    assert replies.normalise("plain") == "plain"
    stored = replies.normalise("  answer ", reasoning="plan")
    assert replies.split_think(stored) == ("plan", "answer")
    assert replies.split_think("plain") == (None, "plain")


def test_no_other_module_splits_at_the_closing_tag():
    """One home: outside llm/replies.py no module searches for ``</think>`` with its own regex."""
    offenders = []
    for path in (ROOT / "star1_utils").rglob("*.py"):
        if path.name == "replies.py":
            continue
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "re.compile" in line and "</think>" in line or "rpartition(\"</think>\")" in line:
                offenders.append(f"{path.relative_to(ROOT)}:{n}")
    assert not offenders, offenders


# --------------------------------------------------------------------------- the notebook context

def _ctx(tmp_path, profile="demo", limit=0, key="02"):
    from star1_utils.run.notebook import start

    return start(key, profile=profile, run_dir=str(tmp_path / "run"), limit=limit, quiet=True)


def test_take_is_the_only_meaning_of_limit(tmp_path):
    assert _ctx(tmp_path, limit=3).take(range(10)) == [0, 1, 2]
    assert _ctx(tmp_path).take(range(4)) == [0, 1, 2, 3]  # 0: no limit
    ctx = _ctx(tmp_path)
    assert ctx.cache_path == tmp_path / "run" / "cache" / "llm.sqlite"


def test_switches_come_from_settings_not_the_profile_name(tmp_path):
    demo = _ctx(tmp_path)
    assert demo.tiny_student and demo.is_stand_in("teacher") and demo.cfg.progress_bars
    mini = _ctx(tmp_path, profile="mini")
    assert not mini.tiny_student and mini.cfg.progress_bars
    assert mini.is_stand_in("teacher")  # the miniature's 08 uses the demo's stand-in teacher
    assert not mini.is_stand_in("judge")  # its judges are rules written for real model text
    renamed = load_profile("demo").model_copy(update={"name": "my-course"})
    assert renamed.training.base_model == layout.TINY_MODEL  # the behaviour follows the values


def test_students_come_from_the_context(tmp_path):
    ctx = _ctx(tmp_path, profile="mini", key="06")
    with pytest.raises(FileNotFoundError, match="run notebook 05 first"):
        ctx.students(ctx.cfg.safety_eval)
