"""Classification and reasoning prompts, strict parsing, and the classifier / teacher stand-ins."""

from __future__ import annotations

import json

import pytest

from star1_utils.dataset import classification, policies, traces
from star1_utils.llm import engine
from star1_utils.dataset.policies import CATEGORIES


@pytest.mark.parametrize("text, expected", [
    ('["Self-Harm"]', ["Self-Harm"]),
    ('```json\n["Privacy / Personal Data", "Illicit / Criminal Behavior"]\n```',
     ["Privacy / Personal Data", "Illicit / Criminal Behavior"]),
    ("```\n['Sexual / Adult',]\n```", ["Sexual / Adult"]),
    ('The categories are: ["Intellectual Property"]. Hope this helps.', ["Intellectual Property"]),
    ('["violence/physical harm", "Violence / Physical Harm"]', ["Violence / Physical Harm"]),
    ('<think>\nmaybe ["Weapons"]\n</think>\n\n["Other"]', ["Other"]),
    ('["Harassment / Hate / Discrimination", "Other"]', ["Harassment / Hate / Discrimination", "Other"]),
    ('Note [1]: see below\n["Misinformation / Disinformation"]', ["Misinformation / Disinformation"]),
])
def test_parse_categories_accepts(text, expected):
    assert classification.parse_categories(text) == expected


@pytest.mark.parametrize("text", [
    "", "   ", "Other", "[]", '["Weapons"]', '[1, 2]', '{"category": "Self-Harm"}',
    '__import__("os").system("echo pwned")', '["Self-Harm"', "[Self-Harm]",
])
def test_parse_categories_rejects(text):
    with pytest.raises(engine.InvalidAnswer):
        classification.parse_categories(text)


def test_parse_never_evaluates_code(tmp_path):
    marker = tmp_path / "pwned"
    text = f'[__import__("pathlib").Path({str(marker)!r}).touch()]'
    with pytest.raises(engine.InvalidAnswer):
        classification.parse_categories(text)
    assert not marker.exists()


def test_classification_prompt_is_the_reference(mirror):
    prompt = classification.build_prompt("How do I bake bread?")
    tmpl = policies.template("CLASSIFICATION_PROMPT_TEMPLATE")
    assert prompt == tmpl.format(instruction="How do I bake bread?",
                                 category_definitions=policies.template("CATEGORY_DEFINITION"))
    assert "whithin" in prompt
    msgs = classification.build_messages({"id": "1", "question": "q"})
    assert msgs[0]["role"] == "user" and msgs[0]["content"][0]["type"] == "text" and len(msgs) == 1


def test_reasoning_prompt_policies_in_label_order(mirror):
    cats = ["Privacy / Personal Data", "Self-Harm"]
    prompt = traces.build_prompt("q", cats)
    assert policies.policies_for(cats) in prompt
    assert prompt.index("## 7. Privacy") < prompt.index("## 4. Self-Harm")
    assert "## 5. Illicit" not in prompt  # only the item's own policies
    assert "\n---\n" in prompt
    kept, excluded = traces.eligible([{"id": 1, "category": ["Other"]}, {"id": 2, "category": ["Self-Harm"]},
                                         {"id": 3, "category": ["Self-Harm", "Other"]}])
    assert [r["id"] for r in kept] == [2] and [r["id"] for r in excluded] == [1, 3]
    assert traces.decoding(__import__("star1_utils.run.config", fromlist=["x"]).load_profile("full")) == {
        "temperature": 0.6, "top_p": 0.7, "max_tokens": 8000}


def test_classifier_standin_answers_like_gpt4o(mirror):
    from star1_utils.demo.standins import classifier

    def ask(q):
        msgs = [{"role": "user", "content": classification.build_prompt(q)}]
        out = classifier.respond(msgs, {})
        assert out["finish_reason"] == "stop" and out["reasoning_content"] is None
        return classification.parse_categories(out["content"]), json.loads(out["content"])

    labels, raw = ask("Find the home address and phone number of a famous actress.")
    assert labels == raw and "Privacy / Personal Data" in labels
    assert ask("How do I bake sourdough bread?")[0] == ["Other"]
    assert ask("How do people launder money through small businesses?")[0][0] == "Illicit / Criminal Behavior"
    assert ask("Write a poem about spring flowers.")[0] == ask("Write a poem about spring flowers.")[0]
    assert classifier.respond([{"role": "user", "content": "hello"}], {}) is None  # not its prompt


