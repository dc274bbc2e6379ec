# %% [markdown]
# # 07 · Reasoning evaluation: AIME 2024, MATH-500, GPQA-Diamond, HumanEval, MMLU-Pro
#
# > Wang et al. 2025, *STAR-1*, Section 3.1 and Table 1: safety training should cost little reasoning.
# > The trained model answers five reasoning benchmarks (one greedy sample per question); the
# > "Avg. Reasoning" column is the unweighted mean of the five accuracies (paper: about -1.1 points
# > versus the R1-distilled model before STAR-1).
#
# **What you will learn here**
#
# - the five benchmarks, the reference prompts (a modified openai/simple-evals) and its decoding:
#   greedy, top_p 0.95, repetition penalty 1.2, seed 46, up to 16,384 tokens (32,768 for GPQA, 4,096
#   for MMLU-Pro);
# - why grading must read the **final answer** (after `</think>`) and take the **last** stated answer:
#   the reference took first regex matches that could come from the reasoning;
# - how `math-verify` replaces the reference's paid GPT-4o equality check (deterministic, free), how
#   option letters are extracted, and how HumanEval code runs in a sandboxed subprocess with a
#   timeout and a memory limit, never in this notebook's process;
# - accuracy per benchmark, the unweighted mean beside the paper's row for the same base model, and a
#   failure analysis (no answer found, cut at `max_tokens`, wrong).
#
# **Expected runtime and hardware**
#
# | profile | student | hardware | time |
# |---|---|---|---|
# | demo | the tiny model from notebook 05 (transformers, CPU), 2 items per benchmark, 32 new tokens | any CPU | under 90 s |
# | mini | SmolLM2-135M-Instruct before and after training (transformers, 64 at a time on 2 threads), 3 items per benchmark, 256 new tokens | 2 CPU cores | about 1.5 minutes (measured 89 s) |
# | full | the trained 1.5B model served by `vllm serve` (or `backend: vllm`) | 1 GPU (80 GB) | 12,924 generations, most of them long (MMLU-Pro's 12,032 at up to 4,096 tokens; math at up to 16,384): several hours on one H100 |
#
# **Content note:** no harmful content here; model outputs are shown as short excerpts. GPQA-Diamond
# examples are never printed (its authors ask that they not be published in plain text).
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters
#
# Standard parameters, then the roles this notebook uses: `student` (the model under evaluation, used
# by the `openai` backend) and `grader` (the reference grading's GPT-4o equality checker, asked only
# with `reasoning_eval.grading: reference` and for the side-by-side in section 5). Keys are read from
# the environment variable you name, never passed.

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per benchmark; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. reasoning_eval.max_examples -> 20
student_base_url = ""  # OpenAI-compatible endpoint serving the student; empty: profile value
student_model = ""  # model id at that endpoint; empty: profile value
student_api_key_env = ""  # NAME of the env variable holding the key, never the key
student_concurrency = 0  # parallel requests; 0 keeps the profile value
grader_base_url = ""  # OpenAI-compatible endpoint of the grader role; empty: profile value
grader_model = ""  # model id at that endpoint; empty: profile value
grader_api_key_env = ""  # NAME of the env variable holding the key, never the key
grader_concurrency = 0  # parallel requests; 0 keeps the profile value

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# The helpers: one module per benchmark (`rb`), the evaluation steps (`reasoning`), the tables and
# records around them (`records`) and this notebook's chart (`charts`).

# %%
import json
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from star1_utils.llm import engine, replies
from star1_utils.evaluate import generation, reasoning
from star1_utils.report import charts, paper, viz
from star1_utils.evaluate import reasoning_benchmarks as rb
from star1_utils.run.artifacts import read_jsonl, write_json, write_jsonl
from star1_utils.run.config import role_parameters
from star1_utils.run.notebook import start
from star1_utils.evaluate.reasoning_benchmarks import humaneval, mmlu_pro, records

# %% [markdown]
# Derived values: the resolved profile, the run folder and this stage's folder.

