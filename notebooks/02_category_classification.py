# %% [markdown]
# # 02 · Safety-category classification
#
# > Wang et al. 2025, *STAR-1*, Section 2.2: every collected instruction is labelled by GPT-4o with the
# > safety categories it touches, so that notebook 03 can show the teacher only the relevant policies.
#
# **What you will learn here**
#
# - the exact prompt the paper sends to GPT-4o (shown whole once) and the 8 categories plus "Other";
# - how the answers are parsed safely (the reference runs Python `eval` on model output) and validated;
# - how a long labelling run is made resumable: cache, back-off, failure records instead of crashes;
# - the category distribution of the labelled data (multi-label counts);
# - how well the demo's stand-in classifier agrees with GPT-4o's labels on the released STAR-1.
#
# **Expected runtime and hardware**
#
# | profile | classifier | hardware | time |
# |---|---|---|---|
# | demo | stand-in (MiniLM embeddings, in-process) | any CPU | under 45 s |
# | full | GPT-4o (or any OpenAI-compatible endpoint) | CPU + network, API key | about 41K requests: 30-60 min at concurrency 32 (the reference ran them one by one: 15-25 h) |
#
# **Content note:** the instructions being classified include requests for harmful content. Only short
# excerpts of instructions are shown here; no model output is harmful.
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters
#
# Standard parameters, then the endpoint of the `classifier` role. A key is never a parameter: name the
# environment variable that holds it.

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. classification.agreement_sample -> 100
classifier_base_url = ""  # OpenAI-compatible endpoint of the classifier role; empty: profile value
classifier_model = ""  # model id at that endpoint; empty: profile value
classifier_api_key_env = ""  # NAME of the env variable holding the key, never the key
classifier_concurrency = 0  # parallel requests; 0 keeps the profile value

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# The libraries, and the package modules that hold this section's code:

# %%
import math
import random

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display
import seaborn as sns

from star1_utils.dataset import classification, collection, policies
from star1_utils.llm import engine
from star1_utils.report import viz
from star1_utils.run.artifacts import read_jsonl, write_jsonl
from star1_utils.run.config import role_parameters
from star1_utils.run.notebook import start
from star1_utils.run.resources import ResourceError

# %% [markdown]
# Derived values: the resolved profile, the run folder and this stage's folder.

# %%
roles = role_parameters(globals(), "classifier")  # classifier_base_url, ... from the parameters
ctx = start("02", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides, **roles)
cfg = ctx.cfg
viz.set_style()

# %% [markdown]
# The classifier role this run talks to:

# %%
role = cfg.role("classifier")
print(f"classifier: {role.model} at {role.base_url} (concurrency {role.concurrency})")
if ctx.is_stand_in("classifier"):
    print("This is the demo STAND-IN: a MiniLM embedding classifier, not a language model.")

# %% [markdown]
# ## 1. The input: notebook 01's collection
#
# One row per instruction (`id`, `question`, `source`).

# %%
collected_path = ctx.stage_dir("01") / "collected.jsonl"
items = ctx.stage.read_input(collected_path, required={"id": str, "question": str},
                             may_be_empty=collection.may_be_empty(cfg))
items = ctx.take(items)
print(f"{len(items)} instructions from {collected_path}")
pd.DataFrame(items).head(5).assign(question=lambda d: d.question.str.slice(0, 80))

# %% [markdown]
# ## 2. The prompt
#
# The reference formats `CLASSIFICATION_PROMPT_TEMPLATE` with the instruction and the category
# definitions, and sends it as a single user message (content: one text part), no system prompt,
# `max_completion_tokens=1024`, default temperature. Both texts come from the paper's repository and
# are verified by SHA-256 (the typo "whithin" is the paper's). Here it is, whole, for the first item:

# %%
print(classification.build_prompt(items[0]["question"]))

