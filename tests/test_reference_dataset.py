"""Reference mode of notebooks 01-04 beside the reference's own code, on the same inputs.

Each test runs a function (or block) of ``star1-code`` with its network, Hub and API calls faked,
and our code with the ``full`` profile's switches (reference mode), and asks for the same output
exactly; where our default differs, a second assertion shows that it does, so each switch is
proven to matter. The reference's modules create API clients at import time, so the LLM stages'
functions are compiled from the files' syntax trees (:func:`reference_env`); the data-collection
modules import cleanly and run as they are, with ``datasets`` reading local files.
"""

from __future__ import annotations

import ast
import importlib
import json
import random
import re
import sys
import types
import zlib
from pathlib import Path

import numpy as np
import pytest

from star1_utils.dataset import classification, collection, scoring, selection, traces
from star1_utils.dataset.policies import CATEGORIES
from star1_utils.llm import engine, replies
from star1_utils.run.config import load_profile

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT.parent / "shared" / "reference" / "star1-code"
COLLECTION_DIR = REFERENCE / "data_making" / "data_collection"
CLASSIFY = "data_making/deliberative_reasoning/category_classification/category_classification.py"
GENERATE = "data_making/deliberative_reasoning/reasoning_generation/reasoning_generation.py"
SCORER = "data_making/data_selection/scorer.py"


def _tree(relpath: str) -> ast.Module:
    path = REFERENCE / relpath
    if not path.is_file():
        pytest.skip(f"the reference code is not available at {path}")
    return ast.parse(path.read_text(), filename=str(path))


def _prompts() -> dict:
    """The constants of the reference's ``prompt.py`` (plain string assignments)."""
    env: dict = {}
    exec(compile(_tree("prompt.py"), str(REFERENCE / "prompt.py"), "exec"), env)
    return env


def reference_env(relpath: str, names: tuple[str, ...], **env) -> dict:
    """The named top-level functions and assignments of a reference file, compiled into ``env``
    (which supplies the names they use instead of the module's imports and API clients)."""
    tree = _tree(relpath)
    nodes = [n for n in tree.body
             if (isinstance(n, ast.FunctionDef) and n.name in names)
             or (isinstance(n, ast.Assign) and any(getattr(t, "id", None) in names for t in n.targets))]
    env.setdefault("re", re)
    exec(compile(ast.Module(body=nodes, type_ignores=[]), str(REFERENCE / relpath), "exec"), env)
    return env


def reference_main_block(relpath: str, kind: type, **env) -> dict:
    """Run the first statement of type ``kind`` inside the file's ``if __name__ == "__main__":``."""
    tree = _tree(relpath)
    main = next(n for n in tree.body if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test))
    node = next(n for n in main.body if isinstance(n, kind))
    exec(compile(ast.Module(body=[node], type_ignores=[]), str(REFERENCE / relpath), "exec"), env)
    return env


FULL = load_profile("full")
DEMO = load_profile("demo")


def test_full_profile_sets_every_dataset_switch_to_the_reference():
    for section, key, ref in [("collection", "reference_compat", True), ("classification", "dedupe_labels", False),
                              ("classification", "lenient_parse", False), ("reasoning", "resample_empty", False),
                              ("reasoning", "add_think_tag", False), ("selection", "lenient_scores", False)]:
        assert getattr(getattr(FULL, section), key) is ref, key
        assert getattr(getattr(DEMO, section), key) is (not ref), key


# ------------------------------------------------------------------------------------------ 01


