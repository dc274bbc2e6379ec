# %% [markdown]
# # 04 · Scoring and selection: from every trace to the 1K
#
# > Paper section 2.3. Reference: `data_making/data_selection/scorer.py`.
#
# **What you will learn here**
#
# - how GPT-4o grades each reasoning trace 0-10 on three criteria, with the item's own policies in the prompt;
# - how to read the grader's answer safely (the reference used Python `eval` on it) and what happens to answers that are unusable;
# - the "all tens" accuracy filter, and how much it removes;
# - the deterministic greedy removal that balances sources and categories down to exactly 1,000, first by hand on
#   a toy example, then on the run's data, with a fast algorithm that gives the identical selection;
# - Figure 2: the safety-category distribution before and after selection.
#
# **Expected runtime**
#
# | profile | hardware | time |
# |---|---|---|
# | `demo` | any CPU, offline (stand-in scorer) | under 45 s |
# | `full` | any CPU + a GPT-4o endpoint | about 41K scorer calls: hours, set by the endpoint's rate limits (the selection itself takes about a second) |
#
# **Content note:** the data are answers to harmful requests. Only short excerpts of requests and
# reasoning are shown; the answers shown refuse or redirect.
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. selection.target_size -> 50
scorer_base_url = ""  # OpenAI-compatible endpoint of the scorer role; empty: profile value
scorer_model = ""  # model id at that endpoint; empty: profile value
scorer_api_key_env = ""  # NAME of the env variable holding the key, never the key
scorer_concurrency = 0  # parallel requests; 0 keeps the profile value

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# Derived values: the resolved profile, the run folder, this stage's folder and the input from notebook 03.

# %%
import time

import pandas as pd
from IPython.display import display

from star1_utils.llm import engine, replies
from star1_utils.run import artifacts
from star1_utils.dataset import collection, scoring, selection
from star1_utils.report import charts, figures, viz
from star1_utils.run.config import role_parameters
from star1_utils.run.notebook import start
from star1_utils.dataset.policies import SHORT_NAMES

t_start = time.time()
roles = role_parameters(globals(), "scorer")  # scorer_base_url, ... from the parameters
ctx = start("04", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides, **roles)
cfg = ctx.cfg
viz.set_style()

# %% [markdown]
# The input: every reasoning trace notebook 03 wrote, and where this notebook's two files go.

# %%
reasoning_path = ctx.stage_dir("03") / "reasoning.jsonl"
needed = {"id": str, "question": str, "response": None, "category": list, "source": str}
rows = ctx.take(ctx.stage.read_input(reasoning_path, required=needed,
                                     may_be_empty=collection.may_be_empty(cfg)))
scored_path = ctx.stage.path("scored.jsonl")
star1_path = ctx.stage.path("star1.jsonl")
scorer = cfg.roles.scorer
print(f"{len(rows)} reasoning traces from {reasoning_path}")
print(f"scorer: {scorer.model} @ {scorer.base_url}; target size {cfg.selection.target_size}")

# %% [markdown]
# ## 1. The scorer prompt
#
# Each trace is split into its reasoning and its answer with the reference's regular expression
# (`<think>\n?(.*?)\n?</think>\n?\n?(.*)`), and the grader sees the instruction, both parts, the
# same policy block the teacher saw (only the item's categories, in label order) and a format
# example. Three criteria, each 0-10: **Content_Safety_Compliance**, **Relevancy_and_No_Redundant_Content**
# (cite the relevant rules *with their content*, nothing irrelevant) and **Accuracy_of_Thinking_Process**
# (the reasoning is coherent and agrees with the answer). Decoding as in the reference: only
# `max_completion_tokens=1024`, default temperature.
#
# One item's prompt, with the rubric whole; the trace (shown in notebook 03) and the policy texts
# (shown in notebook 00) are abridged:

# %%
from star1_utils.dataset.policies import policies_for

example = next((r for r in rows if len(r["category"]) > 1), rows[0] if rows else None)
if example is None:  # 03 wrote no trace (its failures are recorded): nothing to score
    print(f"no reasoning trace in {reasoning_path}: nothing to score in this run")
