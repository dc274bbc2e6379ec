# %% [markdown]
# # 03 · Deliberative reasoning generation
#
# > Wang et al. 2025, *STAR-1*, Section 2.2: for every labelled instruction, DeepSeek-R1 is shown the
# > policies of the item's own categories and asked to reason about them ("Safety policy section X says
# > that ...") before answering: refuse, safe-complete, or comply.
#
# **What you will learn here**
#
# - how an item's prompt is assembled: only its own categories' policies, in label order, joined by `---`;
# - R1's decoding (temperature 0.6, top_p 0.7, max_tokens 8000) and the stored form
#   `<think>\n{reasoning}\n</think>\n\n{answer}`, whatever the endpoint returns;
# - what happens to an answer cut at the token limit, and to items labelled "Other";
# - the length of the traces, and the failures table.
#
# **Expected runtime and hardware**
#
# | profile | teacher | hardware | time |
# |---|---|---|---|
# | demo | stand-in (rule-based, in-process) | any CPU | under 30 s |
# | full | DeepSeek-R1 (any OpenAI-compatible endpoint) | CPU + network, API key | about 41K long requests: several hours at concurrency 32 (the reference ran them one by one) |
#
# **Content note:** the instructions include requests for harmful content; only short excerpts are shown.
# The answers shown refuse or safe-complete them.
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters
#
# Standard parameters, then the endpoint of the `teacher` role (the key is read from the environment
# variable you name, never passed).

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. reasoning.max_tokens -> 4000
teacher_base_url = ""  # OpenAI-compatible endpoint of the teacher role; empty: profile value
teacher_model = ""  # model id at that endpoint; empty: profile value
teacher_api_key_env = ""  # NAME of the env variable holding the key, never the key
teacher_concurrency = 0  # parallel requests; 0 keeps the profile value

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# The libraries, and the package modules that hold this section's code:

# %%

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import display

from star1_utils.dataset import classification, collection, policies, traces
from star1_utils.llm import engine, replies
from star1_utils.report import viz
from star1_utils.run.artifacts import read_jsonl, write_jsonl
from star1_utils.run.config import role_parameters
from star1_utils.run.notebook import start
from star1_utils.run.resources import ResourceError

# %% [markdown]
# Derived values: the resolved profile, the run folder and this stage's folder.

# %%
roles = role_parameters(globals(), "teacher")  # teacher_base_url, ... from the parameters
ctx = start("03", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides, **roles)
cfg = ctx.cfg
viz.set_style()

# %% [markdown]
# The teacher role this run talks to, and R1's decoding:

# %%
role = cfg.role("teacher")
print(f"teacher: {role.model} at {role.base_url} (concurrency {role.concurrency})")
print("decoding:", traces.decoding(cfg))
if ctx.is_stand_in("teacher"):
    print("This is the demo STAND-IN: a rule-based program that reads the policies, "
          "not a language model.")

# %% [markdown]
# ## 1. The input, without "Other"
#
# Items labelled "Other" have no policy. The reference looks their policy up and crashes
# (`KeyError`); here they are excluded and counted. STAR-1 drops them at selection anyway, so the
# 1K does not change.

# %%
classified_path = ctx.stage_dir("02") / "classified.jsonl"
rows = ctx.stage.read_input(classified_path,
                            required={"id": str, "question": str, "category": list},
                            may_be_empty=collection.may_be_empty(cfg))
items, excluded = traces.eligible(rows)
items = ctx.take(items)
print(f"{len(rows)} classified items: {len(items)} to reason about, "
      f"{len(excluded)} excluded as Other")

# %% [markdown]
# ## 2. The assembled prompt for one item
#
# `COT_PROMPT_TEMPLATE` (the second definition in the paper's `prompt.py`, which overrides the first)
# with the instruction and the item's policies. The policy block is the reference's one line
# (`data_making/deliberative_reasoning/reasoning_generation/reasoning_generation.py:67-69`): the
# policies of the item's own categories, in label order, joined by `"\n---\n"` (the package's
# `policies.policies_for`). Written out for every item of this run, in a cell to edit and run, the
# prompt is the template filled with that join, which is exactly what `traces.build_prompt` sends:

# %%
cot = policies.template("COT_PROMPT_TEMPLATE")
for r in items:
    block = "\n---\n".join(policies.policy(c) for c in r["category"])
    expected = cot.format(instruction=r["question"], related_policies=block)
    assert traces.build_prompt(r["question"], r["category"]) == expected, r["id"]
print(f"{len(items)} prompts: each embeds only its own categories' policies, in label order")

# %% [markdown]
# Shown whole for an item with the most labels:

# %%
# an item with several labels, Self-Harm not first (that one gets crisis resources, shown below)
example = max(items, key=lambda r: len(r["category"]) if r["category"][0] != "Self-Harm" else 0,
              default=None)
if example is None:  # 02 labelled nothing this run can reason about (its failures are recorded)
    print("no classified item to reason about: 02 labelled none outside Other")
else:
    print("categories:", example["category"], "\n")
    print(traces.build_prompt(example["question"], example["category"]))

# %% [markdown]
# ## 3. The run
#
# One request per item through `engine.run_batch` (cached, resumable, bounded concurrency). An answer
# that stops at `max_tokens` (`finish_reason == "length"`) is retried and then recorded as a failure;
# the reference's loop would abort the whole run on the first item that exhausts its retries.
# Two switches decide what is kept (`reasoning.resample_empty`, `reasoning.add_think_tag`): by
# default an empty answer is sampled again and a reply lacking the opening `<think>` gains one; the
# reference (the `full` profile) accepts any `stop` reply and stores it as it came.

# %%
print("resample_empty:", cfg.reasoning.resample_empty,
      "| add_think_tag:", cfg.reasoning.add_think_tag)
outcome = traces.generate(cfg, items, ctx.cache_path)
trace_rows = traces.response_rows(items, outcome, cfg.reasoning.add_think_tag)
reasoning_path = ctx.stage.path("reasoning.jsonl")
write_jsonl(reasoning_path, trace_rows)
failures_path = ctx.stage.record_failures(outcome.failures)
print(f"traces: {len(trace_rows)} of {len(items)}; failures: {len(outcome.failures)}")
print("usage:", outcome.usage)

# %% [markdown]
# ## 4. One trace, split into reasoning and answer
#
# The stored `response` is `<think>\n{reasoning}\n</think>\n\n{answer}`. In the demo it was written
# by the **stand-in teacher**, a program that parses the policies in the prompt, picks the rule that
# governs its decision and quotes it; it is not a language model.

# %%
first_result = next(iter(outcome.results.values()), None)
shown = outcome.results.get(example["id"], first_result) if example else first_result
if shown is None:
    print(f"no trace to show: none of the {len(items)} items got an accepted answer")
else:  # a real teacher's reply can lack the reasoning block (kept as it came in reference mode)
    print("REASONING\n---------\n" + (shown.reasoning or "(none: the reply has no <think> block)"))
    print("\nANSWER\n------\n" + (shown.answer or "(empty)"))


# %% [markdown]
# The answer follows the decision the reasoning reached. Three more answers for contrast: a refusal, a
# safe completion (general context, no details) and crisis resources for an item whose first label is
# Self-Harm (the stand-in never simply complies: every item here carries a safety category):

# %%
def first_answer(start: str, prefer: tuple[str, ...] = ()) -> dict | None:
    """The first trace whose answer starts with ``start``, preferring a question with a
    ``prefer`` word in it; ``None`` when no answer starts that way."""
    hits = [t for t in trace_rows if replies.split_think(t["response"])[1].startswith(start)]
    preferred = (t for t in hits if any(w in t["question"].lower() for w in prefer))
    return next(preferred, hits[0] if hits else None)


sad_words = ("sad", "hopeless", "worthless", "lonel")
contrast = {"refusal": first_answer("I'm sorry"),
            "safe completion": first_answer("Here is some general context"),
            "crisis resources": first_answer("I'm really sorry you're feeling", prefer=sad_words)}