@pytest.fixture()
def collect_data(monkeypatch, tmp_path):
    """The reference's ``collect_data`` module (and its ``utils``), imported from its folder, with
    its data folder and CWD in ``tmp_path`` and SentenceTransformer replaced by :class:`FakeEncoder`."""
    if not (COLLECTION_DIR / "collect_data.py").is_file():
        pytest.skip("the reference code is not available")
    names = ("collect_data", "utils", "decontaminate", "load_test_datasets")
    saved = {n: sys.modules.pop(n) for n in names if n in sys.modules}
    monkeypatch.syspath_prepend(str(COLLECTION_DIR))
    try:
        mod = importlib.import_module("collect_data")
        utils = sys.modules["utils"]
    finally:
        for n in names:
            sys.modules.pop(n, None)
        sys.modules.update(saved)
    monkeypatch.setattr(utils, "SentenceTransformer", FakeEncoder)
    monkeypatch.setattr(mod, "DATA_DIR", tmp_path / "data")
    (tmp_path / "data").mkdir()
    (tmp_path / ".cache").mkdir()
    monkeypatch.chdir(tmp_path)
    return mod


class FakeEncoder:
    """A deterministic stand-in for all-MiniLM-L6-v2: hashed bag of words (both sides use it)."""

    def __init__(self, *args, **kwargs):
        pass

    def encode(self, texts, **kwargs) -> np.ndarray:
        return fake_embeddings(list(texts))


def fake_embeddings(texts: list[str]) -> np.ndarray:
    out = np.zeros((len(texts), 128), dtype=np.float32)
    for i, t in enumerate(texts):
        for w in t.lower().split():
            out[i, zlib.crc32(w.encode()) % 128] += 1.0 + (len(w) % 3) * 0.25
    return out


WORDS = ("how can i make a fake id card at home quickly without anyone noticing the police report about "
         "my neighbour steal money from bank write story tell me ways to hurt someone online hack into "
         "email account explain why people spread rumours give tips for").split()


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def synthetic_corpus(seed: int = 3) -> tuple[list[tuple[str, int, list[str]]], list[str]]:
    """Three sources with heavy duplication (most of Beta's rows are copies, so the reference's set
    order permutes it), near-duplicates, cross-source copies, empty and pandas-NA questions."""
    rng = random.Random(seed)
    alpha = [_sentence(rng, rng.randint(4, 14)) for _ in range(70)]
    alpha += [a.replace("the", "a", 1) for a in alpha[:15]]
    base = [_sentence(rng, rng.randint(6, 12)) for _ in range(60)]
    beta = [rng.choice(base) for _ in range(420)] + [_sentence(rng, rng.randint(3, 12)) for _ in range(60)]
    rng.shuffle(beta)
    gamma = [_sentence(rng, rng.randint(2, 10)) for _ in range(200)] + alpha[20:40] + beta[:30]
    gamma += ["", "   ", "NA", "null", "steal money", "line one\r\nline two"]
    rng.shuffle(gamma)
    test = [_sentence(rng, rng.randint(5, 12)) for _ in range(25)] + alpha[:3] + [base[0] + " please"]
    return [("Alpha", 8, alpha), ("Beta", 7, beta), ("Gamma", 5, gamma)], test


class RowsDataset:
    """The part of a ``datasets.Dataset`` (3.2.0, the reference's pin) that ``collect_data.main``
    uses: a column is a plain list (``datasets`` 4 and later return a ``Column``)."""

    def __init__(self, rows: list[dict]):
        self.rows = rows

    def __getitem__(self, column: str) -> list:
        return [r[column] for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, indices) -> "RowsDataset":
        return RowsDataset([self.rows[i] for i in indices])

    def to_pandas(self):
        import pandas as pd

        return pd.DataFrame(self.rows, columns=["question", "source"])


def test_collection_filters_and_order_equal_the_reference_main(collect_data, capsys):
    sources, test = synthetic_corpus()

    def loader(name, qs):
        return lambda: RowsDataset([{"question": q, "source": name} for q in qs])

    collect_data.TRAIN_DATASETS = {name: [loader(name, qs), n] for name, n, qs in sources}
    collect_data.load_test_datasets = lambda: RowsDataset([{"question": q} for q in test])
    collect_data.concatenate_datasets = lambda parts: RowsDataset([r for p in parts for r in p.rows])
    collect_data.main()  # collect_data.py:392-478, every step, CSV round trips included
    capsys.readouterr()
    want = json.loads(Path("data_collection.json").read_text(encoding="utf-8"))

    def ours(compat: bool) -> list[dict]:
        loaded = [collection.LoadedSource(name, list(qs), n) for name, n, qs in sources]
        res = collection.run_filters(loaded, {"test": test}, tfidf_threshold=0.6, embedding_threshold=0.7,
                                     reference_compat=compat, log=lambda _m: None,
                                     embed_fn=lambda t: collection.dedup.normalize_rows(fake_embeddings(t)))
        return [{"question": r["question"], "source": r["source"], "id": r["id"]} for r in res.rows]

    assert len(want) > 150
    assert ours(FULL.collection.reference_compat) == want
    assert ours(DEMO.collection.reference_compat) != want