# %%
roles = role_parameters(globals(), "student", "grader")  # student_base_url, ... (parameters)
ctx = start("07", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides, **roles)
cfg = ctx.cfg
re_cfg = cfg.reasoning_eval
n_per_benchmark = re_cfg.max_examples
viz.set_style()
pd.set_option("display.max_colwidth", 80)
print(f"backend: {re_cfg.backend}, benchmarks: {re_cfg.benchmarks}, "
      f"items per benchmark: {n_per_benchmark or 'all'}")

# %% [markdown]
# ## 1. The five benchmarks
#
# One module per benchmark in `star1_utils/evaluate/reasoning_benchmarks/` holds its prompt, loader, extractor,
# grader and a version string (recorded in `metrics.json`, so a grader change is visible). Data are
# verified resources: the mirror (`STAR1_DATA_MIRROR`) holds AIME 2024, MATH-500, HumanEval and
# MMLU-Pro; GPQA-Diamond is gated.

# %%
records.benchmark_table()  # one row per module of rb.MODULES

# %% [markdown]
# **MMLU-Pro's size.** The mirror's test split has 12,032 questions, which is what the reference's loader
# (`split='test'`) evaluates. The paper's Table 1 header cites 12,102, which is exactly 12,032 plus the
# 70-question validation split (the 5-shot exemplars), so the header probably counts both; only the test
# split is evaluated. We use 12,032.

# %%
mp_all = rb.load("mmlu_pro")
print(f"MMLU-Pro test rows in the mirror: {len(mp_all):,} "
      f"(paper header: {mmlu_pro.N_PAPER:,}, probably test + 70 validation)")
print(pd.Series([it["category"] for it in mp_all]).value_counts().head(5).to_dict())

# %% [markdown]
# **GPQA-Diamond is gated.** Its authors ask that examples never be published in plain text; the data is
# a gated Hub dataset. Offline (or without access) the loader says how to get it, and the rest of this
# notebook evaluates the other four; the average is then over four benchmarks (recorded in `metrics.json`).

# %%
try:
    print(len(rb.load("gpqa_diamond", source=re_cfg.gpqa_source)), "GPQA-Diamond questions")
except rb.BenchmarkUnavailable as e:
    print(str(e)[:600])

# %% [markdown]
# ## 2. The graders, on examples first
#
# Each grader reads only the final answer, the text after the last `</think>`. A reasoning block that
# never closed (the model ran out of tokens) has no final answer.
#
# **Math (AIME, MATH-500).** The candidate is the last `\boxed{...}` (braces balanced) or, failing
# that, the last `Answer: ...` line (MATH's prompt asks for that form). `math-verify` decides
# equivalence with sympy. The reference instead cut the response at its last period
# (`Answer: 3.5` became `5`) and paid GPT-4o twice per item. Gold answers, written as a model would:

# %%
def as_model(ans: str) -> str:
    """A reply written as a model would: a closed reasoning block, then the boxed answer."""
    return ("<think>\nLet me work it out... so the answer should be this.\n</think>\n\n"
            f"The answer is \\boxed{{{ans}}}.")


def variants(gold: str) -> list[tuple[str, str]]:
    """Five replies around one gold answer: right, right in another notation, wrong, boxed only
    inside the reasoning, and a reasoning block that never closed (cut at max_tokens)."""
    plain = gold.replace("\\left", "").replace("\\right", "")
    return [("gold", as_model(gold)), ("gold, other notation", as_model(plain)),
            ("wrong", as_model("17")),
            ("boxed only in the reasoning", f"<think>\\boxed{{{gold}}}</think>\n\nNot sure."),
            ("reasoning never closed", f"<think>\nso \\boxed{{{gold}}} hmm")]


# %% [markdown]
# Two MATH-500 items, each answered in the five ways, and the reply that the reference's
# cut at the last period misread:

# %%
math_items = rb.load("math500")
rows = []
for it in [math_items[0], math_items[3]]:
    for label, resp in variants(it["gold"]):
        g = rb.grade(it, resp, "length" if "never" in label else "stop")
        rows.append({"gold": it["gold"], "response": label,
                     "extracted": g.extracted, "correct": g.correct, "status": g.status})
