# %% [markdown]
# # 09 · Figures and the paper comparison
#
# > Wang et al. 2025, *STAR-1*: Table 1 (five base models x Instruct / R1-Distilled / STAR-1 on four
# > safety and five reasoning benchmarks), Figure 2 (safety categories of the data), Figure 3 (average
# > gains per model size) and Figure 4 (the benign-data ablation), redrawn from data, with your runs
# > beside the paper's numbers.
#
# **What you will learn here**
#
# - where the headline "+40 safety points for -1.1 reasoning" comes from: the means of Figure 3's bars,
#   computed from Table 1 here and checked against the values printed on the paper's figure;
# - how the categories of your run's collection and of its selected set compare with the released STAR-1;
# - how every run you evaluated (notebooks 06 and 07) compares with the paper's row for its base model;
# - how over-refusal, safety and reasoning move as benign samples join the 1K (notebook 08);
# - which figures are regenerated where: your run's `figures/` folder, and the committed top-level
#   `figures/` for the figures that need only the paper's numbers and the released data.
#
# **Expected runtime and hardware:** no model is called. Demo: under 30 s on any CPU. Full: the same
# (a few more runs to read). Missing artifacts of earlier notebooks are reported as notes, never errors,
# so this notebook runs at any point of the pipeline.
#
# **Content note:** only counts and rates are shown, no prompts or model outputs.
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters
#
# The standard parameters; this notebook calls no model, so it has no role parameters.

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. figures.formats -> [png]

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# Derived values: the resolved profile, the run folder, this stage's folder (`figures/`) and the plot style.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from star1_utils.report import figures, paper, viz
from star1_utils import project_root
from star1_utils.run.notebook import start

ctx = start("09", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides)
cfg = ctx.cfg
out = ctx.figures_dir()
formats = list(cfg.figures.formats)
runs_root = project_root() / "runs"
viz.set_style()
pd.set_option("display.max_columns", 30)
saved = []

# %% [markdown]
# ## 1. The paper's numbers: Table 1 and its averages
#
# The cited Table 1 (`star1_utils/data/paper/main_results.csv`, every row with its source) holds the
# four safety rates, the five reasoning accuracies and their unweighted means, per base model and
# variant. Figure 3 of the paper plots the differences of these means; the abstract's headline is their
# mean over the five base models. Both are computed here from the table, never typed in:

# %%
averages = paper.table1()[[paper.AVG_SAFETY, paper.AVG_REASONING]].unstack("variant")
display(averages.loc[paper.families()].round(1))
means = paper.mean_gains()
display(means.round(2))
facts = paper.load("setup_facts").set_index("key")["value"]
print("abstract:", f"safety +{facts['avg_safety_improvement_vs_R1_distill']} points,",
      f"reasoning -{facts['avg_reasoning_decrease_vs_R1_distill']} points (vs R1-Distilled)")

# %% [markdown]
# The paper's gain figure prints its bar values; `figure3_gaps.csv` carries them with their source.
# Every bar computed from Table 1 should equal the printed value (to the rounding of one decimal):

# %%
check = figures.figure3_crosscheck()
largest = check["difference"].abs().max()
print(f"{len(check)} bars compared; largest difference {largest:.3f} points")
check.head(6)

# %% [markdown]
# ## 2. Figure 3: average gains per model size, and your runs
#
# Bars: the paper (Table 1). Markers: your runs, found under `runs/` (and this run folder), whose
# `06_safety/metrics.json` and `07_reasoning/metrics.json` exist and whose model is one of the paper's
# base models (the metrics name its `paper_family`). A run's gain is its average minus the baseline's:
# a run of that baseline when you evaluated one (e.g. `DeepSeek-R1-Distill-Qwen-1.5B` itself), else the
# paper's row. A demo run trains a tiny stand-in student that is not in Table 1, so it is listed in the
# comparison table (section 5) rather than drawn here.

# %%
runs = figures.find_runs([runs_root], extra=[ctx.run_dir])
pd.DataFrame([{"run": r.name, "model": r.model, "paper family": r.family,
               "06 safety": r.safety is not None, "07 reasoning": r.reasoning is not None,
               "08 curve": r.curve is not None} for r in runs],
             columns=["run", "model", "paper family", "06 safety", "07 reasoning", "08 curve"])

# %%
f3 = figures.figure3(runs)
saved += f3.save(out, formats)
f3.show()

# %% [markdown]
# ## 3. Figure 2: safety categories of the collection, the selection and STAR-1
#
# Each instruction carries one or more of the 8 categories (notebook 02). The bars give the share of
# samples carrying each category, so a two-label sample counts in two bars. Selection (notebook 04)
# rebalances categories and sources; the released STAR-1 (its Hub dataset, or the mirror) shows where
# the paper's selection landed.