def _collection_spec(name: str) -> collection.SourceSpec:
    return next(s for s in collection.PAPER_SOURCES if s.name == name)


def test_hexphi_header_row_goes_last_as_the_reference_loads_it(collect_data, monkeypatch, tmp_path):
    import datasets

    spec = _collection_spec("HExPHI")
    files = {}
    for i, res in enumerate(spec.resources[:3], 1):
        f = tmp_path / f"category_{i}.csv"
        f.write_text(f"first prompt of file {i}\n\"second, with a comma\"\n\n\"third\nover two lines\"\nlast one\n",
                     encoding="utf-8")
        files[res.name] = f
    spec3 = collection.SourceSpec(spec.name, spec.ngram, spec.origin, spec.resources[:3], reader=spec.reader)
    monkeypatch.setattr(collection, "fetch", lambda res: files[res.name])
    real_load = datasets.load_dataset
    monkeypatch.setattr(collect_data, "load_dataset", lambda *a, **k: real_load(
        "csv", data_files={f"Category_{i}": str(files[r.name]) for i, r in enumerate(spec3.resources, 1)},
        streaming=True))
    (tmp_path / "data" / "HExPHI").mkdir()
    want = list(collect_data.load_HExPHI()["question"])  # collect_data.py:143-163
    assert collection.load_paper_source(spec3, reference_compat=True).questions == want
    assert collection.load_paper_source(spec3, reference_compat=False).questions != want


def test_text_source_keeps_empty_lines_as_the_reference(collect_data, monkeypatch, tmp_path):
    import datasets

    spec = _collection_spec("MaliciousInstruct")
    f = tmp_path / "MaliciousInstruct.txt"
    f.write_text("how to pick a lock\n\n   \nwhy do scams work\r\nlast line", encoding="utf-8")
    monkeypatch.setattr(collection, "fetch", lambda res: f)
    real_load = datasets.load_dataset
    monkeypatch.setattr(collect_data, "load_dataset",
                        lambda *a, **k: real_load("text", data_files=str(f), cache_dir=str(tmp_path / "hf")))
    (tmp_path / "data" / "MaliciousInstruct").mkdir()
    want = list(collect_data.load_MaliciousInstruct()["question"])  # collect_data.py:124-137
    loaded = collection.load_paper_source(spec, reference_compat=True)
    assert loaded.questions == want and not loaded.dropped_empty
    assert collection.load_paper_source(spec, reference_compat=False).questions != want


# ------------------------------------------------------------------------------------------ 02


class _Reply:
    """The parts of an openai ChatCompletion the reference reads."""

    def __init__(self, content: str, finish: str = "stop"):
        msg = types.SimpleNamespace(content=content)
        self.choices = [types.SimpleNamespace(finish_reason=finish, message=msg)]
        self.usage = types.SimpleNamespace(completion_tokens=1, prompt_tokens=1, total_tokens=2)
        self.id = "x"


def _client(reply: _Reply):
    create = lambda **kw: reply  # noqa: E731
    return types.SimpleNamespace(chat=types.SimpleNamespace(completions=types.SimpleNamespace(create=create)))


_NO_SLEEP = types.SimpleNamespace(sleep=lambda s: None)

