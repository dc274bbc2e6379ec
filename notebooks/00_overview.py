# %% [markdown]
# # 00 · Overview: STAR-1 in one notebook suite
#
# > Wang et al. 2025, *STAR-1: Safer Alignment of Reasoning LLMs with 1K Data* (arXiv 2504.01903).
#
# **What you will learn here**
#
# - what STAR-1 claims, with the paper's headline numbers computed from its Table 1;
# - the pipeline the next nine notebooks walk through, and which file each one writes;
# - the 8 safety categories and the policy texts the whole method is grounded in (loaded, verified, never pasted);
# - the three profiles (`demo`, `mini`, `full`) and how to run any notebook headlessly;
# - what your machine offers (libraries, GPU) and what the chosen profile will do on it.
#
# **Expected runtime:** a few seconds on any CPU, in every profile. No GPU, key or network needed.
# Where every notebook runs and how long it takes (CPU demo, CPU miniature, GPUs): the README's table
# "Where each notebook runs, and how long". The paper's words (LRM, over-refusal, ZeRO-3, ...) are
# explained in [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters
#
# Every notebook starts with one cell tagged `parameters` holding plain literals (the papermill
# contract). `papermill notebooks/00_overview.ipynb out.ipynb -p profile full` replaces them.

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. selection.target_size -> 50
hosted_setup = False  # True in a hosted GPU runtime (Colab, Kaggle): install, run the miniature
hosted_repo = ""  # git URL of this suite, cloned into hosted_dir when hosted_setup is True
hosted_dir = "star1-notebooks"  # folder of the checkout in the hosted runtime

# %% [markdown]
# **In a hosted GPU runtime** (a notebook service with a GPU and nothing installed): set
# `hosted_setup = True` and `hosted_repo` above, then run this cell. It clones the suite, installs it
# with torch pinned to the GPU wheel, and runs the miniature (`mini`) on the GPU. Off by default: it
# then only prints the commands it would run (the README's "A hosted GPU runtime" says more).

# %%
if hosted_setup:  # clone first, so that star1_utils can be imported from the checkout
    import subprocess
    import sys

    if not hosted_repo:
        raise ValueError("hosted_setup needs hosted_repo: the git URL of this suite")
    subprocess.run(["git", "clone", "--depth", "1", hosted_repo, hosted_dir], check=True)
    sys.path.insert(0, hosted_dir)
from star1_utils.run import hosted

commands = hosted.setup("" if hosted_setup else hosted_repo, hosted_dir, execute=hosted_setup)

# %% [markdown]
# The versions that shape results, and one warning line when they differ from the pins (every
# notebook starts with this line):

# %%
from star1_utils.run import environment

environment.check()

# %% [markdown]
# Derived values: the resolved profile, the run folder and this notebook's stage folder.

# %%
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from star1_utils.run import environment
from star1_utils.report import paper, viz
from star1_utils.dataset import policies
from star1_utils.run.notebook import start
from star1_utils.run.stages import STAGES

ctx = start("00", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides)
cfg = ctx.cfg
viz.set_style()

# %% [markdown]
# ## 1. What STAR-1 claims
#
# Large reasoning models distilled from DeepSeek-R1 reason well but comply with many harmful
# requests. STAR-1 fine-tunes them on **1,000** carefully chosen examples whose reasoning *cites
# safety policies* before answering (deliberative alignment). The paper reports an average safety
# gain of about 40 points over the R1-distilled models at a cost of about 1.1 points of reasoning.
#
# The means below are computed from the paper's Table 1 (five base models), not typed in:

# %%
gains = paper.headline_gains()
print(f"STAR-1 vs R1-Distilled, mean over {gains['n_models']} base models:")
print(f"  average safety gain    {gains['safety_gain_vs_r1_distilled']:+.1f} points")
print(f"  average reasoning gain {gains['reasoning_gain_vs_r1_distilled']:+.1f} points")
print("Source:", paper.CITATION)
t1 = paper.table1()
averages = t1[["Avg_Safety", "Avg_Reasoning"]].unstack("variant")
table1 = averages.reindex(t1.index.unique("model_family"))  # the paper's row order
table1.round(1)

# %% [markdown]
# ## 2. The pipeline
#
# Each notebook narrates one section of the paper, reads the previous stage's artifact from the run
# folder and writes its own, with a `manifest.json` (parameters, input hashes, counts, timings,
# versions). A stage whose manifest is current is not redone.