# %%
f2 = figures.figure2(ctx.run_dir)
saved += f2.save(out, formats)
f2.show()

# %% [markdown]
# ## 4. Figure 4: over-refusal against the number of benign samples
#
# Notebook 08 trains with 0 and more benign look-alikes mixed into the 1K and measures XSTest
# over-refusal (full or partial refusals of safe prompts), average safety and average reasoning at each
# point (`08_overrefusal/benign_mix_curve.csv`). The paper's Figure 4 values were not readable in any
# source, so only your runs are drawn.

# %%
f4 = figures.figure4(runs)
saved += f4.save(out, formats)
f4.show()

# %% [markdown]
# ## 5. Your runs beside Table 1
#
# Every evaluated run, then the paper's Instruct, R1-Distilled and STAR-1 rows for its base model when
# that model is one of Table 1's (the demo's tiny student is not: it gets a note instead, and notebooks
# 06 and 07 show the Qwen2.5-1.5B rows for orientation). Demo
# numbers come from a tiny model judged by stand-ins (not language models) on a few prompts: they show
# the plumbing, not the paper's effect. `n` counts the prompts behind each of your averages.

# %%
table, table_notes = figures.comparison_table(runs)
table_csv = out / "table1_comparison.csv"
table.to_csv(table_csv, index=False)
saved.append(table_csv)
for note in table_notes:
    print("Note:", note)
if len(table):
    styled = figures.style_comparison(table)
    table_html = out / "table1_comparison.html"
    table_html.write_text(styled.to_html(), encoding="utf-8")
    saved.append(table_html)
    display(styled)

# %% [markdown]
# ## 6. The committed paper figures
#
# The figures that need only the paper's numbers and the released STAR-1 also live in the project's
# top-level `figures/` folder. They are rewritten only when their data or drawing code changed, so
# their bytes stay put across machines; `figures/fingerprints.json` records what they were drawn from,
# and a test fails when they are stale (`python -m star1_utils.report.figures` refreshes them).

# %%
top = figures.top_level_dir()
status = figures.write_paper_figures(top, formats=formats)
for name, state in status.items():
    print(f"{top / name}: {state}")
stale = figures.stale_paper_figures(top)
print("stale:", stale or "none")

# %% [markdown]
# ## 7. What was produced

# %%
upstream = [ctx.stage_dir("02") / "classified.jsonl", ctx.stage_dir("04") / "star1.jsonl"]
inputs = [p for p in upstream if p.is_file()] + figures.run_files(runs)
drawn = [f.name for f in (f2, f3, f4) if f.fig is not None]
own = upstream + [ctx.run_dir / f for f in figures.RUN_FILES]
waiting_for = [str(p.relative_to(ctx.run_dir)) for p in own if not p.is_file()]
print(f"{len(inputs)} files read, {len(drawn)} figures drawn")

# %% [markdown]
# A run still missing some of its own artifacts is recorded as partial, so that `--resume` redraws
# the figures once the earlier notebooks have produced them.

# %%
partial = {"status": "partial", "waiting_for": waiting_for} if waiting_for else {}
ctx.stage.finish(inputs=inputs, outputs=saved,
                 counts={"figures": len(drawn), "runs_found": len(runs), "table_rows": len(table)},
                 extra={"notes": f2.notes + f3.notes + f4.notes + table_notes, "top_level": status,
                        **partial})
if waiting_for:
    print("partial: this run has no", ", ".join(waiting_for), "yet; --resume will redraw")
for p in saved + [ctx.stage.path("manifest.json")]:
    print(p)
plt.close("all")

# %% [markdown]
# Checks (they also run in CI): the plotted numbers are the cited ones, and every drawn figure was written.

# %%
abstract_safety = float(facts["avg_safety_improvement_vs_R1_distill"])
abstract_reasoning = -float(facts["avg_reasoning_decrease_vs_R1_distill"])
vs_r1 = means.loc["STAR-1 minus R1-Distilled"]
assert round(vs_r1["safety_avg_gain"], 1) == round(abstract_safety, 1), vs_r1
assert round(vs_r1["reasoning_avg_gain"], 1) == round(abstract_reasoning, 1), vs_r1
assert check["difference"].abs().max() <= 0.05 + 1e-9
bars = f3.data[f3.data["run"] == "paper"].merge(paper.figure3_cited(),
                                                on=["model_family", "comparison", "metric"])
assert len(bars) == 20 and (bars["value_x"] - bars["value_y"]).abs().max() <= 0.05 + 1e-9
assert "figure3_gains" in drawn and table_csv.is_file()
for name in drawn:
    for fmt in formats:
        assert (out / f"{name}.{fmt}").is_file(), name
assert ctx.stage.is_current() or waiting_for
print("checks passed")