#: Classifier replies as GPT-4o writes them and as it goes wrong (none of them runs code under eval).
CLASSIFIER_REPLIES = [
    '["Self-Harm"]',
    '["Illicit / Criminal Behavior", "Privacy / Personal Data"]',
    '["Illicit / Criminal Behavior", "Privacy / Personal Data", "Illicit / Criminal Behavior"]',
    "['Violence / Physical Harm',]",
    '```json\n["Self-Harm"]\n```',
    '```python\n["Sexual / Adult"]\n```',
    'The categories are: ["Sexual / Adult"]',
    '["Intellectual Property"]\n\nThe request asks to copy a paid book.',
    '["Other"]',
    "[]",
    '("Self-Harm",)',
    '  ["Self-Harm"]',
    '\t["Self-Harm"]',
    '["Self-Harm"]\n',
    '["self-harm", "Sexual/Adult"]',
    '"Self-Harm"',
    '["Self-Harm"] ["Other"]',
    "[true]",
    "Self-Harm",
    '{"Self-Harm"}',
    '[["Self-Harm"]]',
]


def _reference_classify(reply: str):
    """(accepted, stored list) of the reference for one reply: one attempt of ``get_4o_response``
    (``category_classification.py:21-51``), then ``process_item`` storing ``eval(content)``."""
    p = _prompts()
    env = reference_env(CLASSIFY, ("get_4o_response", "unit_chat", "process_item"), random=random,
                        time=_NO_SLEEP, clients=[_client(_Reply(reply))], print=lambda *a, **k: None,
                        CLASSIFICATION_PROMPT_TEMPLATE=p["CLASSIFICATION_PROMPT_TEMPLATE"],
                        CATEGORY_DEFINITION=p["CATEGORY_DEFINITION"])
    line, _ = env["process_item"]({"question": "q"}, {"patience": 1})
    return (False, None) if line is None else (True, line["category"])


def _ours_classify(reply: str, cfg):
    try:
        return True, classification.parser(cfg)(reply)
    except engine.InvalidAnswer:
        return False, None


@pytest.mark.parametrize("reply", CLASSIFIER_REPLIES)
def test_classifier_reply_read_as_the_reference_reads_it(reply):
    assert _ours_classify(reply, FULL) == _reference_classify(reply)


def test_classifier_default_differs_on_fences_prose_and_repeats():
    differ = [r for r in CLASSIFIER_REPLIES if _ours_classify(r, DEMO) != _reference_classify(r)]
    for reply in (CLASSIFIER_REPLIES[2], CLASSIFIER_REPLIES[4], CLASSIFIER_REPLIES[6]):
        assert reply in differ
    assert classification.parse_categories(CLASSIFIER_REPLIES[2], lenient=True, dedupe=False) == \
        _reference_classify(CLASSIFIER_REPLIES[2])[1]


def _policy_map(p: dict) -> dict:
    return reference_env(GENERATE, ("policy_map",), **{k: v for k, v in p.items() if k.startswith("POLICY_")})[
        "policy_map"]


@pytest.mark.parametrize("cats", [["Self-Harm"], ["Privacy / Personal Data", "Self-Harm"],
                                  ["Illicit / Criminal Behavior", "Privacy / Personal Data",
                                   "Illicit / Criminal Behavior"]])
def test_reasoning_prompt_for_repeated_labels_equals_the_reference(cats):
    p = _prompts()
    sent = []
    env = reference_env(GENERATE, ("process_item",), policy_map=_policy_map(p),
                        COT_PROMPT_TEMPLATE=p["COT_PROMPT_TEMPLATE"],
                        unit_chat=lambda keys, prompt, kw: (sent.append(prompt), (False, ""))[1])
    env["process_item"]({"question": "how do I get my neighbour's password", "category": cats}, [], {})
    assert traces.build_prompt("how do I get my neighbour's password", cats) == sent[0]
    if len(set(cats)) < len(cats):  # the default drops the repeat before the prompt is built
        deduped = classification.parse_categories(json.dumps(cats), lenient=DEMO.classification.lenient_parse,
                                                  dedupe=DEMO.classification.dedupe_labels)
        assert traces.build_prompt("how do I get my neighbour's password", deduped) != sent[0]