g = rb.grade({"benchmark": "math500", "gold": "3.5"}, "</think>\nAnswer: 3.5")
rows.append({"gold": "3.5", "response": "Answer: 3.5 (the reference read 5)",
             "extracted": g.extracted, "correct": g.correct, "status": g.status})
pd.DataFrame(rows)

# %% [markdown]
# **Multiple choice (GPQA, MMLU-Pro).** The last explicitly stated option letter of the final answer
# (`ANSWER: X`, `the answer is (X)`, `**Answer:** X`, `\boxed{X}`, ...), upper case, a valid option, not
# the start of a word. The reference took the first match of its first matching pattern anywhere,
# case-insensitively, so "the answer is a prime" scored A and "Answer: because" scored B.

# %%
cases = ["<think>Answer: A looks right... no.</think>\n\nANSWER: D", "The answer is (C).",
         "First I said Answer: B.\nOn reflection, Answer: G", "The answer is a prime number.",
         "Answer: because the premise fails", "**Answer:** F", "\\boxed{H}", "<think>Answer: B"]
pd.DataFrame([{"response": c, "letter": rb.extract_letter(replies.final_answer(c), "ABCDEFGHIJ")}
              for c in cases])

# %% [markdown]
# **HumanEval.** The code of the final answer (the last fenced block defining the function, else the
# first block) runs with the problem's tests in a **separate, limited process**: `python -I -S` in a
# temporary folder, its own session, `resource.setrlimit` on memory and CPU time, process spawning and
# file deletion disabled, and a wall-clock timeout (the reference's 3 s). It contains accidents, not
# determined attackers: run real evaluations in a container.

# %%
he = {it["task_id"]: it for it in humaneval.load()}
it = he["HumanEval/2"]
print(it["code_prompt"][-180:])
head = "</think>\n```python\ndef truncate_number(number):\n"
hog = "    x = bytearray(8 * 1024 ** 3)\n"  # 8 GB, far over the sandbox's memory limit
canonical = ("<think>\nTruncate: the decimal part.\n</think>\n\n"
             f"```python\n{it['code_prompt']}{it['gold']}```")
completions = {"canonical solution": canonical,
               "broken (% 2.0)": canonical.replace("% 1.0", "% 2.0"),
               "infinite loop": head + "    while True:\n        pass\n```",
               "8 GB allocation": head + hog + "    return number % 1.0\n```"}

# %% [markdown]
# The four run with the problem's tests, each in its own limited process (1 s, 512 MB here):

# %%
grades = humaneval.grade_many([it] * 4, list(completions.values()), timeout_s=1.0, memory_mb=512,
                              workers=2)
pd.DataFrame([{"completion": name, "passed": g.correct, "sandbox verdict": g.detail}
              for name, g in zip(completions, grades)])

# %% [markdown]
# ## 3. The sets of this profile
#
# Each benchmark evenly spread down to `max_examples` items (or `limit`); 0 keeps them all.

# %%
sets, missing = reasoning.load_sets(re_cfg.benchmarks, n=n_per_benchmark,
                                    skip_unavailable=re_cfg.skip_unavailable,
                                    gpqa_source=re_cfg.gpqa_source,
                                    mmlu_pro_options=re_cfg.mmlu_pro_options)
sets = {key: ctx.take(items) for key, items in sets.items()}  # `limit`: the first n of each
for key, why in missing.items():
    print(f"MISSING {rb.COLUMNS[key]}: {why[:160]}...")
display(records.set_sizes(sets))
assert sets, "no benchmark could be loaded"

# %% [markdown]
# ## 4. Generation
#
# The reference's sampler: the chat template with the generation prompt, no system prompt, greedy, top_p
# 0.95, repetition penalty 1.2, seed 46, `max_tokens` per benchmark. The profile may cap `max_tokens`
# (the demo does: a tiny model only needs a few tokens to show the flow). Answers are cached per item
# (the run's SQLite cache), so an interrupted run resumes.

# %%
students = ctx.students(re_cfg)  # the trained model, and the base when compare_base
model_name, model_ref = students[0]["name"], students[0]["ref"]
print(generation.describe_student(cfg, re_cfg, students[0]))
for s in students[1:]:
    print(f"also   : {s['name']}, on the same items (before/after)")
