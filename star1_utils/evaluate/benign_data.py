"""Section 4.3, the benign data of the over-refusal ablation (notebook 08, reference
``overrefusal_ablation/``): STAR-benign-915 rebuilt stage by stage.

Safety training can make a model refuse harmless requests that only *look* harmful ("How do I
kill a Python process?"). The paper's mitigation trains on benign look-alikes too:

1. **rewrite** each STAR-1 instruction into a benign look-alike with the reference's
   ``REWRITE_PROMPT_TEMPLATE`` (rewriter role; reference: GPT-4o, ``max_completion_tokens=1024``);
2. **reasoning** for each benign question from the teacher (reference: the *bare* rewritten
   question as the only user message, no policies, no template; DeepSeek-R1 at temperature 0.6,
   top_p 0.7, max_tokens 8000, i.e. the decoding of ``cfg.reasoning``), or the base model's own
   answers (self-distillation, ``overrefusal.benign_answers: base_model``);
3. **score** each trace with ``OVERREFUSAL_SCORER_PROMPT_TEMPLATE`` (three 1-5 criteria), parsed
   strictly (a fenced JSON object with exactly the three keys and integer values 1-5; never
   ``eval``), or as the reference reads it (``selection.lenient_scores`` false);
4. **filter**: keep items whose three scores are all 5, with ``source = "4o_rewrite"`` as in the
   released STAR-benign-915.

XSTest and the refusal judge are :mod:`star1_utils.evaluate.xstest`; the curve over the amount of
benign data is :mod:`star1_utils.evaluate.benign_mix_curve`.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from star1_utils.dataset import policies, scoring, traces
from star1_utils.evaluate import generation, xstest
from star1_utils.llm import engine, replies

SOURCE_TAG = "4o_rewrite"


SCORE_KEYS = ("Content_Safety_Compliance", "Quality_of_Thinking_Process", "Compliance_Degree")


def rewrite_prompt(question: str) -> str:
    """The reference's rewrite prompt for one instruction (``REWRITE_PROMPT_TEMPLATE``)."""
    return policies.template("REWRITE_PROMPT_TEMPLATE").format(request=question)


_PREFIX = re.compile(r"^\s*(?:\*\*)?rewritten request(?:\*\*)?\s*:\s*", re.I)


def parse_rewrite(text: str) -> str:
    """The rewritten request: the reply stripped, without a "Rewritten Request:" label or one
    pair of enclosing quotes. Empty or multi-paragraph replies are invalid (retried)."""
    out = _PREFIX.sub("", (text or "").strip()).strip()
    if len(out) >= 2 and out[0] == out[-1] and out[0] in "\"'":
        out = out[1:-1].strip()
    if not out:
        raise engine.InvalidAnswer("empty rewrite")
    if "</think>" in out:
        raise engine.InvalidAnswer("rewrite contains a reasoning block")
    return out


def parse_rewrite_reference(text: str) -> str:
    """The reference's rewrite: the reply's content exactly as returned, labels, quotes and
    surrounding whitespace kept, an empty one too (rewriter.py:70-71)."""
    return text


#: ``overrefusal.rewrite_parse`` -> the parser of the rewriter's replies.
REWRITE_PARSERS = {"clean": parse_rewrite, "reference": parse_rewrite_reference}


def rewrite(cfg, items: list[dict], cache_path, desc: str = "rewriting") -> tuple[list[dict], engine.BatchOutcome]:
    """Rewrite ``items`` (``id``, ``question``) with the rewriter role.

    Returns rows ``{"id", "question" (rewritten), "original_question"}`` in input order and the
    outcome (failures included). The reference stored the rewrite in the misspelt field
    ``rewite_benign_question``; we write it to ``question``, as its output file did. The reply is
    read by ``REWRITE_PARSERS[overrefusal.rewrite_parse]``: ``clean`` strips a label and quotes,
    ``reference`` keeps the reply as it came. Either way a reply that did not finish with ``stop``
    is asked again, as the reference's ``get_4o_response`` does.
    """
    decoding = {"max_completion_tokens": cfg.overrefusal.rewrite_max_completion_tokens}
    outcome = engine.run_batch(cfg, "rewriter", items,
                            build_messages=lambda it: [{"role": "user", "content": rewrite_prompt(it["question"])}],
                            parse=REWRITE_PARSERS[cfg.overrefusal.rewrite_parse], decoding=decoding,
                            cache_path=cache_path, desc=desc)
    rows = [{"id": it["id"], "question": outcome.results[it["id"]].parsed, "original_question": it["question"]}
            for it in items if it["id"] in outcome.results]
    return rows, outcome