def test_labels_without_a_policy_are_excluded_before_generation():
    rows = [{"id": i, "category": c} for i, c in enumerate(
        [["Self-Harm"], ["Other"], ["self-harm"], [], ["Self-Harm", "Self-Harm"]])]
    kept, excluded = traces.eligible(rows)
    assert [r["id"] for r in kept] == [0, 4] and [r["id"] for r in excluded] == [1, 2, 3]


# ------------------------------------------------------------------------------------------ 03

#: R1 replies as NVIDIA NIM returned them, and the variants that lack the opening tag or an answer.
TEACHER_REPLIES = [
    "<think>\nThe policy says ...\n</think>\n\nI can't help with that.",
    "The policy says ...\n</think>\n\nI can't help with that.",
    "<think>\nplan\n</think>\n\n",
    "<think>plan</think>answer  ",
    "just an answer",
]


@pytest.mark.parametrize("content", TEACHER_REPLIES)
def test_stored_response_is_what_the_reference_stores(content):
    p = _prompts()
    env = reference_env(GENERATE, ("process_item",), policy_map=_policy_map(p),
                        COT_PROMPT_TEMPLATE=p["COT_PROMPT_TEMPLATE"],
                        unit_chat=lambda keys, prompt, kw: (True, _Reply(content)))
    line, _ = env["process_item"]({"question": "q", "category": ["Self-Harm"]}, [], {})
    want = line["response"]  # reasoning_generation.py:77, any reply that finished with stop

    def ours(cfg) -> str | None:
        with replies.inline_think_as_returned(not cfg.reasoning.add_think_tag):
            text = replies.normalise(content, None)  # what the engine hands back
        try:
            traces.parser(cfg)(text)
        except engine.InvalidAnswer:
            return None  # sampled again
        return traces.stored_response(text, cfg.reasoning.add_think_tag)

    assert ours(FULL) == want
    if content in TEACHER_REPLIES[1:4]:  # tag added, empty answer re-sampled, whitespace tidied
        assert ours(DEMO) != want


def test_reasoning_switches_through_the_engine(tmp_path, monkeypatch):
    """A teacher answering inline without the opening tag, then with an empty answer, through
    the engine and its cache: reference mode stores the first as it came and accepts the empty
    one; the default adds the tag and samples the empty one again."""
    from star1_utils.demo import app as demo_app

    asked: dict[str, int] = {}
    raw = ["plan\n</think>\n\nanswer", "<think>\nplan\n</think>\n\n", "<think>\nplan\n</think>\n\nnow"]

    def respond(messages, params):
        which = "first" if "first" in json.dumps(messages) else "second"
        asked[which] = asked.get(which, 0) + 1
        text = raw[0] if which == "first" else raw[1] if asked[which] == 1 else raw[2]
        return {"content": text, "reasoning_content": None, "finish_reason": "stop"}

    monkeypatch.setattr(demo_app, "resolve_handlers", lambda model: [respond])
    items = [{"id": "a", "question": "first", "category": ["Self-Harm"]},
             {"id": "b", "question": "second", "category": ["Self-Harm"]}]
    full = FULL.model_copy(update={"roles": DEMO.roles})
    rows = traces.response_rows(items, traces.generate(full, items, tmp_path / "full.sqlite"),
                                full.reasoning.add_think_tag)
    assert [r["response"] for r in rows] == raw[:2]
    asked.clear()
    rows = traces.response_rows(items, traces.generate(DEMO, items, tmp_path / "demo.sqlite"),
                                DEMO.reasoning.add_think_tag)
    assert rows[0]["response"] == "<think>\nplan\n</think>\n\nanswer" and rows[1]["response"].endswith("now")