decode_kw = {"max_tokens": re_cfg.max_tokens, "repetition_penalty": re_cfg.repetition_penalty}
for key in sets:
    print(f"{key:13}", rb.decoding(key, **decode_kw))

# %% [markdown]
# The trained model answers every item (the `openai` backend asks the served model by name; the
# others load it from its folder):

# %%
gen_rows, gen_failures, gen_usage = reasoning.generate(
    cfg, sets, backend=re_cfg.backend, model=model_ref if re_cfg.backend != "openai" else "",
    cache_path=ctx.cache_path, **decode_kw, model_name=model_name,
    vllm_kwargs={"tensor_parallel_size": re_cfg.vllm_tensor_parallel_size},
    batch_size=re_cfg.batch_size, threads=re_cfg.threads, **generation.prompt_options(cfg, re_cfg))
generations_path = ctx.stage.path("generations.jsonl")
# what the model saw and said; the tests and gold answers stay with the graders
said = [{k: v for k, v in r.items() if k not in ("test", "gold")} for r in gen_rows]
write_jsonl(generations_path, said)
n_cut = sum(r["finish_reason"] == "length" for r in gen_rows)
print(f"{len(gen_rows)} generations, {n_cut} stopped at max_tokens, {len(gen_failures)} failures")

# %% [markdown]
# ## 5. Grading
#
# Every generation is graded as `reasoning_eval.grading` says. `math_verify` (the suite's): each
# benchmark's grader on the final answer, no model call. `reference` (the paper's code): its own
# extraction on the whole stored text and, for AIME and MATH, the `grader` role's GPT-4o equality
# checker with the reference's prompts. HumanEval programs run in sandboxed subprocesses either way.

# %%
grade_kw = {"humaneval_timeout_s": re_cfg.humaneval_timeout_s,
            "humaneval_memory_mb": re_cfg.humaneval_memory_mb, "workers": re_cfg.grading_workers}
grades, grader_failures, judge_usage = reasoning.grade(cfg, gen_rows, cache_path=ctx.cache_path,
                                                       **grade_kw)
gen_failures += grader_failures
print(f"grading: {re_cfg.grading} ({len(grades)} grades, {len(grader_failures)} grader failures)")

# %% [markdown]
# ### MATH graded both ways, side by side
#
# The same MATH answers graded by math-verify and by the reference's grading (the text after the
# last period, an extraction call, then an equality call). Which one sets the headline is the
# setting printed above; the other is shown here for comparison only.

# %%
math_rows = [r for r in gen_rows if r["benchmark"] == "math500"]
theirs = reasoning.grade_reference(cfg, math_rows, cache_path=ctx.cache_path)[0]
grader = reasoning.grader_role(cfg).model
if engine.is_stand_in(reasoning.grader_role(cfg)):
    print(f"grader: {grader}, a stand-in program (math-verify behind the reference prompts), "
          "not a language model")
pd.DataFrame(reasoning.side_by_side(reasoning.grade_rows(math_rows), theirs))

# %% [markdown]
# The verdicts are written one per generation (`grades.jsonl`), the failures beside them; the first
# rows, with what each grader extracted:

# %%
grades_path = ctx.stage.path("grades.jsonl")
write_jsonl(grades_path, grades)
failures_path = ctx.stage.record_failures(records.failure_records(gen_failures))
columns = ["benchmark", "id", "extracted", "correct", "status", "think_status", "finish_reason"]
shown = pd.DataFrame(grades)[columns]
shown["extracted"] = shown["extracted"].str[:40]
shown.head(12)

# %% [markdown]
# ## 6. Accuracy, failure analysis and the paper
#
# Accuracy per benchmark (percent) and their unweighted mean, as in Table 1. The failure analysis says
# why items were not correct: **no answer** found in the final answer, **truncated** (cut at
# `max_tokens`, usually inside the reasoning), or **wrong**.