def reasoning_messages(item: dict) -> list[dict]:
    """The reference's benign reasoning prompt: the bare rewritten question, nothing else."""
    return [{"role": "user", "content": item["question"]}]


def parse_reasoning(text: str, resample_empty: bool = True) -> str:
    """A teacher reply must hold a reasoning block and a non-empty answer, else it is sampled again;
    ``resample_empty`` false (``reasoning.resample_empty``, the reference) keeps any reply that
    finished with ``stop``, as it came (``reasoning_generation.py:30-31, :59``)."""
    if not resample_empty:
        return text
    traces, answer = replies.split_think(text)
    if traces is None or not traces.strip():
        raise engine.InvalidAnswer("no reasoning block in the reply")
    if not answer.strip():
        raise engine.InvalidAnswer("empty final answer after the reasoning")
    return text


def generate_reasoning(cfg, rows: list[dict], cache_path, desc: str = "benign reasoning"):
    """Teacher reasoning for the benign questions; rows gain ``response``. The same decoding and
    the same two switches as notebook 03 (``reasoning.resample_empty``, ``reasoning.add_think_tag``):
    the reference keeps any ``stop`` reply as it came, in a cache of its own
    (:func:`star1_utils.dataset.traces.as_returned_cache`)."""

    as_returned = not cfg.reasoning.add_think_tag
    parse = functools.partial(parse_reasoning, resample_empty=cfg.reasoning.resample_empty)
    with replies.inline_think_as_returned(as_returned):
        outcome = engine.run_batch(cfg, "teacher", rows, build_messages=reasoning_messages, parse=parse,
                                   decoding=traces.decoding(cfg), desc=desc, retry_on_length=True,
                                   cache_path=traces.as_returned_cache(cache_path) if as_returned else cache_path)
    out = [{**r, "response": outcome.results[r["id"]].text} for r in rows if r["id"] in outcome.results]
    return out, outcome


#: What a self-distilled row's assistant turn holds before its answer: an empty reasoning block.
EMPTY_REASONING = "<think>\n\n</think>\n\n"


#: The criteria a self-distilled row must score 5 on: those that read the answer. It carries no
#: reasoning, so ``Quality_of_Thinking_Process`` is scored (and shown) but not asked of it.
ANSWER_CRITERIA = ("Content_Safety_Compliance", "Compliance_Degree")


def self_distilled(cfg, run_dir, rows: list[dict], cache_path, desc: str = "benign answers (base model)"):
    """Self-distillation: the untrained student's own answer to each benign look-alike.

    The paper's benign rows are DeepSeek-R1 traces; without R1 (the miniature, offline) a stand-in
    teacher would answer every look-alike with one template, and a small student trained on it
    learns the template as a way to answer anything. The base model's answers are real text in its
    own voice, so the benign rows teach "answer this kind of request as you did before training"
    and nothing else. The reasoning block stays empty (:data:`EMPTY_REASONING`): the base model
    does not reason, and a stand-in's reasoning would bring the template back. Greedy, with the
    safety evaluation's backend, repetition penalty and batch; at most
    ``overrefusal.benign_max_tokens`` new tokens. An answer that has not ended by then is kept up
    to its last complete sentence (:func:`complete_part`), so the student never learns to stop
    mid-sentence; one with too little left is left out.

    Returns ``(rows with response, outcome, ids left out)``.
    """

    gs = xstest.generation_settings(cfg, run_dir, "base")
    decoding = {**gs["decoding"], "max_tokens": cfg.overrefusal.benign_max_tokens}
    items = [{"id": r["id"], "prompt": r["question"]} for r in rows]
    outcome = generation.generate(cfg, items, backend=gs["backend"], model=gs["model"], decoding=decoding,
                                  cache_path=cache_path, desc=desc, batch_size=gs["batch_size"],
                                  threads=gs["threads"], **generation.prompt_options(cfg, cfg.safety_eval))
    out, cut = [], []
    for r in rows:
        res = outcome.results.get(r["id"])
        if res is None:
            continue
        answer = replies.final_answer(res.text).strip()
        if res.finish_reason == "length":
            answer = complete_part(answer)
        if not answer:
            cut.append(r["id"])
            continue
        out.append({**r, "response": EMPTY_REASONING + answer})
    return out, outcome, cut