# %% [markdown]
# ## 3. Reading the answer without `eval`
#
# The reference runs `eval()` on GPT-4o's reply, which executes whatever the model writes and fails on
# a reply wrapped in a code fence. Here the reply is parsed as JSON or as a Python *literal*
# (`ast.literal_eval`, nothing runs); fences, a `<think>` block and stray prose are tolerated; each
# name must be one of the 8 categories or "Other". An invalid reply raises `InvalidAnswer`: the engine
# asks again, and after `max_attempts` records the item as a failure (it is retried on the next run).

# %%
examples = ['["Self-Harm"]',
            '```json\n["Privacy / Personal Data", "Illicit / Criminal Behavior"]\n```',
            "Categories: ['sexual/adult',] (that is all)",
            '["Weapons"]',
            '__import__("os").system("ls")']
rows = []
for text in examples:
    try:
        rows.append({"reply": text, "parsed": classification.parse_categories(text)})
    except engine.InvalidAnswer as e:
        rows.append({"reply": text, "parsed": f"InvalidAnswer: {e}"})
pd.DataFrame(rows)

# %% [markdown]
# That is the suite's reading (`classification.lenient_parse` and `dedupe_labels`, both on in the
# demo and the miniature). The `full` profile reads as the reference does: only a bare list, kept as
# written, so a repeated label stays and its policy is shown twice to the teacher. Both ways, on the
# same replies (the run below uses this profile's):

# %%
def both_ways(text: str, **switches) -> str:
    try:
        return str(classification.parse_categories(text, **switches))
    except engine.InvalidAnswer:
        return "InvalidAnswer (asked again)"


same = ['["Self-Harm", "Self-Harm"]', '```json\n["Self-Harm"]\n```']
print("this profile: lenient_parse", cfg.classification.lenient_parse,
      "| dedupe_labels", cfg.classification.dedupe_labels)
pd.DataFrame([{"reply": t, "suite": both_ways(t),
               "reference": both_ways(t, lenient=False, dedupe=False)} for t in same])

# %% [markdown]
# ## 4. The run
#
# `engine.run_batch` sends one request per item with bounded concurrency, backs off on 429/5xx/timeouts
# (honouring `retry-after`), and commits each answer to an SQLite cache as it arrives: stop the run at
# any point and the next one sends only what is missing. Identical requests are sent once.

# %%
outcome = classification.classify(cfg, items, ctx.cache_path)
labelled = classification.labelled_rows(items, outcome)
classified_path = ctx.stage.path("classified.jsonl")
write_jsonl(classified_path, labelled)
failures_path = ctx.stage.record_failures(outcome.failures)
print(f"labelled {len(labelled)} of {len(items)}; failures: {len(outcome.failures)}")
print("usage:", outcome.usage)

# %% [markdown]
# A few labelled items. In the demo the labels come from the **stand-in classifier**: it embeds the
# instruction and each category definition parsed from the prompt with MiniLM and keeps the
# categories within a calibrated margin of the best match. It is not a language model, and some of its
# labels are plainly wrong (a threat filed under Self-Harm, a pressuring message under Other). Wrong
# labels travel downstream: notebook 03 grounds the reasoning in the wrong policy, and notebook 04
# shows which of those traces the scorer catches. Section 6 measures how often it agrees with GPT-4o.

# %%
pd.DataFrame([{"id": r["id"], "question": r["question"][:70], "category": r["category"]}
              for r in labelled[:8]])

# %% [markdown]
# ## 5. Category distribution
#
# Multi-label counts: an instruction in two categories counts once in each. Items labelled "Other"
# stay in `classified.jsonl`, as in the reference, but are excluded before reasoning generation
# (notebook 03): there is no policy for them, and the reference crashes on them (`KeyError`).