# %% [markdown]
# ## Summary
#
# - Figure 3's bars are differences of Table 1's averages; their means over the five base models are
#   the abstract's +40.0 safety and -1.1 reasoning points (vs R1-Distilled), and every bar matches the
#   value printed on the paper's figure.
# - Your run's `figures/` folder holds Figures 2-4 (PNG, PDF and the plotted data as CSV) and the Table 1
#   comparison (CSV and HTML); anything an earlier notebook has not produced yet is named in a note.
# - The top-level `figures/` folder keeps the paper-number figures, refreshed only when stale.
# - This is the last notebook: rerun it after any evaluation to update the comparison.

# %% [markdown]
# ## Exercises
#
# Predict first, then check. Each solution cell computes its answer from the paper's cited numbers
# and asserts it (CI runs them); the student edition (`make student`) leaves an empty cell and the hint.

# %% [markdown]
# ### Exercise 09.1: who gains most safety, and does size matter?
#
# **Predict** which of the five base models gains most safety from STAR-1 over its R1-distilled
# version, and whether the gain shrinks as models grow (Figure 3). Then compute each gain from
# Table 1 yourself and check it against the bars of `paper.figure3_gains()`.
#
# *Hint:* `paper.table1()["Avg_Safety"].unstack("variant")`, then `STAR-1` minus `R1-Distilled`;
# the figure's rows have `comparison == "STAR-1 minus R1-Distilled"` and
# `metric == "safety_avg_gain"`.

# %% tags=["solution"]
avg_safety = paper.table1()[paper.AVG_SAFETY].unstack("variant")
gain = (avg_safety["STAR-1"] - avg_safety["R1-Distilled"]).dropna()
bars3 = paper.figure3_gains()
bars3 = bars3[(bars3["comparison"] == "STAR-1 minus R1-Distilled")
              & (bars3["metric"] == "safety_avg_gain")].set_index("model_family")["value"]
assert set(gain.index) == set(bars3.index)
assert (gain - bars3.reindex(gain.index)).abs().max() <= 0.05 + 1e-9
display(pd.DataFrame({"R1-Distilled": avg_safety["R1-Distilled"], "STAR-1": avg_safety["STAR-1"],
                      "gain": gain}).loc[paper.families()].round(1))
print("largest gain:", gain.idxmax(), f"{gain.max():+.1f}")

# %% [markdown]
# The gain is largest where the R1-distilled model was least safe: STAR-1 models all end near
# 90-95 %, so the gain mostly mirrors how unsafe the starting point was, more than its size.

# %% [markdown]
# ### Exercise 09.2: the headline, weighted by prompts
#
# "Avg. Safety" is the unweighted mean of four benchmarks of 313, 100, 370 and 250 prompts.
# **Predict** whether the headline gain (about +40 points over the R1-distilled models) grows or
# shrinks when each benchmark is weighted by its number of prompts. Compute the weighted averages,
# check your unweighted mean against Table 1's column, and compare the two headlines.
#
# *Hint:* the counts are `safety_benchmarks.REFERENCE_COUNTS` (keys to paper columns through
# `safety_benchmarks.COLUMNS`); `np.average(values, weights=...)` per row.

# %% tags=["solution"]
import numpy as np

from star1_utils.evaluate import safety_benchmarks as bench

weights = pd.Series({bench.COLUMNS[k]: n for k, n in bench.REFERENCE_COUNTS.items()})
t1_rows = paper.table1()[list(weights.index) + [paper.AVG_SAFETY]].dropna()
unweighted = t1_rows[weights.index].mean(axis=1)
assert (unweighted - t1_rows[paper.AVG_SAFETY]).abs().max() <= 0.05 + 1e-9
weighted = t1_rows[weights.index].apply(lambda r: np.average(r, weights=weights), axis=1)
headline = {}
for name, col in (("unweighted", unweighted), ("weighted by prompts", weighted)):
    by_variant = col.unstack("variant")
    headline[name] = (by_variant["STAR-1"] - by_variant["R1-Distilled"]).mean()
print({k: round(v, 1) for k, v in headline.items()})
assert round(headline["unweighted"], 1) == round(abstract_safety, 1)

# %% [markdown]
# ### Exercise 09.3: which comparison answers the question? (discussion)
#
# Table 1 compares STAR-1 with the Instruct model and with the R1-distilled model. Which
# comparison tells whether STAR-1 makes reasoning models safer *without making them reason worse*,
# and which tells whether safety training undoes what distillation did to safety? Would a
# comparison with the R1-distilled model trained on 1K random safety traces (Table 2's SafeChain
# 1K) answer a third question?
#
# *Hint:* write down, for each pair of rows, what differs between the two models (the data, the
# starting point, the reasoning format) and what stays fixed.