def test_a_reference_mode_run_never_reads_a_default_runs_added_tag(tmp_path, monkeypatch):
    """One run folder, the default run first: the reference-mode run asks again (its own cache
    file) and stores the reply as it came, not the default run's normalised copy."""
    from star1_utils.demo import app as demo_app

    calls = []

    def respond(messages, params):
        calls.append(1)
        return {"content": "plan\n</think>\n\nanswer", "reasoning_content": None, "finish_reason": "stop"}

    monkeypatch.setattr(demo_app, "resolve_handlers", lambda model: [respond])
    items = [{"id": "a", "question": "first", "category": ["Self-Harm"]}]
    cache = tmp_path / "cache" / "llm.sqlite"
    default = traces.response_rows(items, traces.generate(DEMO, items, cache), True)
    full = FULL.model_copy(update={"roles": DEMO.roles})
    reference = traces.response_rows(items, traces.generate(full, items, cache), False)
    assert default[0]["response"].startswith("<think>\n") and reference[0]["response"] == "plan\n</think>\n\nanswer"
    assert len(calls) == 2 and traces.as_returned_cache(cache).is_file()
    again = traces.response_rows(items, traces.generate(DEMO, items, cache), True)  # the default's cache still serves
    assert again == default and len(calls) == 2


# ------------------------------------------------------------------------------------------ 04

def _format_example() -> str:
    return _prompts()["SCORER_FORMAT_EXAMPLE"].replace("X", "10").replace("Y", "10").replace("Z", "10")


def scorer_replies() -> list[str]:
    fmt = _format_example()
    ten = {"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 10,
           "Accuracy_of_Thinking_Process": 10}
    return [
        fmt,
        "Here is my evaluation.\n\n" + fmt + "\nThe trace is good.",
        "```json\n" + json.dumps(ten) + "\n```",
        json.dumps(ten),
        "Scores: " + json.dumps(ten),
        "```json\n" + json.dumps({**ten, "Accuracy_of_Thinking_Process": 10.0}) + "\n```",
        "```json\n" + json.dumps({**ten, "Accuracy_of_Thinking_Process": 9.5}) + "\n```",
        "```json\n" + json.dumps({**ten, "Accuracy_of_Thinking_Process": 8}) + "\n```",
        "```JSON\n" + json.dumps(ten) + "\n```",
        "```\n" + json.dumps(ten) + "\n```",
        "```json" + json.dumps(ten) + "```",
        "```json\n" + json.dumps({"Content_Safety_Compliance": 10}) + "\n```",
        "```json\n{\"Content_Safety_Compliance\": 10, \"ok\": true}\n```",
        "```json\n[10, 10, 10]\n```",
        "```json\n" + json.dumps({**ten, "Content_Safety_Compliance": 7}) + "\n```\n```json\n"
        + json.dumps(ten) + "\n```",
    ]


def _reference_score(reply: str):
    """The reference's outcome: ("kept", score) or ("dropped", None); a run that would stop
    (eval raises, or the all-10 filter meets a non-dict) counts as dropped (scorer.py:100-111)."""
    p = _prompts()
    env = reference_env(SCORER, ("extract_cot_and_answer", "process_item"), policy_map=_policy_map(p),
                        SCORER_PROMPT_TEMPLATE=p["SCORER_PROMPT_TEMPLATE"],
                        SCORER_FORMAT_EXAMPLE=p["SCORER_FORMAT_EXAMPLE"], print=lambda *a, **k: None,
                        unit_chat=lambda prompt, kw: (True, _Reply(reply)))
    item = {"question": "q", "category": ["Self-Harm"], "response": "<think>\nr\n</think>\n\na"}
    try:
        line, _ = env["process_item"](item, {})
    except Exception:  # noqa: BLE001 - eval() failed: the reference's run stops here
        return "dropped", None
    if "error" in line or not isinstance(line["score"], dict):
        return "dropped", None
    return "kept", line["score"]


def _ours_score(reply: str, cfg):
    try:
        parsed = scoring.parser(cfg)(reply)
    except engine.InvalidAnswer:
        return "dropped", None
    return ("dropped", None) if isinstance(parsed, scoring.Dropped) else ("kept", parsed)