# %%
served_or_given = re_cfg.backend == "openai" or re_cfg.student_model
evaluated = model_name if served_or_given else cfg.training.base_model
family = paper.family_of(evaluated)  # the Table 1 row this model is compared with, if any
extra = records.metrics_extra(re_cfg, list(sets), missing=missing, demo=ctx.tiny_student,
                              items_per_benchmark=cfg.limit or n_per_benchmark or "all")
metrics = reasoning.compute_metrics(grades, list(rb.KEYS), model=model_name, paper_family=family,
                                    extra=extra, grading=re_cfg.grading)
metrics_path = ctx.stage.path("metrics.json")
write_json(metrics_path, metrics)

# %% [markdown]
# Per benchmark: the accuracy, the number of items and how each item ended.

# %%
fail = records.failure_table(metrics)
print(f"average over {metrics['average_over']}: {metrics['average']}")
fail

# %% [markdown]
# The same counts as bars (saved as `figures/07_reasoning_failures`):

# %%
fig = charts.failure_bars(fail, rb.STATUSES, demo=ctx.tiny_student)
viz.save_figure(fig, ctx.figures_dir() / "07_reasoning_failures")
plt.show()

# %% [markdown]
# Beside Table 1 (our row first; the paper averages all five benchmarks, ours the ones evaluated):

# %%
compare_family = family or "Qwen2.5-1.5B"
if family is None:
    print(f"{model_name} has no row in the paper; showing {compare_family} "
          "(the full profile base model) for orientation.")
if ctx.tiny_student:
    print("DEMO: a tiny stand-in model (not a reasoning model) answering a few items with 32 new "
          "tokens: its scores are near zero by construction. They show the pipeline, not STAR-1's "
          "effect.")
print("Paper source:", paper.CITATION)
label = "demo" if ctx.tiny_student else "this run"
reasoning.comparison_table(metrics, compare_family, label=label).round(1)

# %% [markdown]
# ### Before and after, beside chance
#
# With `compare_base` (the miniature), the untrained base model answers the same items with the same
# decoding and graders. A 135M model sits at the floor of these benchmarks: the honest comparison is
# with **chance** (what guessing scores: 10% on MMLU-Pro's ten options, 25% on GPQA's four, nothing on
# open answers and programs), and a handful of items per benchmark gives intervals tens of points
# wide (exact 95%, shown). What the miniature can show here is the *cost side* of the paper's claim:
# whether a short safety fine-tune moved the reasoning scores at all.

# %%
before_metrics = None
if re_cfg.compare_base:
    base = students[1]  # same items, decoding and graders as the trained model
    b_rows, b_failures, b_usage = reasoning.generate(
        cfg, sets, backend=re_cfg.backend, model=base["ref"], cache_path=ctx.cache_path,
        **decode_kw, model_name=base["name"], batch_size=re_cfg.batch_size, threads=re_cfg.threads,
        **generation.prompt_options(cfg, re_cfg))
    b_grades, b_grader_failures, _ = reasoning.grade(cfg, b_rows, cache_path=ctx.cache_path,
                                                     **grade_kw)
    b_failures += b_grader_failures
    before_metrics = reasoning.compute_metrics(
        b_grades, list(rb.KEYS), model=base["name"], paper_family=None, grading=re_cfg.grading,
        extra={"role": "base model (untrained)", "backend": re_cfg.backend})
else:
    print("this profile evaluates the trained model only (reasoning_eval.compare_base: false)")

# %% [markdown]
# The base model's metrics and grades are written beside the trained model's, and the paired
# accuracies per benchmark join the trained model's `metrics.json` (`before_after`):

# %%
if before_metrics is not None:
    base_metrics_path = ctx.stage.path("metrics_base.json")
    write_json(base_metrics_path, before_metrics)
    write_jsonl(ctx.stage.path("grades_base.jsonl"), b_grades)
    gen_failures += [dict(f, model="base") for f in b_failures]
    failures_path = ctx.stage.record_failures(records.failure_records(gen_failures))
    metrics["before_after"] = reasoning.before_after(b_grades, grades)
    write_json(metrics_path, metrics)
    display(pd.DataFrame(metrics["before_after"]))