#: The fewest words a cut answer keeps (:func:`complete_part`); fewer, and it is left out.
MIN_KEPT_WORDS = 30


def complete_part(text: str, min_words: int = MIN_KEPT_WORDS) -> str:
    """An answer cut at the token limit, up to its last complete paragraph or sentence.

    The last paragraph break wins when it keeps at least half the text, else the last sentence end
    (``.``, ``!`` or ``?`` before white space or the end, not a list number's). ``""`` when fewer than ``min_words``
    words would remain.
    """
    para = text.rfind("\n\n")
    if para >= len(text) // 2:
        kept = text[:para]
    else:
        # a line's "2." opens a list item, it does not end a sentence
        ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)
                if not text[text.rfind("\n", 0, m.start()) + 1: m.start()].strip().isdigit()]
        kept = text[: ends[-1]] if ends else ""
    kept = kept.rstrip()
    return kept if len(kept.split()) >= min_words else ""


def benign_traces(cfg, run_dir, rows: list[dict], cache_path) -> tuple[list[dict], Any, list[str]]:
    """The benign rows' assistant turns as ``overrefusal.benign_answers`` says: the teacher's
    reasoning and answer (the paper), or :func:`self_distilled` answers of the base model.
    Returns ``(rows with response, outcome, ids left out as cut)``."""
    if cfg.overrefusal.benign_answers == "base_model":
        return self_distilled(cfg, run_dir, rows, cache_path)
    traces, outcome = generate_reasoning(cfg, rows, cache_path)
    return traces, outcome, []


def filter_criteria(cfg) -> tuple[str, ...]:
    """The scores a benign row must have at 5 to be kept: all three (the reference), or for
    self-distilled rows :data:`ANSWER_CRITERIA`."""
    return ANSWER_CRITERIA if cfg.overrefusal.benign_answers == "base_model" else SCORE_KEYS


def overrefusal_scorer_prompt(instruction: str, response_text: str) -> str:
    """``OVERREFUSAL_SCORER_PROMPT_TEMPLATE`` filled as the reference does (no policies)."""
    cot, answer = replies.split_scored_response(response_text)
    return policies.template("OVERREFUSAL_SCORER_PROMPT_TEMPLATE").format(
        instruction=instruction, cot=str(cot), response=str(answer),
        format_example=policies.template("OVERREFUSAL_SCORER_FORMAT_EXAMPLE"))


def parse_overrefusal_score(text: str) -> dict[str, int]:
    """The three 1-5 scores from a scorer reply, strictly.

    The reply must contain a fenced ```json block (the reference's regex; a reply that is only a
    JSON object is accepted too) holding a JSON object with exactly the three keys of
    ``SCORE_KEYS`` and integer values 1-5. One trailing comma before the closing brace is
    tolerated (the 0-10 format example has one). Anything else raises
    :class:`engine.InvalidAnswer` (the item is retried, then recorded as a failure). No ``eval``.
    """
    text = text or ""
    m = replies.JSON_FENCE_RE.search(text)
    if m:
        blob = m.group(1).strip()
    elif text.strip().startswith("{") and text.strip().endswith("}"):
        blob = text.strip()
    else:
        raise engine.InvalidAnswer("no ```json block in the scorer reply")
    blob = re.sub(r",\s*}\s*$", "}", blob)
    try:
        data = json.loads(blob)
    except json.JSONDecodeError as e:
        raise engine.InvalidAnswer(f"scorer JSON does not parse: {e.msg}") from None
    if not isinstance(data, dict):
        raise engine.InvalidAnswer("scorer JSON is not an object")
    if set(data) != set(SCORE_KEYS):
        raise engine.InvalidAnswer(f"scorer keys {sorted(data)} are not {list(SCORE_KEYS)}")
    out = {}
    for k in SCORE_KEYS:
        v = data[k]
        if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 5:
            raise engine.InvalidAnswer(f"score {k}={v!r} is not an integer 1-5")
        out[k] = v
    return out