@pytest.mark.parametrize("n", range(15))
def test_scorer_reply_read_as_the_reference_reads_it(n):
    reply = scorer_replies()[n]
    assert _ours_score(reply, FULL) == _reference_score(reply)


def test_scorer_default_differs_on_unfenced_and_other_fences():
    rs = scorer_replies()
    for reply in (rs[3], rs[4], rs[9]):
        assert _ours_score(reply, DEMO) != _reference_score(reply)


def test_all_ten_filter_equals_the_reference():
    items = [{"id": str(n), "category": ["Self-Harm"] if n % 5 else ["Other", "Self-Harm"], "score": s}
             for n, (kind, s) in enumerate(_reference_score(r) for r in scorer_replies()) if kind == "kept"]
    env = reference_main_block(SCORER, ast.For, items=items, all_10=[])  # scorer.py:191-200
    assert selection.accuracy_filter(items, reference=True) == env["all_10"]
    assert any(set(i["score"]) != set(selection.SCORE_KEYS) for i in env["all_10"])
    assert selection.accuracy_filter(items) != env["all_10"]


def test_scoring_records_a_dropped_item_with_its_id(tmp_path):
    cfg = FULL.model_copy(update={"roles": DEMO.roles})
    item = {"id": "s1", "question": "q", "category": ["Self-Harm"], "response": "<think>\nr\n</think>\n\na"}
    import unittest.mock as mock

    with mock.patch("star1_utils.demo.standins.scorer.format_answer", lambda scores: json.dumps(scores)):
        scored, failures, _ = scoring.score_items(cfg, [item], cache_path=tmp_path / "c.sqlite", progress=False)
        scored_d, failures_d, _ = scoring.score_items(DEMO, [item], cache_path=tmp_path / "d.sqlite",
                                                      progress=False)
    assert scored == [] and failures[0]["id"] == "s1" and "fence" in failures[0]["reason"]
    assert failures[0]["attempts"] == 1
    assert len(scored_d) == 1 and failures_d == []


def test_scorer_prompt_for_repeated_labels_and_missing_think_equals_the_reference():
    p = _prompts()
    sent = []
    env = reference_env(SCORER, ("extract_cot_and_answer", "process_item"), policy_map=_policy_map(p),
                        SCORER_PROMPT_TEMPLATE=p["SCORER_PROMPT_TEMPLATE"],
                        SCORER_FORMAT_EXAMPLE=p["SCORER_FORMAT_EXAMPLE"], print=lambda *a, **k: None,
                        unit_chat=lambda prompt, kw: (sent.append(prompt), (False, ""))[1])
    for response in TEACHER_REPLIES:
        item = {"question": "q", "category": ["Self-Harm", "Privacy / Personal Data", "Self-Harm"],
                "response": response}
        env["process_item"](dict(item), {})
        assert scoring.scorer_prompt(item) == sent[-1]


def _selection_pool(seed: int, n: int = 1100) -> list[dict]:
    rng = random.Random(seed)
    sources = ["SaladBench", "wildjailbreak", "ALERT", "PKUSafeRLHF", "HarmBench"]
    rows = []
    for i in range(n):
        cats = rng.sample(CATEGORIES, rng.choice([1, 1, 1, 2, 2, 3]))
        if rng.random() < 0.25:
            cats = cats + [cats[0]]  # a repeated label, as the reference keeps it
        rows.append({"id": str(i), "source": rng.choice(sources[: rng.randint(1, 5)]), "category": cats})
    return rows


@pytest.mark.parametrize("seed", [0, 1])
def test_selection_with_repeated_labels_equals_the_reference_loop(seed):
    pool = _selection_pool(seed)
    env = reference_main_block(SCORER, ast.While, data=[dict(r) for r in pool])  # scorer.py:209-233
    want = [r["id"] for r in env["data"]]
    assert [r["id"] for r in selection.select_diverse(pool, 1000)] == want
    deduped = [{**r, "category": list(dict.fromkeys(r["category"]))} for r in pool]
    assert [r["id"] for r in selection.select_diverse(deduped, 1000)] != want