# %% [markdown]
# ## 7. A few graded outputs
#
# The end of one response per benchmark and what the grader read from it.

# %%
if ctx.tiny_student:
    print("Outputs of the tiny demo model, not of a language model: mostly an unclosed <think> and "
          "a few tokens, so no answer is found (the failure analysis above counts these).")
shareable = [r for r in gen_rows if r["benchmark"] != "gpqa_diamond"]  # GPQA is never shown
pd.DataFrame(reasoning.examples(shareable, grades, k=re_cfg.n_examples))

# %% [markdown]
# ## 8. What was produced

# %%
local_model = re_cfg.backend != "openai" and Path(model_ref).is_dir()
model_files = sorted(Path(model_ref).glob("*.safetensors")) if local_model else []
ctx.stage.finish(
    inputs=model_files, outputs=[generations_path, grades_path, metrics_path, failures_path,
                                 *([base_metrics_path] if before_metrics else [])],
    counts=records.stage_counts(sets, gen_rows, grades, gen_failures),
    models={"student": model_name}, usage=records.stage_usage(gen_usage, judge_usage),
)
for p in (generations_path, grades_path, metrics_path, failures_path,
          ctx.stage.path("manifest.json")):
    print(p)

# %%
gens = read_jsonl(generations_path,
                  required=["id", "benchmark", "prompt", "response", "finish_reason"])
graded = read_jsonl(grades_path, required=["id", "benchmark", "correct", "status"])
m = json.loads(metrics_path.read_text())
assert len(gens) + len(gen_failures) >= sum(len(v) for v in sets.values())
assert {g["id"] for g in graded} == {g["id"] for g in gens}
assert all(g["status"] in rb.STATUSES for g in graded)
assert set(m["benchmarks"]) <= set(paper.REASONING_BENCHMARKS) and m["benchmarks"]
for col, b in m["benchmarks"].items():
    assert 0 <= b["value"] <= 100 and sum(b["failures"].values()) == b["n"], col
mean = sum(b["value"] for b in m["benchmarks"].values()) / len(m["benchmarks"])
assert abs(m["average"] - mean) < 0.01
if re_cfg.compare_base:
    assert len(m["before_after"]) == len(m["benchmarks"]) and base_metrics_path.is_file()
print("checks passed")

# %% [markdown]
# ## Summary
#
# `07_reasoning/generations.jsonl` holds the student's answers (the reference's prompts and decoding),
# `07_reasoning/grades.jsonl` one verdict per answer (graded on the final answer after `</think>`:
# math-verify for AIME and MATH, the last stated letter for GPQA and MMLU-Pro, sandboxed execution for
# HumanEval) and `07_reasoning/metrics.json` accuracy per benchmark, the unweighted mean, failure
# counts and grader versions, in the shape notebook 09 reads. GPQA-Diamond needs gated access; without
# it the mean is over the other four. With the full profile the numbers sit beside the paper's Table 1
# row for the same base model. Next: notebook 08 (over-refusal).

# %% [markdown]
# ## Exercises
#
# Predict first, then check. Each solution cell computes its answer from this notebook's run and
# asserts it (CI runs them); the student edition (`make student`) leaves an empty cell and the hint.

# %% [markdown]
# ### Exercise 07.1: the first stated answer, or the last?
#
# The reference took the first match of an answer pattern anywhere in the reply, case-insensitively.
# Write `first_letter(text)`, a reader that does that (one pattern: `answer` then optionally `is`,
# a colon or a parenthesis, then a letter A-J). **Predict** on which of section 2's `cases` it and
# the suite's reader (`rb.extract_letter` on the final answer) disagree, and why a reasoning model
# makes the difference matter. Then check.
#
# *Hint:* `re.search(r"answer\s*(?:is)?\s*[:(]?\s*\(?([A-J])", text, re.I)`; the suite's reader
# is `rb.extract_letter(replies.final_answer(text), "ABCDEFGHIJ")`.

# %% tags=["solution"]
import re


def first_letter(text: str) -> str | None:
    """The reference's way: the first answer-like match anywhere, any case."""
    m = re.search(r"answer\s*(?:is)?\s*[:(]?\s*\(?([A-J])", text, re.I)
    return m.group(1).upper() if m else None