# %%
counts = classification.category_counts(labelled)
n_multi = sum(len(r["category"]) > 1 for r in labelled)
dist = pd.DataFrame({"category": list(counts), "items": list(counts.values())})
fig, ax = plt.subplots(figsize=(10, 5))
sns.barplot(data=dist, y="category", x="items", ax=ax, color=sns.color_palette()[0])
ax.set_title(f"Category distribution ({len(labelled)} items, {n_multi} with several labels)")
ax.set_ylabel("")
viz.save_figure(fig, ctx.figures_dir() / "02_category_distribution")
plt.show()
print(f"{n_multi} of {len(labelled)} items have more than one label; {counts['Other']} are Other")

# %% [markdown]
# ## 6. Agreement with GPT-4o on the released STAR-1
#
# The released STAR-1 (1,000 items) carries GPT-4o's labels. Sending its instructions to the
# classifier role shows how close it comes to them. GPT-4o's labels are themselves model output, not
# ground truth, and STAR-1 has no "Other" items (they were dropped at selection), so this measures
# agreement on harmful instructions only. The profile's `classification.agreement_sample` sets how many
# items are compared (demo: a fixed random sample, to stay within its time budget). The stand-in's two
# thresholds were calibrated on the items at even positions of the release, so with the stand-in the
# sample is drawn from the other half only: a fair, held-out measurement.

# %%
agreement = confusion = None
n_compare = cfg.classification.agreement_sample
try:
    release = classification.load_release() if n_compare >= 0 else []
except ResourceError as e:
    release = []
    print("The released STAR-1 is not available (offline, no mirror):", e)

# %% [markdown]
# The items compared: with the stand-in, the held-out half only; then a seeded sample of
# `agreement_sample` of them (0 compares them all).

# %%
sample = []
if release:
    pool = release
    if ctx.is_stand_in("classifier"):
        from star1_utils.demo.standins.classifier import HELD_OUT_POSITIONS

        pool = release[HELD_OUT_POSITIONS]
        print(f"stand-in classifier: comparing on the held-out half "
              f"({len(pool)} items at odd positions)")
    k = min(n_compare, len(pool))
    sample = pool if n_compare == 0 else random.Random(cfg.seed).sample(pool, k)

# %% [markdown]
# Their instructions go to the classifier role, and its labels are compared with GPT-4o's (the
# released rows' `category`), per category and pooled ("micro").

# %%
if sample:
    star = [{"id": f"star1-{r['id']}", "question": r["question"]} for r in sample]
    gold = {f"star1-{r['id']}": r["category"] for r in sample}
    out_star = classification.classify(cfg, star, ctx.cache_path, desc="STAR-1 agreement")
    pred = {i: res.parsed for i, res in out_star.results.items()}
    if not pred:  # a real classifier can fail every item of a small sample: nothing to compare
        print(f"none of the {len(star)} items got a label ({len(out_star.failures)} failed): "
              "no agreement to measure")
if sample and pred:
    agreement = classification.agreement(gold, pred)
    confusion = classification.confusion(gold, pred)
    agreement.to_csv(ctx.stage.path("agreement.csv"))
    exact = agreement.attrs["exact_match"]
    print(f"{agreement.attrs['n_items']} items compared; exact label-set match {exact:.1%}")
    display(agreement.round(3))

# %% [markdown]
# The micro row pools every label decision: a label both gave is a true positive, one only the
# classifier gave a false positive, one only GPT-4o gave a false negative. Written out as a loop
# over this run's compared items, it gives the micro F1 of `classification.agreement`:

# %%
if agreement is not None:
    both = [i for i in gold if i in pred]
    tp = sum(len(set(gold[i]) & set(pred[i])) for i in both)
    fp = sum(len(set(pred[i]) - set(gold[i])) for i in both)
    fn = sum(len(set(gold[i]) - set(pred[i])) for i in both)
    micro_f1 = 2 * tp / (2 * tp + fp + fn)
    print(f"true positives {tp}, false positives {fp}, false negatives {fn}: "
          f"micro F1 {micro_f1:.3f}")
    assert math.isclose(micro_f1, agreement.loc["micro", "f1"]), agreement.loc["micro"]