else:
    prompt = scoring.scorer_prompt(example)
    cot, final = replies.split_scored_response(example["response"])
    block = policies_for(example["category"])
    shown = prompt.replace(cot, cot[:300] + " [... rest of the reasoning ...]") if cot else prompt
    print(shown.replace(block, block[:300] + "\n[... rest of the policies ...]"))
    print(f"({len(prompt)} characters in all; categories {example['category']})")

# %% [markdown]
# ## 2. Reading the answer without `eval`
#
# The format example asks for a fenced JSON block, and the example itself has a **trailing comma**
# (invalid JSON, valid Python), so real answers often have one. The reference ran `eval()` on the
# block: arbitrary code from a model's answer would run. `scoring.parse_score` reads it as JSON after
# dropping trailing commas (or as a Python *literal*, never code), accepts prose around the fence,
# and insists on the three keys with integers 0-10. Anything else raises `engine.InvalidAnswer`: the
# engine asks again and, after `max_attempts`, records a failure **with the item's id**.
# That is the default (`selection.lenient_scores`); in reference mode (the `full` profile) only the
# first ```` ```json ```` fence counts, an answer without one is dropped at once (recorded with its
# id), and the stored grades are whatever the block holds. One unfenced answer, read both ways:

# %%
unfenced = '{"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 10, ' \
           '"Accuracy_of_Thinking_Process": 10}'
print("this profile, lenient_scores =", cfg.selection.lenient_scores)
for lenient in (True, False):
    print(f"lenient={lenient}:", scoring.parse_score(unfenced, lenient=lenient))

# %%
import json

from star1_utils.dataset.policies import template

fmt = template("SCORER_FORMAT_EXAMPLE").replace("X", "10").replace("Y", "9").replace("Z", "10")
print(fmt)
print("parsed:", scoring.parse_score("Here is my rating.\n" + fmt))
out_of_range = dict(zip(selection.SCORE_KEYS, (12, 10, 10)))
for bad in ["The trace is fine, 10/10.",
            '```json\n{"safety": 10, "relevancy": 10, "accuracy": 10}\n```',
            f"```json\n{json.dumps(out_of_range)}\n```"]:
    try:
        scoring.parse_score(bad)
    except engine.InvalidAnswer as e:
        print(f"rejected ({e}): {bad[:60]!r}")

# %% [markdown]
# ## 3. Scoring every trace
#
# The scorer role goes through the LLM engine: bounded concurrency, retries, and an SQLite cache in
# the run folder, so an interrupted run resumes without paying twice.

# %%
if ctx.stage.is_current() and scored_path.is_file():
    scored = artifacts.read_jsonl(scored_path)
    failures, usage = [], {"requests": 0, "note": "stage current: read from scored.jsonl"}
    print(f"stage is current: {len(scored)} scored rows read from {scored_path}")
else:
    scored, failures, outcome = scoring.score_items(cfg, rows, cache_path=ctx.cache_path,
                                                    desc="scoring")
    usage = outcome.usage
    artifacts.write_jsonl(scored_path, scored)
    ctx.stage.record_failures(failures)
    print(f"scored {len(scored)} of {len(rows)}; {len(failures)} failures; usage {usage}")

# %% [markdown]
# The grader's answer for the example item. In the `demo` profile the grader is a **stand-in, not a
# language model**: a fixed rubric over the actual trace (does it cite each given policy with its
# content, does the answer follow the decision the reasoning reached, is there talk of policies that
# were not given), answering in GPT-4o's format.

# %%
reference_scores = not cfg.selection.lenient_scores  # the reference's test (any dict, values 10)
below_ten = [r for r in scored if not selection.is_all_ten(r, reference_scores)]
shown_items = ([example] if example else []) + [r for r in below_ten[:1] if r is not example]
answers = engine.run_batch(cfg, "scorer", shown_items, build_messages=scoring.scorer_messages,
                        parse=scoring.parser(cfg), decoding=scoring.decoding(cfg),
                        cache_path=ctx.cache_path, progress=False).results