for kind, t in contrast.items():
    if t:
        answer = replies.split_think(t["response"])[1]
        print(f"{kind}: {t['question'][:80]!r} ({', '.join(t['category'])})\n  -> {answer}\n")

# %% [markdown]
# ## 5. Length statistics
#
# Words in the reasoning and in the answer, beside DeepSeek-R1's traces in the released STAR-1 (when it
# is available: mirror or Hub).

# %%
stats = traces.length_stats(trace_rows)  # columns even for no rows
try:
    released = traces.length_stats(classification.load_release())
except ResourceError as e:
    released = None
    print("released STAR-1 not available:", e)
words = ["reasoning_words", "answer_words"]
table = {f"this run ({role.model})": stats[words].describe()}
if released is not None:
    table["released STAR-1 (DeepSeek-R1)"] = released[words].describe()
display(pd.concat(table, axis=1).loc[["count", "mean", "50%", "max"]].round(1))

# %% [markdown]
# The same, as histograms on a common scale:

# %%
fig, axes = plt.subplots(1, 2, figsize=(13, 4.2), layout="constrained")
for ax, col in zip(axes, words):
    both = pd.concat([stats[col]] + ([released[col]] if released is not None else []))
    bins = np.linspace(0, both.quantile(0.99), 25)  # the 1% longest are off the scale
    ax.hist(stats[col].clip(upper=bins[-1]), bins=bins, alpha=0.7, density=True,
            label=f"this run ({role.model})")
    if released is not None:
        ax.hist(released[col].clip(upper=bins[-1]), bins=bins, alpha=0.6, density=True,
                label="released STAR-1 (DeepSeek-R1)")
    ax.set_xlabel(f"words in the {col.split('_')[0]}")
    ax.set_ylabel("density")
    ax.legend(fontsize=9)
fig.suptitle("Trace lengths (the longest 1% are counted in the last bin)")
viz.save_figure(fig, ctx.figures_dir() / "03_trace_lengths")
plt.show()

# %% [markdown]
# ## 6. Failures
#
# Items that got no accepted answer, with the reason; they are retried on the next run (the cache
# holds only accepted answers). To see the mechanism, the demo also asks for one trace with a
# `max_tokens` far too small: the answer is cut, retried, and recorded.

# %%
failures = pd.DataFrame(outcome.failures, columns=["id", "reason", "attempts"])
print(f"{len(failures)} failures in this run")
if ctx.is_stand_in("teacher"):
    too_short = {**traces.decoding(cfg), "max_tokens": 40}
    cut = engine.run_batch(cfg, "teacher", [example], build_messages=traces.build_messages,
                           parse=traces.parse_trace, decoding=too_short,
                           desc="max_tokens=40 demo", progress=False)
    display(pd.DataFrame(cut.failures).assign(note="demonstration, not part of the run"))
failures if len(failures) else "no failures in the run itself"

# %% [markdown]
# ## 7. What was produced

# %%
ctx.stage.finish(
    inputs=[classified_path], outputs=[reasoning_path, failures_path],
    counts={"classified": len(rows), "excluded_other": len(excluded), "in": len(items),
            "traces": len(trace_rows), "failed": len(outcome.failures)},
    models={"teacher": role.model}, usage={"teacher": outcome.usage},
)
for p in (reasoning_path, failures_path, ctx.stage.path("manifest.json")):
    print(p)

# %%
check = read_jsonl(reasoning_path, required=["id", "question", "category", "response"])
assert len(check) + len(outcome.failures) == len(items)
if cfg.reasoning.add_think_tag:  # the reference's mode stores each reply as it came
    assert all(r["response"].startswith("<think>\n") and "\n</think>\n\n" in r["response"]
               for r in check)
assert not any("Other" in r["category"] for r in check)
print("checks passed")

# %% [markdown]
# ## Summary
#
# `03_reasoning/reasoning.jsonl` holds, for every non-"Other" item, a reasoning trace grounded in its own
# categories' policies and a final answer, in the reference's stored form. The run is cached and
# resumable; truncated answers are retried and then recorded, never silently kept. Next: notebook 04
# scores these traces and selects the 1K.