# %% [markdown]
# **How to read it.** Precision is how often the classifier's label is one GPT-4o also gave; recall, how
# many of GPT-4o's labels it found. The exact label-set match is strict: one missing or extra label on a
# multi-label item counts as a miss. Below, for each GPT-4o category, the label the classifier most
# often gave *instead*, and how often: that is where the stand-in's embedding of the category
# definitions disagrees with GPT-4o's reading. A real classifier role (GPT-4o, or any model behind an
# endpoint) is measured the same way.

# %%
if confusion is not None:
    off = confusion.copy()
    for c in off.index:
        if c in off.columns:
            off.loc[c, c] = float("nan")  # the diagonal is agreement, not confusion
    display(pd.DataFrame({"recall": agreement.loc[off.index, "recall"].round(2),
                          "most frequent other label": off.idxmax(axis=1),
                          "share of the row's items": off.max(axis=1).round(2)}))

# %% [markdown]
# The heat map: each row is one of GPT-4o's categories; each cell is the share of that row's items
# the classifier gave the column's label (rows can sum to more than 1: labels are multi-label).

# %%
if confusion is not None:
    fig, ax = plt.subplots(figsize=(11, 7))
    short = {**policies.SHORT_NAMES, "Other": "Other"}
    sns.heatmap(confusion.rename(index=short, columns=short), annot=True, fmt=".2f",
                cmap="Blues", vmin=0, vmax=1, ax=ax, cbar_kws={"label": "share of row items"})
    ax.set_xlabel(f"{role.model} label")
    ax.set_ylabel("GPT-4o label (released STAR-1)")
    ax.set_title("Classifier vs GPT-4o")
    viz.save_figure(fig, ctx.figures_dir() / "02_agreement_confusion")
    plt.show()

# %% [markdown]
# ## 7. What was produced

# %%
outputs = [classified_path, failures_path]
stage_counts = {"in": len(items), "labelled": len(labelled), "failed": len(outcome.failures),
                "other": counts["Other"], "multi_label": n_multi}
if agreement is not None:
    outputs.append(ctx.stage.path("agreement.csv"))
    stage_counts["agreement_items"] = agreement.attrs["n_items"]
    stage_counts["agreement_micro_f1"] = round(float(agreement.loc["micro", "f1"]), 4)
ctx.stage.finish(inputs=[collected_path], outputs=outputs, counts=stage_counts,
                 models={"classifier": role.model}, usage={"classifier": outcome.usage})
for p in outputs + [ctx.stage.path("manifest.json")]:
    print(p)

# %%
check = read_jsonl(classified_path, required=["id", "question", "category"])
assert len(check) + len(outcome.failures) == len(items)
assert all(r["category"] and set(r["category"]) <= set(classification.ALLOWED) for r in check)
assert len({r["id"] for r in check}) == len(check)
print("checks passed")

# %% [markdown]
# ## Summary
#
# Every instruction now carries a validated list of safety categories in `02_classification/classified.jsonl`
# (items that failed their retries are in `failures.jsonl` and are retried on the next run). The
# labelling is resumable and safe to parse. In the demo, the labels come from a MiniLM stand-in whose
# agreement with GPT-4o is shown above; a paper-scale run points the `classifier` role at GPT-4o.
# Next: notebook 03 writes a policy-grounded reasoning trace for each non-"Other" item.

# %% [markdown]
# ## Exercises
#
# Predict first, then check. Each solution cell computes its answer from this notebook's run and
# asserts it (CI runs them); the student edition (`make student`) leaves an empty cell and the hint.