# %%
fig = viz.pipeline_diagram()
display(fig)  # the diagram first, then what each stage writes
plt.close(fig)
stages = pd.DataFrame([{"notebook": s.notebook, "stage folder": s.stage_dir, "produces": s.produces}
                       for s in STAGES])
viz.wrapped_table(stages)

# %% [markdown]
# ## 3. The 8 safety categories and their policies
#
# STAR-1 grounds every reasoning trace in a written policy. The texts come from the paper's
# repository at a pinned commit, through a local mirror or a verified download; every text is
# checked against its SHA-256 before use, so a changed byte stops the run.
#
# Below: the category definitions the classifier sees (notebook 02), then one line per policy.

# %%
# printed, not rendered: its "## N." lines are not this notebook's headings
print(policies.template("CATEGORY_DEFINITION"))


# %%
def objective(text: str) -> str:
    """The first sentence under a policy's "Policy Objective" heading."""
    lines = [l.strip() for l in text.splitlines()]
    i = next((k for k, l in enumerate(lines) if "objective" in l.lower()), 0)
    return next((l for l in lines[i + 1:] if l), "")

pd.DataFrame([
    {"category": c, "policy constant": policies.POLICY_NAME_BY_CATEGORY[c],
     "characters": len(policies.policy(c)), "objective": objective(policies.policy(c))}
    for c in policies.CATEGORIES
])

# %% [markdown]
# An item's reasoning prompt embeds **only its own categories' policies**, in the order the
# classifier listed them, joined by `---`
# (`data_making/deliberative_reasoning/reasoning_generation/reasoning_generation.py:67-69`).
# For a request labelled *Self-Harm* and *Privacy / Personal Data* the block begins like this:

# %%
block = policies.policies_for(["Self-Harm", "Privacy / Personal Data"])
first, second = ([line for line in part.splitlines() if line.strip()]  # whole lines only
                 for part in block.split("\n---\n", 1))
print(*first[:4], "[...]", *first[-2:], "---", *second[:3], "[...]", sep="\n")
print(f"({len(block)} characters in all)")

# %% [markdown]
# ## 4. Profiles
#
# A profile is every knob of a run in one YAML file. `demo` runs offline on a CPU in minutes with a
# corpus written for this project, deterministic **stand-in** models served in-process over the
# OpenAI protocol (they are not language models), and a tiny student. `mini` (the miniature) trains
# a **real** small instruct model, SmolLM2-135M-Instruct, on 128 rows of the released STAR-1 and
# evaluates it before and after on real benchmark prompts, then retrains it with benign look-alikes
# mixed in (the paper's over-refusal remedy), offline on a laptop CPU in about 48 minutes; its judges
# are rules whose agreement with hand-labelled real answers is shown beside every number. `full` is
# the paper's scale.
# Notebook parameters override profile values; secrets are never parameters (a role names the
# environment variable that holds its key).

# %%
from star1_utils.run.config import ROLES, load_profile

rows = []
for name in ("demo", "mini", "full"):
    p = load_profile(name)
    row = {"profile": name, "hardware / runtime": p.hardware, "corpus": p.collection.corpus,
           "training backend": p.training.backend, "base model": p.training.base_model}
    row.update({role: f"{p.role(role).model} @ {p.role(role).base_url}" for role in ROLES})
    rows.append(row)
pd.DataFrame(rows).set_index("profile").T

# %% [markdown]
# ## 5. Where this suite departs from the paper's code
#
# Every difference from the reference code is a switch in one registry
# (`star1_utils/run/deviations.py`): what the reference does (cited `file:line`), what the suite does
# otherwise, and each profile's value. The `full` profile is reference-exact on every switch that
# changes a result; `demo` and `mini` keep the suite's behaviour where the table marks it (no `=ref`).

# %%
from star1_utils.run import deviations

off = deviations.off_reference(cfg)  # the result-changing switches this profile sets otherwise
print(f"profile {cfg.name!r} departs from the reference on {len(off)} switch(es):",
      ", ".join(off) or "none")
# long texts wrap inside the panel; the columns without a width share what is left
widths = {"stage": "5%", "setting": "11%", "ours": "16%", "changes results": "9%",
          "demo": "8%", "mini": "8%", "full": "8%"}