def score(cfg, rows: list[dict], cache_path, desc: str = "over-refusal scoring"):
    """Scores for the benign traces; rows gain ``score`` (dict of the three 1-5 criteria).

    ``selection.lenient_scores`` false (the reference, ``overrefusal_ablation/scorer/scorer.py:85-95``)
    reads the reply as 04's reference mode does (:func:`star1_utils.dataset.scoring.parse_score_reference`):
    the first ```json fence, whatever dict it holds, and a reply without one is dropped, not asked
    again (recorded in ``outcome.failures``). Otherwise the strict :func:`parse_overrefusal_score`.
    """

    reference = not cfg.selection.lenient_scores
    decoding = {"max_completion_tokens": cfg.overrefusal.scorer_max_completion_tokens}
    outcome = engine.run_batch(cfg, "scorer", rows,
                               build_messages=lambda r: [{"role": "user", "content":
                                                          overrefusal_scorer_prompt(r["question"], r["response"])}],
                               parse=scoring.parse_score_reference if reference else parse_overrefusal_score,
                               decoding=decoding, cache_path=cache_path, desc=desc, retry_on_length=not reference)
    out = []
    for r in rows:
        res = outcome.results.get(r["id"])
        if res is not None and isinstance(res.parsed, scoring.Dropped):
            outcome.failures.append({"id": r["id"], "reason": res.parsed.reason, "attempts": 1})
        elif res is not None:
            out.append({**r, "score": res.parsed})
    outcome.usage["failed"] = len(outcome.failures)
    return out, outcome


def all_five(rows: list[dict], criteria: tuple[str, ...] = SCORE_KEYS, reference: bool = False) -> list[dict]:
    """The reference's filter (``scorer.py`` L177-L189): keep rows whose three scores are all 5,
    in order, with ``source = "4o_rewrite"``. Rows without a valid score are dropped.
    ``criteria``: the scores asked to be 5 (:func:`filter_criteria`). ``reference``
    (``selection.lenient_scores`` false): every value of the dict as the scorer wrote it equals 5,
    whatever its keys (``{}`` passes, ``5.0`` too), as ``scorer.py:179-186`` tests it."""
    kept = []
    for r in rows:
        s = r.get("score")
        if reference:
            ok = isinstance(s, dict) and all(v == 5 for v in s.values())
        else:
            ok = isinstance(s, dict) and set(s) == set(SCORE_KEYS) and all(s[k] == 5 for k in criteria)
        if ok:
            kept.append({**r, "source": SOURCE_TAG})
    return kept


#: The roles whose endpoints notebook 08 takes as parameters, in its parameters cell's order.
NOTEBOOK_ROLES = ("rewriter", "teacher", "scorer", "refusal_judge", "student")


def excerpt(text: str, width: int) -> str:
    """The first ``width`` characters of ``text``, ending in ``...`` when something was cut."""
    return text[:width] + ("..." if len(text) > width else "")


def rewrite_examples(rewrites: list[dict], k: int = 6, width: int = 60) -> list[dict]:
    """The first ``k`` rewrites beside an excerpt of the harmful instruction each came from (the
    originals are shown only as excerpts)."""
    return [{"original (excerpt)": excerpt(r["original_question"], width), "benign rewrite": r["question"]}
            for r in rewrites[:k]]


def benign_source(cfg) -> dict[str, str]:
    """Who wrote the benign rows: the rewriter's model, and the teacher's or the base model's."""
    answers = (f"{cfg.training.base_model} (base, untrained; self-distilled)"
               if cfg.overrefusal.benign_answers == "base_model" else cfg.role("teacher").model)
    return {"rewriter": cfg.role("rewriter").model, "answers": answers}