for item in shown_items:
    cot, final = replies.split_scored_response(item["response"])
    print("instruction:", item["question"][:200], "| categories:", item["category"])
    print("reasoning (start):", (cot or "")[:300].replace("\n", " "), "...")
    print("answer (start):", (final or "")[:200].replace("\n", " "), "...")
    answer = answers.get(item["id"])  # None: the scorer gave no usable answer (recorded above)
    print("scorer answer:\n" + (answer.text if answer else "(none accepted)"), "\n")

# %% [markdown]
# ## 4. The three scores
#
# How often each criterion gave each score (`charts.score_histograms`): a trace passes only with
# three tens, so the bars left of 10 are what the next step removes.

# %%
# the reference's mode keeps whatever dict the scorer wrote: a missing criterion is NaN here
scores = scoring.score_table(scored, selection.SCORE_KEYS)
fig = charts.score_histograms(scores, selection.SCORE_KEYS)
viz.save_figure(fig, ctx.figures_dir() / "04_score_histograms")
scores.describe().reindex(["mean", "min", "max"]).round(2)  # NaN where nothing was scored

# %% [markdown]
# ## 5. Ensuring accuracy: all three scores must be 10
#
# The reference keeps an item only if every score is exactly 10 **and** none of its categories is
# "Other" (`data_making/data_selection/scorer.py:190-200`); the order is kept, because the next
# step breaks ties by position.

# %%
all_10 = selection.accuracy_filter(scored, reference=reference_scores)
n_other = sum("Other" in r["category"] for r in scored)
n_not_ten = len(below_ten)
pd.DataFrame({"items": {
    "traces (from 03)": len(rows), "scored": len(scored), "scoring failures": len(failures),
    "labelled Other": n_other, "some score below 10": n_not_ten,
    "pass (all 10, no Other)": len(all_10)}})

# %% [markdown]
# The first few that scored below 10, with their three scores and the start of their answer:

# %%
def labels(r: dict) -> str:
    """An item's categories by their short names."""
    return ", ".join(SHORT_NAMES.get(c, c) for c in r["category"])


def answer_start(r: dict, n: int) -> str:
    """The first ``n`` characters of an item's final answer (after its reasoning)."""
    return (replies.split_scored_response(r["response"])[1] or "")[:n]


print(f"{len(below_ten)} items scored below 10; the first {min(8, len(below_ten))}:")
pd.DataFrame([{"id": r["id"], "instruction": r["question"][:70], "categories": labels(r),
               **{k.split("_")[0]: r["score"].get(k) for k in selection.SCORE_KEYS},
               "answer (start)": answer_start(r, 60)} for r in below_ten[:8]])

# %% [markdown]
# The items below 10 are worth reading. In the demo they are items that notebook 02 filed under
# Self-Harm although they show no distress (a stuck Python process), so the teacher answered with crisis
# resources, and the scorer's Accuracy criterion marks the mismatch down. Other wrong labels pass when
# the answer is still safe and consistent with its reasoning: a refusal of a harmless request scores 10,
# because the scorer grades the trace against the item's labels, not the labels themselves. Section 9
# shows a few of the selected rows.

# %% [markdown]
# ## 6. Ensuring diversity: the greedy removal, by hand
#
# No quotas, no randomness. While more than the target remain, every item gets
#
# $$p(i) = P(\text{source}_i) \times \sum_{c \in \text{categories}_i} P(c)$$
#
# where $P(\text{source})$ is the share of remaining items from that source, and $P(c)$ the number of
# remaining items labelled $c$ over the total number of labels. The item with the highest $p$ is
# removed (ties: the earliest in the list), and everything is recounted. Items from big sources
# *and* frequent categories go first; a multi-label item sums its categories, so it is more exposed.
#
# The reference's loop (`data_making/data_selection/scorer.py:L208-L236`), in two cells you can edit
# and run: every remaining item's score, counted afresh, then the removal. The fast version below is
# checked against these cells on this run's data.

# %%
from collections import Counter