# %% [markdown]
# ### Exercise 02.1: the reference's strict reading
#
# The reference accepts only a reply that *is* a Python list (anything else is retried; the
# suite's `classification.lenient_parse` switch reproduces it). Write `bare_list(text)` that returns
# the list for a bare list of allowed names (the 8 categories or "Other") and raises
# `engine.InvalidAnswer` for everything else, without running any code. It must reject four of the
# five replies of section 3 and accept `["Self-Harm"]`. Then check it never disagrees with the
# suite's parser on a reply of this run that it accepts.
#
# *Hint:* `ast.literal_eval` on the stripped text reads literals only; then check the type and
# that every name is in `classification.ALLOWED`.

# %% tags=["solution"]
import ast


def bare_list(text: str) -> list:
    """The category list of a reply that is exactly a Python list of allowed names."""
    try:
        value = ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as e:
        raise engine.InvalidAnswer(f"not a bare list: {e}") from None
    if not isinstance(value, list) or not value or not set(value) <= set(classification.ALLOWED):
        raise engine.InvalidAnswer(f"not a list of allowed categories: {value!r}")
    return value

# %% tags=["solution"]
verdicts = {}
for text in examples:
    try:
        verdicts[text] = bare_list(text)
    except engine.InvalidAnswer:
        verdicts[text] = None
assert [text for text, v in verdicts.items() if v is not None] == ['["Self-Harm"]'], verdicts

# %% tags=["solution"]
read_alike = []  # every reply of this run that bare_list accepts, read as the suite reads it
for text in (r.text for r in outcome.results.values()):
    try:
        mine = list(dict.fromkeys(bare_list(text)))  # the suite drops repeated labels
        read_alike.append(mine == classification.parse_categories(text))
    except engine.InvalidAnswer:
        continue
print(f"{len(outcome.results)} replies, {len(read_alike)} bare lists; alike: {all(read_alike)}")
assert all(read_alike)

# %% [markdown]
# ### Exercise 02.2: one wrong label too many
#
# Suppose the classifier added one wrong label (one GPT-4o did not give) to every item of the
# agreement sample. **Predict** what happens to micro precision, micro recall and the exact
# label-set match. Then compute it with `classification.agreement`. Why does it matter downstream?
# (Notebook 03 shows the teacher every labelled category's policy; notebook 04's scorer marks
# down reasoning that cites policies that are not relevant.)
#
# *Hint:* build `pred_plus` from `pred` by appending, per item, the first category in
# `policies.CATEGORIES` that is in neither its gold nor its predicted list.

# %% tags=["solution"]
if agreement is None:
    print("no agreement sample in this run (the released STAR-1 is not available)")
else:
    def one_wrong_label(i: str) -> list:
        return pred[i] + [next(c for c in policies.CATEGORIES if c not in gold[i] + pred[i])]

    pred_plus = {i: one_wrong_label(i) for i in pred if i in gold}
    plus = classification.agreement(gold, pred_plus)
    compare = pd.DataFrame({"as classified": agreement.loc["micro"],
                            "+1 wrong label": plus.loc["micro"]})
    display(compare.loc[["precision", "recall", "f1"]].round(3))
    assert plus.loc["micro", "recall"] == agreement.loc["micro", "recall"]
    assert plus.loc["micro", "precision"] < agreement.loc["micro", "precision"]
    assert plus.attrs["exact_match"] == 0.0

# %% [markdown]
# Recall cannot move (no label GPT-4o gave was added or lost), precision must fall, and no item's
# label set matches any more.

# %% [markdown]
# ### Exercise 02.3: do wrong labels hurt the final model? (discussion)
#
# GPT-4o's labels are model output, not ground truth. Design an experiment that tells whether label
# errors at this step change the safety of the model trained in notebook 05. What would you hold
# fixed, what would you vary, and which of the paper's ablations comes closest (Table 2 compares
# STAR-1 Med 1K and High 1K, `star1_utils/data/paper/ablations.csv`)?
#
# *Hint:* a label decides which policies the teacher sees and what the scorer checks the trace
# against; think about which of those two steps could catch an error.