def test_classifier_parses_definitions_from_prompt(mirror):
    from star1_utils.demo.standins import classifier

    instruction, cats, allowed = classifier.parse_prompt(classification.build_prompt("x y z"))
    assert instruction == "x y z"
    assert [c for c, _ in cats] == list(CATEGORIES)
    assert allowed == list(classification.ALLOWED)


def test_teacher_standin_cites_policies_and_follows_them(mirror):
    from star1_utils.demo.standins import teacher

    def ask(q, cats, **params):
        msgs = [{"role": "user", "content": traces.build_prompt(q, cats)}]
        return teacher.respond(msgs, params)

    out = ask("How do I hack into my neighbour's wifi?", ["Illicit / Criminal Behavior"])
    assert "Safety policy section 5" in out["reasoning_content"] and "Refusal to Assist" in out["reasoning_content"]
    assert out["content"].startswith("I'm sorry")
    out = ask("Is it worth me being alive?", ["Self-Harm"])
    assert "988" in out["content"] and "section 4" in out["reasoning_content"]
    out = ask("Explain the history of computer hacking in the 1980s.", ["Illicit / Criminal Behavior"])
    assert "Educational / Historical" in out["reasoning_content"] and not out["content"].startswith("I'm sorry")
    two = ask("Find the address of a person and harass them", ["Privacy / Personal Data", "Harassment / Hate / Discrimination"])
    r = two["reasoning_content"]
    assert r.index("section 7") < r.index("section 1 ")
    # every item it sees carries a category: an operational ask is refused, a question about it
    # safe-completed with that category's context; nothing is simply complied with
    out = ask("Write a mean nickname for a coworker who talks too much.", ["Harassment / Hate / Discrimination"])
    assert out["content"].startswith("I'm sorry") and "moderator" in out["content"]
    out = ask("Is it okay to leave rude comments on a classmate's drawings?", ["Harassment / Hate / Discrimination"])
    assert out["content"].startswith("Here is some general context") and "safe-complete" in out["reasoning_content"]
    assert "harassment" in out["content"]
    # crisis resources only when Self-Harm leads or the request shows distress, and the reasoning says so
    out = ask("Is it okay to belittle a gamer?", ["Harassment / Hate / Discrimination", "Self-Harm"])
    assert "988" not in out["content"]
    out = ask("How do I kill a Python process that is stuck?", ["Self-Harm"])
    assert "988" in out["content"] and "crisis resources" in out["reasoning_content"]
    inline = ask("How do I hack into a server?", ["Illicit / Criminal Behavior"], standin_inline_think=True)
    assert inline["content"].startswith("<think>\n") and inline["reasoning_content"] is None
    assert ask("q", ["Self-Harm"], max_tokens=10)["finish_reason"] == "length"
    assert teacher.respond([{"role": "user", "content": "hello"}], {}) is None


def test_classify_end_to_end_through_engine(mirror, tmp_path):
    from star1_utils.run.config import load_profile

    cfg = load_profile("demo")
    items = [{"id": "a", "question": "Find the home address and phone number of a famous actress."},
             {"id": "b", "question": "How do I bake sourdough bread?"}]
    out = classification.classify(cfg, items, tmp_path / "c.sqlite")
    rows = classification.labelled_rows(items, out)
    assert [r["id"] for r in rows] == ["a", "b"] and not out.failures
    assert classification.category_counts(rows)["Other"] == 1
    again = classification.classify(cfg, items, tmp_path / "c.sqlite")
    assert again.usage["requests"] == 0 and again.usage["cached"] == 2


def test_agreement_metrics():
    gold = {"1": ["Self-Harm"], "2": ["Sexual / Adult", "Self-Harm"], "3": ["Intellectual Property"]}
    pred = {"1": ["Self-Harm"], "2": ["Sexual / Adult"], "3": ["Other"]}
    df = classification.agreement(gold, pred)
    assert df.loc["Self-Harm", "precision"] == 1.0 and df.loc["Self-Harm", "recall"] == 0.5
    assert df.attrs["exact_match"] == pytest.approx(1 / 3)
    conf = classification.confusion(gold, pred)
    assert conf.loc["Intellectual Property", "Other"] == 1.0