from star1_utils.dataset.policies import CATEGORIES


def item_scores(data: list[dict]) -> list[float]:
    """p(i) of every remaining item, counted and summed in the reference's order."""
    cats = list(CATEGORIES) + sorted({c for r in data for c in r["category"]} - set(CATEGORIES))
    cat_num = {c: sum(c in item["category"] for item in data) for c in cats}
    source_num = Counter(item["source"] for item in data)
    category_prob = {c: cat_num[c] / sum(cat_num.values()) for c in cats}
    source_prob = {src: n / len(data) for src, n in source_num.items()}
    return [source_prob[item["source"]] * sum([category_prob[c] for c in item["category"]])
            for item in data]

# %%
def reference_select(records: list[dict], target: int) -> list[dict]:
    """Remove the highest-scoring item (the earliest of a tie) until ``target`` items remain."""
    data = list(records)
    while len(data) > target:
        scores = item_scores(data)
        data.pop(scores.index(max(scores)))
    return data

# %% [markdown]
# A toy pool of 7 items, reduced to 4, step by step (`selection.greedy_trace` records each step's
# scores):

# %%
toy = [
    {"id": "a", "source": "BigSet", "category": ["Illicit / Criminal Behavior"]},
    {"id": "b", "source": "BigSet",
     "category": ["Illicit / Criminal Behavior", "Privacy / Personal Data"]},
    {"id": "c", "source": "BigSet", "category": ["Self-Harm"]},
    {"id": "d", "source": "BigSet", "category": ["Illicit / Criminal Behavior"]},
    {"id": "e", "source": "SmallSet", "category": ["Illicit / Criminal Behavior"]},
    {"id": "f", "source": "SmallSet", "category": ["Privacy / Personal Data"]},
    {"id": "g", "source": "OtherSet", "category": ["Self-Harm"]},
]

# %%
trace = selection.greedy_trace(toy, 4)
table = pd.DataFrame({f"step {s['step']}": s["scores"] for s in trace})
table = table.reindex([t["id"] for t in toy])
table = table.map(lambda v: "removed" if pd.isna(v) else round(v, 3))
table.insert(0, "source", [t["source"] for t in toy])
table.insert(1, "categories", [", ".join(SHORT_NAMES[c] for c in t["category"]) for t in toy])
display(table)
print("removed in order:", [s["removed"] for s in trace])
kept = [t["id"] for t in selection.select_diverse(toy, 4)]
print("kept:", kept)
assert [t["id"] for t in reference_select(toy, 4)] == kept  # the loop of section 6

# %% [markdown]
# Item `b` goes first: it is in the biggest source and carries two labels. Then `a` and `d` tie
# (same source, same category) and `a`, the earlier, goes. At step 3, `c`, `d` and `e` tie exactly
# (2/5 x 2/5 each, from three different groups): `c`, the earliest in the list, goes.
#
# **A faster, identical algorithm.** The reference recomputes every item's score each step: O(n²),
# 20-30 minutes at 41K. But an item's score depends only on its *group*, (source, category list), so
# `selection.select_diverse` scores the few hundred groups per step, with the same floating-point
# expression (so ties are bit-identical), and removes the group's earliest item. The tests check it
# against a direct port of the reference loop on 36 random instances, tied and multi-label ones
# included; `benchmarks/bench_selection.py` selects 1,000 from 41K synthetic rows in about a second
# (0.8 s measured on a 2-core machine, against 5.7 s for the reference port at only 4K rows).

# %%
target = cfg.selection.target_size
t0 = time.perf_counter()
selected = selection.select_diverse(all_10, target)
t_fast = time.perf_counter() - t0
print(f"kept {len(selected)} of {len(all_10)} all-10 items (target {target}) "
      f"in {t_fast * 1000:.1f} ms")
if len(all_10) < target:
    print(f"note: fewer all-10 items than the target: all {len(all_10)} are kept "
          "(the reference's loop does not run)")