viz.wrapped_table(pd.DataFrame(deviations.table()), widths)

# %% [markdown]
# ## 6. Running headlessly
#
# ```bash
# make demo                                   # every notebook, demo profile, into runs/demo/
# make mini                                   # the miniature (real SmolLM2-135M), into runs/mini/
# python -m star1_utils run --profile demo --notebooks 00,01 --resume
# papermill notebooks/02_category_classification.ipynb out.ipynb -p run_dir runs/x
# OPENAI_API_KEY=... python -m star1_utils run --profile full -p teacher_base_url=http://localhost:8000/v1
# ```
#
# The runner executes notebooks in order into `RUN_DIR/notebooks/`, prints one line per notebook
# with its time, stops at the first failure naming the notebook, cell and error, and skips current
# stages with `--resume`.
#
# ## 7. Your environment and what this profile will do

# %%
env = environment.report()
print(f"python {env['python']} on {env['platform']}, {env['cpu_count']} CPU(s), "
      f"OMP_NUM_THREADS={env['omp_num_threads']}")
gpus = ", ".join(env["gpus"]) if env["gpu_available"] else "none (CPU only)"
print(f"GPU: {gpus}")
downloads = "forbidden (offline)" if env["offline"] else "allowed"
print(f"data mirror: {env['data_mirror']}; downloads {downloads}")
pd.Series(env["versions"], name="version").to_frame()

# %% [markdown]
# The chosen profile, and whether this machine has what its settings need:

# %%
print(f"Profile {cfg.name!r}: {cfg.description}. Expected: {cfg.hardware}")
# The settings that need a GPU decide the note, whatever the profile is called.
needs_gpu = {"05 (training.backend accelerate, launch subprocess)":
             cfg.training.backend == "accelerate" and cfg.training.launch == "subprocess",
             "06 (safety_eval.backend vllm)": cfg.safety_eval.backend == "vllm",
             "07 (reasoning_eval.backend vllm)": cfg.reasoning_eval.backend == "vllm"}
if any(needs_gpu.values()) and not env["gpu_available"]:
    gpu_notebooks = "; ".join(k for k, v in needs_gpu.items() if v)
    print(f"Note: this machine has no GPU; run notebook(s) {gpu_notebooks} on a GPU node.")

# %% [markdown]
# The stages of this run folder: a stage whose manifest matches the profile's settings is current,
# and `--resume` skips it.

# %%
from star1_utils.run.artifacts import manifest_is_current

plan = []
for s in STAGES[1:]:
    settings_sha = cfg.section_sha256(*s.sections)
    current, why = manifest_is_current(ctx.run_dir / s.stage_dir, settings_sha, cfg)
    status = "current, will be skipped with --resume" if current else f"to run ({why})"
    plan.append({"stage": s.notebook, "writes": s.produces, "status": status})
pd.DataFrame(plan)

# %% [markdown]
# ## 8. What was produced

# %%
from star1_utils.run.artifacts import write_json

report_path = ctx.stage.path("environment.json")
write_json(report_path, env)
ctx.stage.finish(outputs=[report_path], counts={"stages_planned": len(plan)})
print("wrote", report_path)
print("wrote", ctx.stage.path("manifest.json"))

# %% [markdown]
# Checks that the overview did what it says (they also run in CI):

# %%
assert len(policies.CATEGORIES) == 8
assert abs(gains["safety_gain_vs_r1_distilled"] - 40.0) < 0.1, gains
assert report_path.is_file() and ctx.stage.is_current()
installs = [" ".join(c) for c in commands[:-1]]  # the hosted runtime: the GPU wheel, pinned
assert sum(hosted.torch_pin() in c for c in installs) == 2  # torch, then the suite beside it
assert not any(hosted.CPU_INDEX in c for c in installs)

# %% [markdown]
# ## Summary
#
# - STAR-1 = 1K policy-grounded reasoning samples; about +40 safety points for about -1.1 reasoning (Table 1 means).
# - The suite runs the whole pipeline; each stage leaves an artifact and a manifest in the run folder.
# - Policy and prompt texts are verified data, loaded from a mirror or the paper's repository.
# - Every departure from the paper's code is a switch; the `full` profile sets each to the reference.
# - Next: **01 · Data collection**, where ~41K harmful instructions are gathered and cleaned.