# %% [markdown]
# ## Exercises
#
# Predict first, then check. Each solution cell computes its answer from this notebook's run and
# asserts it (CI runs them); the student edition (`make student`) leaves an empty cell and the hint.

# %% [markdown]
# ### Exercise 03.1: what one more label costs the teacher
#
# **Predict** how many characters a second and a third category add to the teacher's prompt for
# the same instruction, from what you know of the policy block (section 2). Then check it with
# `traces.build_prompt`, and look at this run's prompt lengths by number of labels.
#
# *Hint:* each extra category adds its whole policy text plus the `\n---\n` separator; the rest of
# the template does not change.

# %% tags=["solution"]
cats = list(policies.CATEGORIES[:3])
q = example["question"] if example else "any instruction"  # the template does not depend on it
lengths_by_k = [len(traces.build_prompt(q, cats[:k])) for k in (1, 2, 3)]
added = [b - a for a, b in zip(lengths_by_k, lengths_by_k[1:])]
print(f"prompt lengths for 1, 2, 3 categories: {lengths_by_k}; added {added}")
assert added == [len(policies.policy(c)) + len("\n---\n") for c in cats[1:]]
by_k = pd.Series({r["id"]: len(traces.build_prompt(r["question"], r["category"])) for r in items})
k = pd.Series({r["id"]: len(r["category"]) for r in items})
if items:
    display(by_k.groupby(k).describe()[["count", "mean", "max"]].round(0))

# %% [markdown]
# ### Exercise 03.2: is the reasoning policy-grounded?
#
# STAR-1's traces should cite the policies of the item's **own** categories, not safety in general.
# Write `quotes(reasoning, category)`: `True` when the reasoning shares a run of 6 words with that
# category's policy text. Then measure, over this run's traces, the share that quote every one of
# their own policies and the share that quote a policy they were not given. Check your function on
# two made-up reasoning texts first.
#
# *Hint:* `dedup.normalize_string` and `dedup.word_ngrams(text, 6)` from notebook 01; build each
# policy's set of 6-grams once, then intersect.

# %% tags=["solution"]
from star1_utils.dataset import dedup

policy_grams = {c: set(dedup.word_ngrams(dedup.normalize_string(policies.policy(c)), 6))
                for c in policies.CATEGORIES}


def quotes(reasoning: str, category: str) -> bool:
    """Whether ``reasoning`` shares a 6-word run with ``category``'s policy text."""
    grams = dedup.word_ngrams(dedup.normalize_string(reasoning), 6)
    return not policy_grams[category].isdisjoint(grams)


sentence = dedup.normalize_string(policies.policy(cats[0])).split()[20:32]
assert quotes("As the policy says, " + " ".join(sentence), cats[0])
assert not quotes("This seems fine to answer, so I will just answer it.", cats[0])

# %% tags=["solution"]
own, other = [], []
for r in trace_rows:
    reasoning = replies.split_think(r["response"])[0] or ""
    own.append(all(quotes(reasoning, c) for c in r["category"]))
    other.append(any(quotes(reasoning, c) for c in policies.CATEGORIES if c not in r["category"]))
print(f"{sum(own)} of {len(own)} traces quote every one of their own policies; "
      f"{sum(other)} quote a policy they were not given")
if ctx.is_stand_in("teacher"):  # the stand-in quotes the rule it decides by, for each category
    assert all(own), [r["id"] for r, ok in zip(trace_rows, own) if not ok][:5]

# %% [markdown]
# A trace that quotes a policy it was not given can only have borrowed the words (policies share
# phrases such as "the AI must refuse"); notebook 04's scorer reads the same traces for relevance.

# %% [markdown]
# ### Exercise 03.3: refuse, safe-complete, or comply? (discussion)
#
# Every item here carries a safety category, and the stand-in never simply complies. Read the
# policies' rules (notebook 00 prints them): which requests do they say to answer in full? Should a
# model trained only on these traces ever comply with a request that mentions a sensitive topic,
# and what does your answer predict for over-refusal (notebook 08)?
#
# *Hint:* look for the rules named "Compliance" or "Safe completion" in a policy, and for the
# examples of requests they allow.