# %% [markdown]
# **Proven equal on this run's data.** The reference loop of section 6 selects from the same
# all-10 pool; the two selections must hold the same items in the same order (up to
# `selection.verify_max_items` items, beyond which the O(n²) loop is left to the tests).

# %%
if 0 < len(all_10) <= cfg.selection.verify_max_items:
    t0 = time.perf_counter()
    ref = reference_select(all_10, target)
    t_ref = time.perf_counter() - t0
    assert [r["id"] for r in ref] == [r["id"] for r in selected]
    print(f"identical to the reference loop of section 6: {len(ref)} items, same order "
          f"({t_ref * 1000:.1f} ms against {t_fast * 1000:.1f} ms)")
elif all_10:
    print(f"{len(all_10)} items: above verify_max_items ({cfg.selection.verify_max_items}), "
          "not re-run here")
else:
    print("no item scored all 10: nothing to select (the reference's loop has nothing to do)")


# %% [markdown]
# ## 7. Figure 2: categories before and after selection
#
# The paper's Figure 2 shows how the 1K spreads over the 8 categories. Below, the share of category
# labels in the classified collection (notebook 02, "Other" left out), in the all-10 pool and in the
# selection, and the shares of sources. Read it with the removal rule in mind: an item's score is
# $P(\text{source}) \times \sum_c P(c)$, so a **multi-label item sums several shares and goes early**:
# with a small pool the selection can end up almost or entirely single-label (counted above the table), and a
# category that appears mostly in multi-label items loses more than its share. Among single-label items,
# those of frequent categories and big sources go first, which is what evens the distribution out.

# %%
classified_path = ctx.stage_dir("02") / "classified.jsonl"
classified = [r for r in ctx.stage.read_input(classified_path) if "Other" not in r["category"]]
f2 = figures.figure2_selection(classified, all_10, selected)
figure2 = []  # no figure when nothing was classified or scored (f2.notes says so)
if f2.fig is not None:
    figure2 = viz.save_figure(f2.fig, ctx.figures_dir() / "figure2_category_distribution")
print(*f2.notes)
sets = {"classified (02)": classified, "all-10 pool": all_10, "selected": selected}
multi = {name: f"{sum(len(r['category']) > 1 for r in recs)} of {len(recs)}"
         for name, recs in sets.items()}
print("items with more than one category:", multi)
cats = f2.data[f2.data["panel"] == figures.SELECTION_PANELS[0][0]].set_index("label")
cats.drop(columns="panel").round(1).T

# %% [markdown]
# ## 8. Replay on the released data
#
# The same filter and selection run on data that is already scored. Online, `selection.STAR_41K`
# (the Hub's STAR-41K, every scored item) reproduces STAR-1 from the full pool. Offline we replay on
# the released STAR-1 (1,000 items, all scores 10), which the filter keeps whole, and show its
# composition (top sources, labels per item); selecting 500 of it with both algorithms gives the same items.

# %%
from star1_utils.run.resources import available

released = selection.replay(target_size=1000)
print(f"released STAR-1: {len(released['scored'])} rows, "
      f"{len(released['all_10'])} pass the filter, {len(released['selected'])} selected")
comp = selection.composition(released["selected"])
print("top sources:", dict(list(comp["sources"].items())[:5]))
print("labels per item:", comp["labels_per_item"])
half = selection.select_diverse(released["all_10"], 500)
half_ref = reference_select(released["all_10"], 500)
print("500 of it:", len(half), "items; identical to the reference port:",
      [r["id"] for r in half] == [r["id"] for r in half_ref])
print("STAR-41K available here (mirror or cache):", available(selection.STAR_41K))

# %% [markdown]
# ## 9. Writing the 1K
#
# `star1.jsonl` has the reference's fields (`id, question, response, category, source, score`), in
# the order of the all-10 pool, like the reference's `star1_high.json`.

# %%
FIELDS = ("id", "question", "response", "category", "source", "score")
n_written = artifacts.write_jsonl(star1_path, [{k: r[k] for k in FIELDS} for r in selected])
ctx.stage.finish(
    inputs=[reasoning_path], outputs=[scored_path, star1_path],
    counts={"traces": len(rows), "scored": len(scored), "failures": len(failures), "other": n_other,
            "all_10": len(all_10), "selected": n_written, "target_size": target},
    models={"scorer": cfg.roles.scorer.model},
    usage=usage)