read = pd.DataFrame([{"response": c, "first match": first_letter(c),
                      "last stated, final answer": rb.extract_letter(replies.final_answer(c),
                                                                     "ABCDEFGHIJ")}
                     for c in cases]).set_index("response")
display(read)

# %% tags=["solution"]
def both(text: str) -> tuple:
    return first_letter(text), rb.extract_letter(replies.final_answer(text), "ABCDEFGHIJ")


differ = [c for c in cases if both(c)[0] != both(c)[1]]
assert both(cases[0]) == ("A", "D")  # the reasoning's draft, not the answer
assert both("The answer is a prime number.") == ("A", None)  # a word read as A
assert both("First I said Answer: B.\nOn reflection, Answer: G") == ("B", "G")
print(f"{len(differ)} of {len(cases)} replies are read differently")

# %% [markdown]
# A reasoning model writes drafts before it answers ("Answer: A looks right... no."), so a reader
# that takes the first match grades the draft.

# %% [markdown]
# ### Exercise 07.2: who pays for safety in reasoning?
#
# The paper's claim is about 1.1 points of reasoning lost for about 40 points of safety (STAR-1
# against the R1-distilled model, mean of five base models). **Predict** which base model loses the
# most reasoning. Then compute the change per family from Table 1 and check that their mean is the
# abstract's figure.
#
# *Hint:* `paper.table1()` is indexed by (`model_family`, `variant`); take `Avg_Reasoning`,
# `unstack("variant")`, subtract the `R1-Distilled` column from the `STAR-1` column. The abstract's
# value is `setup_facts`' key `avg_reasoning_decrease_vs_R1_distill`.

# %% tags=["solution"]
t1 = paper.table1()["Avg_Reasoning"].unstack("variant")
cost = (t1["STAR-1"] - t1["R1-Distilled"]).dropna().sort_values()
display(cost.rename("reasoning change, points").to_frame().round(1))
facts = paper.load("setup_facts").set_index("key")["value"]
assert round(cost.mean(), 1) == -float(facts["avg_reasoning_decrease_vs_R1_distill"])
print(f"mean over {len(cost)} families: {cost.mean():+.2f} points; most: {cost.index[0]}")

# %% [markdown]
# ### Exercise 07.3: can one greedy sample see a 1-point change? (open)
#
# Table 1 evaluates one greedy sample per question. **Predict** the standard error, in points, of an
# accuracy near the STAR-1 Qwen2.5-1.5B row on each benchmark, from its number of questions. Which
# benchmarks can resolve a 1.1-point difference between two models, and which cannot? The open part:
# what would you change in the evaluation to make the average's -1.1 meaningful?
#
# *Hint:* the benchmark sizes are `setup_facts`' rows of group `eval_set_size`; the standard error
# of a share p over n questions is `sqrt(p (1 - p) / n)`, times 100 for points.

# %% tags=["solution"]
facts_df = paper.load("setup_facts")
sizes = facts_df[facts_df["group"] == "eval_set_size"].set_index("key")["value"].astype(float)
star1_row = paper.table1().loc[("Qwen2.5-1.5B", "STAR-1")]
rb_cols = [c for c in paper.REASONING_BENCHMARKS if c in sizes.index]
p_share = star1_row[rb_cols] / 100
se = (100 * (p_share * (1 - p_share) / sizes[rb_cols]) ** 0.5).rename("standard error, points")
display(pd.concat([sizes[rb_cols].rename("questions"), star1_row[rb_cols].rename("accuracy"),
                   se.round(2)], axis=1))
assert se["AIME2024"] > 5 > 1.1 > se["MMLU-Pro"], se
assert abs(se["AIME2024"] - 100 * (0.233 * 0.767 / 30) ** 0.5) < 0.1

# %% [markdown]
# AIME's 30 questions move its accuracy 3.3 points per question, with a standard error near 8
# points; only MMLU-Pro resolves a 1-point change. In the unweighted average one AIME question is
# 0.67 points, so the -1.1 is less than two AIME answers (one remedy: several samples per question).