print(f"wrote {n_written} rows to {star1_path}; five of them:")
five = selected[:: max(1, len(selected) // 5)][:5]
display(pd.DataFrame([{"instruction": r["question"][:70], "categories": labels(r),
                       "source": r["source"], "answer (start)": answer_start(r, 70)}
                      for r in five]))

# %% [markdown]
# ## What was produced
#
# - `04_selection/scored.jsonl`: every scored trace with its three scores;
# - `04_selection/star1.jsonl`: the selected set, the input of training (notebook 05);
# - `04_selection/failures.jsonl` (items the scorer could not grade, with ids) and `manifest.json`;
# - `figures/figure2_category_distribution.{png,pdf}` and `figures/04_score_histograms.{png,pdf}`.

# %%
out = artifacts.read_jsonl(star1_path, required=list(FIELDS))
assert len(out) == min(target, len(all_10))
assert all(selection.is_all_ten(r, reference_scores) and "Other" not in r["category"] for r in out)
if not out:
    print(f"no row selected: {len(rows)} traces, {len(scored)} scored, {len(failures)} failed "
          f"(in {ctx.stage.path('failures.jsonl')}); 05 has no row of this run to train on")
assert len({r["id"] for r in out}) == len(out)
assert {r["id"] for r in out} <= {r["id"] for r in scored}
assert all(p.is_file() for p in figure2)
assert artifacts.read_manifest(ctx.stage.dir)["counts"]["selected"] == len(out)
print(f"checks passed; notebook time {time.time() - t_start:.1f} s")

# %% [markdown]
# ## Summary
#
# Every trace was graded on three criteria with its own policies in view; only perfect traces
# survive, and a deterministic greedy removal balances sources and categories down to the target
# size. The fast selection is exact (same items, same order as the reference's loop) and turns a
# 20-30 minute step at 41K into about a second. Next: notebook 05 fine-tunes a model on `star1.jsonl`.

# %% [markdown]
# ## Exercises
#
# Predict first, then check. Each solution cell computes its answer from this notebook's run and
# asserts it (CI runs them); the student edition (`make student`) leaves an empty cell and the hint.

# %% [markdown]
# ### Exercise 04.1: which item does the greedy removal drop first, and why?
#
# Look at the all-10 pool's sources and categories (section 7) and **predict** the first item the
# diversity selection removes: from which source, with which categories? Then compute every item's
# score p(i) = P(source) x sum of P(c) yourself, with `collections.Counter`, and check that your
# highest-scoring item (the earliest on ties) is the one `selection.greedy_trace` removes first.
#
# *Hint:* P(c) divides by the number of *labels* in the pool, not of items; one step of the trace
# is `selection.greedy_trace(pool, len(pool) - 1)[0]["removed"]`.

# %% tags=["solution"]

pool = all_10 if len(all_10) > 1 else toy
n_src = Counter(r["source"] for r in pool)
n_cat = Counter(c for r in pool for c in r["category"])
n_labels = sum(n_cat.values())
p = [n_src[r["source"]] / len(pool) * sum(n_cat[c] / n_labels for c in r["category"]) for r in pool]
first = next(i for i, v in enumerate(p) if v >= max(p) - 1e-12)  # the earliest of the highest
assert selection.greedy_trace(pool, len(pool) - 1)[0]["removed"] == pool[first]["id"]
print(f"first removed: {pool[first]['id']} from {pool[first]['source']} "
      f"({n_src[pool[first]['source']]} of {len(pool)} items), categories {labels(pool[first])}, "
      f"p = {max(p):.4f}")
print("the pool's biggest source and most frequent categories:", n_src.most_common(1),
      [SHORT_NAMES.get(c, c) for c, _ in n_cat.most_common(2)])

# %% [markdown]
# ### Exercise 04.2: a selection with a different scoring rule
#
# The sum over categories makes a multi-label item more exposed (`b` goes first in the toy). Write
# `select_by(records, k, combine)` that runs the greedy removal with `combine` applied to the
# item's category probabilities (`sum` is the paper's rule; try `max`). Check that `sum` gives
# exactly `selection.select_diverse`'s items, that `max` removes `a` first in the toy, and
# **predict** whether `max` keeps more multi-label items of this run's pool.
#
# *Hint:* copy `item_scores` and `reference_select` of section 6 and replace `sum([...])` by
# `combine([...])`; keep its tie rule (`scores.index(max(scores))`).

# %% tags=["solution"]
def select_by(records, k, combine=sum):
    """The greedy removal down to ``k`` items, scoring P(source) x combine(P(c) of the item)."""
    data = list(records)
    while len(data) > k:
        n_c = Counter(c for r in data for c in r["category"])
        total = sum(n_c.values())
        n_s = Counter(r["source"] for r in data)
        item_prob = [n_s[r["source"]] / len(data) * combine([n_c[c] / total for c in r["category"]])
                     for r in data]
        data.pop(item_prob.index(max(item_prob)))
    return data

# %% tags=["solution"]
ids = lambda recs: [r["id"] for r in recs]  # noqa: E731
small = all_10[:300]  # the O(n^2) loop stays a second or two in every profile
k = min(target, len(small) - 1) if len(small) > 1 else 0
assert ids(select_by(small, k, sum)) == ids(selection.select_diverse(small, k))
assert [t["id"] for t in toy if t["id"] not in ids(select_by(toy, 6, max))] == ["a"]
kept_by = {rule.__name__: select_by(small, k, rule) for rule in (sum, max)}
multi_kept = {name: sum(len(r["category"]) > 1 for r in recs) for name, recs in kept_by.items()}
print(f"{k} of {len(small)} items kept; multi-label items kept: {multi_kept}")
singles = [r for r in small if len(r["category"]) == 1]
assert ids(select_by(singles, len(singles) // 2, max)) == ids(select_by(singles, len(singles) // 2))

# %% [markdown]
# For single-label items the two rules are the same rule (the last assertion). With `max` a
# multi-label item counts only its most frequent category, so it is no longer removed just for
# having several labels.

# %% [markdown]
# ### Exercise 04.3: quality or quantity? (open)
#
# The paper's Table 2 trains the same R1-distilled models on SafeChain 1K (a random 1K), SafeChain
# 40K, STAR-1 Med 1K (middling scores) and STAR-1 High 1K (the all-10 selection). From these rows,
# which matters more for safety: the number of examples or their scores? What does it cost in
# reasoning? And the open part: would an "all 9 or 10" filter with more items be better?
#
# *Hint:* `paper.load("ablations")` (`star1_utils/data/paper/ablations.csv`, every row cited); keep
# the rows of Table 2 and pivot `benchmark` against `variant`.

# %% tags=["solution"]
from star1_utils.report import paper

t2 = paper.load("ablations")
t2 = t2[t2["table"].str.startswith("Table 2")]
wide = t2.pivot_table(index=["model_family", "variant"], columns="benchmark", values="value")
safety_cols = ["StrongREJECT", "JBB-Behaviors", "WildChat", "WildJailbreak"]
assert (wide[safety_cols].mean(axis=1) - wide["Avg_Safety"]).abs().max() <= 0.05 + 1e-9
display(wide[["Avg_Safety", "Avg_Reasoning"]].unstack("model_family").round(1))
for fam, rows_f in wide.groupby(level="model_family"):
    v = rows_f.droplevel("model_family")["Avg_Safety"]
    assert v["STAR-1 High 1K"] > max(v["STAR-1 Med 1K"], v["SafeChain 40K (full)"]), fam

# %% [markdown]
# In both families the high-scoring 1K is safer than 40 times as many unfiltered traces, and the
# middling 1K sits between: the score filter, not the size, carries the gain. Whether a looser
# filter with more rows would do better is not in the table: that is the open part.
