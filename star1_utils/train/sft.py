"""Section 3.1: supervised fine-tuning on STAR-1 (notebook 05). Reference: ``train/sft.py``.

What is reproduced exactly, and where we differ (flagged):

* **Formatting** (:func:`format_response`, :func:`build_example`): the response is
  ``"<think>\\n{reasoning}\\n</think>\\n\\n{answer}"`` (``think_flag=1``), ``"<think>\\n\\n</think>\\n\\n{answer}"``
  (``think_flag=0`` on distilled models) or the bare answer (``think_flag=0, base_flag=1``, instruct models).
  The model's chat template is used with the clause that strips ``<think>...</think>`` from assistant turns
  removed, compiled with plain ``jinja2.Template`` as the reference does (not ``apply_chat_template``).
  Prompt tokens (the user turn and the generation prompt) are masked from the loss **by count**, as the
  reference does; the closing EOS is trained. Sequences longer than ``max_length`` keep their end.
* **BOS** (``training.bos``): the reference passes ``bos_token`` to the template for Llama only, so the
  Qwen models were trained **without** BOS although inference adds it. ``"reference"`` reproduces that;
  ``"always"`` adds BOS for every family (a deviation, recorded in the manifest); ``"never"`` drops it.
* **Recipe**: AdamW (0.9, 0.95), lr 1e-5, weight decay 1e-4 on every parameter whose name has no
  ``bias`` (norm weights are decayed, as in the reference: the stock Trainer would exempt them), cosine
  schedule with ``int(0.05 * T)`` warm-up updates, clip 1.0, bf16, seed 2002. ``T = rows * epochs //
  effective_batch`` = 39 on 1,000 rows. As in the reference, accumulation windows span epochs: the epochs
  are laid end to end and cut to ``T`` full batches of 128, which the Trainer then reads in order, one
  epoch of ``T`` updates. ``training.data_order`` picks the order: the reference's DataLoader as
  accelerate shards it (:func:`reference_data_order`) or each epoch reshuffled with the seed
  (:func:`epoch_stream`). The loss is the reference's: a token mean per
  sequence, averaged over sequences (``loss_averaging: sequence``); ``token`` gives the Trainer's mean
  over all tokens of the update. Unlike the reference, an attention mask is passed (no change at batch 1).
* **Launch** (full profile): ``accelerate launch`` with ``configs/accelerate_zero3.yaml`` and
  ``configs/deepspeed_zero3.json`` (ZeRO-3, CPU offload, 16-bit save), running
  ``python -m star1_utils.train.run_sft --config <job.json>``; fewer GPUs keep the effective batch through
  gradient accumulation. Checkpoints every ``save_steps`` updates, resumed automatically. LoRA (peft)
  for one GPU, merged into the saved model.

The output contract: :func:`star1_utils.run.layout.final_model_dir` = ``<run_dir>/05_training/<run_name>/model/`` holds the
model, the tokenizer and its chat template.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from star1_utils import project_root
from star1_utils.dataset.release import STAR1_RELEASE, load_star1_release
from star1_utils.dataset.selection import select_diverse
from star1_utils.evaluate import generation
from star1_utils.llm import replies
from star1_utils.run import layout, progress
from star1_utils.run.artifacts import read_jsonl, write_jsonl
from star1_utils.run.config import TrainingConfig
from star1_utils.run.environment import quiet_model_libraries
from star1_utils.run.resources import fetch, sha256_file

LOG_NAME = "train_log.jsonl"
JOB_NAME = "job.json"

#: The clause that the reference deletes from the R1-Distill chat template (``train/sft.py:55``), so that the
#: assistant turn keeps its reasoning.
THINK_STRIP_CLAUSE = "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"

# The tiny student's special tokens and chat template: the R1-Distill layout (generation prompt
# "<|Assistant|><think>\n"), the reasoning kept in the assistant turn, {% generation %} markers for trl.
TINY_SPECIAL = ["<|pad|>", "<|bos|>", "<|eos|>", "<|User|>", "<|Assistant|>", "<think>", "</think>", "<|unk|>"]
TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}"
    "{% if m['role'] == 'user' %}{{ '<|User|>' + m['content'] }}"
    "{% elif m['role'] == 'assistant' %}{{ '<|Assistant|>' }}{% generation %}{{ m['content'] + '<|eos|>' }}"
    "{% endgeneration %}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|Assistant|><think>\\n' }}{% endif %}")


# --------------------------------------------------------------------------- paths

def training_rows(cfg: Any, run_dir: str | Path) -> tuple[list[dict], Path]:
    """The rows this profile trains on and the file they come from (``cfg.limit`` applied).

    ``training.release_rows`` > 0: :func:`release_subset` of the released STAR-1 (real DeepSeek-R1
    traces), with the base model's own tokenizer measuring the lengths; otherwise
    :func:`load_rows` of :func:`star1_utils.run.layout.training_data_path`.
    """
    t = cfg.training
    if t.release_rows:
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(layout.base_model_path(t))
        rows, path = release_subset(tok, t, t.release_rows), Path(fetch(STAR1_RELEASE))
    else:
        path = layout.training_data_path(run_dir, cfg)
        rows = load_rows(path)
    return cfg.take(rows), path


def load_rows(path: str | Path) -> list[dict]:
    """STAR-1-format rows (``question``, ``response``) from a ``.json`` list or a ``.jsonl`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no training data at {path}: run notebook 04 first or set training.data_path")
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json" or text.lstrip().startswith("["):
        rows = json.loads(text)
    else:
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    for n, r in enumerate(rows):
        for key in ("question", "response"):
            if not isinstance(r.get(key), str):
                raise ValueError(f"{path}: row {n} has no string field {key!r}")
    return rows


def release_subset(tokenizer, tcfg: Any, n_rows: int, release: Sequence[dict] | None = None) -> list[dict]:
    """``n_rows`` rows of the released STAR-1 for a small training run, keeping the category mix.

    Rows whose training sequence (prompt + reasoning + answer) is longer than ``max_length`` tokens
    are left out first, so that no row loses its prompt to truncation and the model learns traces it
    can finish within a short generation budget; the paper's diversity selection
    (:func:`star1_utils.dataset.selection.select_diverse`, the same greedy removal that made the 1K from 41K)
    then cuts the rest to ``n_rows``. Deterministic: no seed is involved.
    """

    rows = list(release if release is not None else load_star1_release())
    fmt = Formatter(tokenizer, think_flag=tcfg.think_flag, base_flag=tcfg.base_flag,
                    add_bos=uses_bos(tcfg.bos, model_family(tcfg)), max_length=10**9)
    fitting = [r for r in rows if fmt.example(r["question"], r["response"])["n_tokens"] <= tcfg.max_length]
    return select_diverse(fitting, n_rows)


# --------------------------------------------------------------------------- formatting

def format_response(response: str, think_flag: bool = True, base_flag: bool = False) -> str:
    """The assistant turn the model is trained on (reference ``get_response``).

    The flags are the reference's ``--think_flag``/``--base_flag``, which it passes as 1/0
    (``train/run_sft.sh``); 1 and 0 still work here, as their truth values.
    """
    thinking, attempt, _ = replies.split_training_response(response)
    if think_flag:
        return f"<think>\n{thinking}\n</think>\n\n{attempt}"
    if not base_flag:
        return f"<think>\n\n</think>\n\n{attempt}"
    return attempt


def training_template(chat_template: str) -> str:
    """The chat template with the reasoning-stripping clause removed (the reference's edit)."""
    return chat_template.replace(THINK_STRIP_CLAUSE, "")


def model_family(cfg_training: Any) -> str:
    """``Qwen`` or ``Llama``: the reference's ``--base_model`` argument."""
    fam = cfg_training.model_family
    if fam != "auto":
        if fam not in ("Qwen", "Llama"):
            raise ValueError(f"training.model_family must be Qwen, Llama or auto, not {fam!r}")
        return fam
    return "Llama" if "llama" in cfg_training.base_model.lower() else "Qwen"


def uses_bos(bos: str, family: str) -> bool:
    """Whether ``bos_token`` is passed to the template. ``reference``: Llama only (the Qwen quirk)."""
    if bos == "reference":
        return family == "Llama"
    if bos in ("always", "never"):
        return bos == "always"
    raise ValueError(f"training.bos must be reference, always or never, not {bos!r}")


class Formatter:
    """Renders and tokenises samples exactly as the reference's ``Train_dataset``."""

    def __init__(self, tokenizer, *, think_flag: bool = True, base_flag: bool = False, add_bos: bool = False,
                 max_length: int = 8192):
        import jinja2

        template = tokenizer.chat_template
        if not template:
            raise ValueError("the tokenizer has no chat template")
        # {% generation %} markers are a transformers extension; plain jinja2 does not know them.
        plain = re.sub(r"{%-?\s*(end)?generation\s*-?%}", "", training_template(template))
        self.template = jinja2.Template(plain)
        self.tokenizer = tokenizer
        self.think_flag, self.base_flag, self.add_bos, self.max_length = think_flag, base_flag, add_bos, max_length

    def render(self, messages: list[dict], add_generation_prompt: bool) -> str:
        kwargs = {"bos_token": self.tokenizer.bos_token} if self.add_bos else {}
        return self.template.render(messages=messages, add_generation_prompt=add_generation_prompt, **kwargs)

    def texts(self, question: str, response: str) -> tuple[str, str]:
        """``(query, full)``: the prompt with the generation prompt, and prompt plus answer."""
        answer = format_response(response, self.think_flag, self.base_flag)
        user = {"role": "user", "content": question}
        full = self.render([user, {"role": "assistant", "content": answer}], add_generation_prompt=False)
        query = self.render([user], add_generation_prompt=True)
        return query, full

    def example(self, question: str, response: str) -> dict:
        """``input_ids``, ``labels`` (prompt masked with -100 by count), left-truncated to max_length."""
        query, full = self.texts(question, response)
        tok = self.tokenizer
        input_ids = tok(full, add_special_tokens=False)["input_ids"]
        query_ids = tok(query, add_special_tokens=False)["input_ids"]
        if len(query_ids) >= len(input_ids):
            raise ValueError("the prompt is not shorter than prompt plus answer; check the chat template")
        labels = [-100] * len(query_ids) + input_ids[len(query_ids):]
        return {
            "input_ids": input_ids[-self.max_length:],
            "labels": labels[-self.max_length:],
            "n_prompt": len(query_ids),
            "n_tokens": len(input_ids),
            # the reference only checks lengths; when the prompt tokens are not a prefix (a tokenizer
            # merging across the boundary) the count still masks the same number of tokens
            "prefix_ok": input_ids[: len(query_ids)] == query_ids,
        }


def formatter_for(tokenizer, tcfg: Any) -> Formatter:
    return Formatter(tokenizer, think_flag=tcfg.think_flag, base_flag=tcfg.base_flag,
                     add_bos=uses_bos(tcfg.bos, model_family(tcfg)), max_length=tcfg.max_length)


# --------------------------------------------------------------------------- schedule

def num_updates(n_rows: int, epochs: int, effective_batch: int, max_steps: int = 0) -> int:
    """Optimizer updates: ``rows * epochs // effective_batch`` (the reference: 1000*5//16//8 = 39)."""
    if max_steps:
        return max_steps
    return (n_rows * epochs) // effective_batch


def lr_schedule(n_updates: int, learning_rate: float = 1e-5, warmup_ratio: float = 0.05,
                kind: str = "cosine", schedule_updates: int | None = None) -> dict:
    """``{"updates", "warmup", "lrs"}``: the learning rate used by each optimizer update.

    ``get_cosine_schedule_with_warmup(num_warmup_steps=int(ratio * T), num_training_steps=T)`` read at
    steps 0..T-1 (update k uses the value after k scheduler steps): with T = 39 the first update has
    lr 0, the second 1e-5, then a cosine down to about 1.7e-8. ``schedule_updates`` (default
    ``n_updates``): the ``T`` the schedule is drawn over, when it is not the number of updates taken.
    """
    T = schedule_updates or n_updates
    warmup = int(warmup_ratio * T)
    lrs = []
    for step in range(n_updates):
        if step < warmup:
            f = step / max(1, warmup)
        elif kind == "cosine":
            progress = (step - warmup) / max(1, T - warmup)
            f = max(0.0, 0.5 * (1.0 + math.cos(math.pi * progress)))
        elif kind == "constant":
            f = 1.0
        elif kind == "linear":
            f = max(0.0, (T - step) / max(1, T - warmup))
        else:
            raise ValueError(f"unknown lr_scheduler {kind!r}")
        lrs.append(learning_rate * f)
    return {"updates": n_updates, "warmup": warmup, "lrs": lrs}


def schedule_for(tcfg: Any, n_rows: int, world_size: int | None = None) -> dict:
    """The schedule of a training section on ``n_rows`` rows: ``updates`` (optimizer steps taken),
    ``warmup``, ``lrs`` (one per update), ``sequences`` trained, ``dropped`` (row-epochs never
    trained), and ``schedule_updates``, the length the cosine is drawn over.

    ``training.data_order`` ``seeded_epochs``: ``T = rows * epochs // effective_batch`` for both.
    ``reference``: each epoch keeps whole rounds of per-device batches over the ``world_size``
    processes (:func:`reference_data_order`), so ``T`` counts those; the cosine's length is the
    reference's own arithmetic, ``len(dataloader) * epochs // accumulation // processes``
    (``train/sft.py:196``), which can differ from ``T`` by one when rows do not divide evenly.
    """
    batch = batch_layout(tcfg, world_size)
    eff = tcfg.effective_batch_size
    if tcfg.data_order == "reference":
        per_epoch = n_rows // (batch["per_device"] * batch["world"]) * batch["per_device"] * batch["world"]
        T = per_epoch * tcfg.epochs // eff
        T_schedule = (n_rows // batch["per_device"]) * tcfg.epochs // batch["grad_accum"] // batch["world"]
    else:
        T = T_schedule = num_updates(n_rows, tcfg.epochs, eff)
    if tcfg.max_steps:
        T = T_schedule = tcfg.max_steps
    out = lr_schedule(T, tcfg.learning_rate, tcfg.warmup_ratio, tcfg.lr_scheduler, schedule_updates=T_schedule)
    out["schedule_updates"] = T_schedule
    out["sequences"] = T * eff
    out["dropped"] = n_rows * tcfg.epochs - out["sequences"] if not tcfg.max_steps else 0
    return out


def batch_layout(tcfg: Any, world_size: int | None = None) -> dict:
    """``per_device`` x ``grad_accum`` x ``world`` = effective batch (error when it does not divide)."""
    world = max(1, world_size if world_size is not None else tcfg.num_gpus if tcfg.backend == "accelerate" else 1)
    per = tcfg.per_device_batch_size
    eff = tcfg.effective_batch_size
    if eff % (per * world):
        raise ValueError(f"effective batch {eff} is not a multiple of per_device_batch_size {per} x {world} "
                         f"processes; change training.per_device_batch_size or training.num_gpus")
    return {"per_device": per, "grad_accum": eff // (per * world), "world": world, "effective": eff}


def epoch_stream(n_rows: int, epochs: int, n_sequences: int, seed: int) -> list[int]:
    """``training.data_order: seeded_epochs``: row indices of ``epochs`` epochs, each reshuffled by
    ``random.Random(seed)``, laid end to end and cut to ``n_sequences``.

    Accumulation windows span epoch boundaries, as in the reference (its ``global_step`` is never
    reset). The order does not depend on the number of processes, so a run on one GPU and one on
    eight train on the same batches.
    """
    rng = random.Random(seed)
    out: list[int] = []
    while len(out) < n_sequences and n_rows:
        order = list(range(n_rows))
        rng.shuffle(order)
        out.extend(order)
    return out[:n_sequences]


def _global_draw() -> int:
    """One seed drawn from the global torch RNG, the way torch's ``RandomSampler`` and accelerate's
    ``prepare_data_loader`` seed a fresh ``torch.Generator``."""
    import torch

    return int(torch.empty((), dtype=torch.int64).random_().item())


def reference_data_order(n_rows: int, epochs: int, batch: dict, seed: int) -> list[int]:
    """``training.data_order: reference``: the rows in the order the reference's loop reads them.

    ``train/sft.py:194`` builds ``DataLoader(shuffle=True, drop_last=True, batch_size=per_device)``
    and :323 calls ``set_seed(seed)``; accelerate then shards it over the processes
    (``BatchSamplerShard``): process ``p`` reads batch ``k * world + p`` of each epoch, and only
    whole rounds of ``world`` batches are read. Laid out here as the Trainer reads a sequential
    stream (micro-step by micro-step, process by process), so each optimizer update gets the same
    rows as the reference's. The permutations:

    * one process: torch's ``RandomSampler`` seeds a new generator from the global RNG every epoch,
      after the DataLoader's iterator has drawn its own base seed from it;
    * several: ``prepare_data_loader`` gives the sampler one generator, seeded by one draw of the
      global RNG; each epoch takes a ``randperm`` and the sampler's trailing ``randperm(n)[:0]``
      advances it once more.

    Library code that draws from the global RNG between ``set_seed`` and the first batch (none in
    the test that runs accelerate beside this) would shift the reference's draws. The trailing
    micro-steps that fill no whole accumulation are cut: the reference never steps them
    (``:256-261``). The global RNG is left as it was.
    """
    import torch

    b, w = batch["per_device"], batch["world"]
    per_epoch = n_rows // (b * w) * (b * w)
    saved = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        shared = torch.Generator().manual_seed(_global_draw()) if w > 1 else None
        stream: list[int] = []
        for _ in range(epochs):
            _global_draw()  # the DataLoader iterator's base seed (torch.utils.data.dataloader)
            g = shared if shared is not None else torch.Generator().manual_seed(_global_draw())
            stream += torch.randperm(n_rows, generator=g).tolist()[:per_epoch]
            torch.randperm(n_rows, generator=g)  # RandomSampler's trailing randperm(n)[:n % n]
    finally:
        torch.random.set_rng_state(saved)
    eff = b * w * batch["grad_accum"]
    return stream[: len(stream) // eff * eff]


# --------------------------------------------------------------------------- the tiny student

def build_tiny_student(rows: Sequence[dict], out_dir: str | Path, *, vocab_size: int = 1024,
                       hidden_size: int = 128, layers: int = 2, seed: int = 2002,
                       max_position_embeddings: int = 4096) -> Path:
    """A randomly initialised Qwen2-style model (head_dim 64) with a byte-level BPE tokenizer trained
    offline on the rows' text, and an R1-Distill-like chat template. Saved to ``out_dir``.

    A stand-in for a distilled reasoning model: it is **not** a language model before training.
    """
    quiet_model_libraries()
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    texts = []
    for r in rows:
        texts.append(r["question"])
        texts.append(r["response"].replace("\\/", "/"))
    tk.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=TINY_SPECIAL, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    # every special token is in the trained vocabulary: AutoTokenizer reloads this as a Qwen2Tokenizer,
    # which would otherwise add its own unk token beyond the model's embedding matrix
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|bos|>", eos_token="<|eos|>",
                                  pad_token="<|pad|>", unk_token="<|unk|>", additional_special_tokens=TINY_SPECIAL[3:7])
    tok.chat_template = TINY_CHAT_TEMPLATE
    heads = hidden_size // 64
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(Qwen2Config(
        vocab_size=len(tok), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=1, head_dim=64,
        tie_word_embeddings=True, max_position_embeddings=max_position_embeddings,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id))
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out_dir)
    tok.save_pretrained(out_dir)
    return out_dir


# --------------------------------------------------------------------------- the job

def prepare_job(cfg: Any, run_dir: str | Path, *, data_path: str | Path | None = None,
                rows: Sequence[dict] | None = None) -> Path:
    """Write ``<run>/05_training/<run_name>/job.json``: everything ``star1_utils.train.run_sft`` needs.

    For ``base_model: tiny-qwen2`` the tiny student is built first (``init_model/``).
    """
    t = cfg.training
    folder = layout.training_run_folder(run_dir, cfg)
    folder.mkdir(parents=True, exist_ok=True)
    data_path = Path(data_path) if data_path else layout.training_data_path(run_dir, cfg)
    if rows is None:
        rows = load_rows(data_path)
    rows = cfg.take(rows)
    rows_path = folder / "train_rows.jsonl"

    write_jsonl(rows_path, [{"id": r.get("id", str(n)), "question": r["question"], "response": r["response"]}
                            for n, r in enumerate(rows)])
    model_path = layout.base_model_path(t)
    if t.base_model == layout.TINY_MODEL:
        model_path = str(build_tiny_student(rows, folder / "init_model", vocab_size=t.tiny_vocab_size,
                                            hidden_size=t.tiny_hidden_size, layers=t.tiny_layers, seed=t.seed))
    job = {
        "training": t.model_dump(),
        "model_path": model_path,
        "data_path": str(data_path),
        "rows_path": str(rows_path),
        "n_rows": len(rows),
        "output_dir": str(folder),
        "checkpoint_dir": str(folder / "checkpoints"),
        "model_dir": str(folder / "model"),
        "log_path": str(folder / LOG_NAME),
    }
    path = folder / JOB_NAME
    path.write_text(json.dumps(job, indent=2), encoding="utf-8")
    return path


def _resolve(path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else project_root() / p


def deepspeed_config(tcfg: Any) -> dict:
    """The repository's ZeRO-3 config, with offload removed when ``training.offload`` is false."""
    ds = json.loads(_resolve(tcfg.deepspeed_config).read_text(encoding="utf-8"))
    if not tcfg.offload:
        ds["zero_optimization"].pop("offload_optimizer", None)
        ds["zero_optimization"].pop("offload_param", None)
    return ds


def write_launch_files(job_path: str | Path, *, use_cpu: bool = False) -> tuple[Path, Path]:
    """Resolved copies of the accelerate YAML and the DeepSpeed JSON next to the job (absolute paths)."""
    import yaml

    job_path = Path(job_path)
    job = json.loads(job_path.read_text(encoding="utf-8"))

    t = TrainingConfig(**job["training"])
    ds_path = job_path.parent / "deepspeed.json"
    ds_path.write_text(json.dumps(deepspeed_config(t), indent=2), encoding="utf-8")
    acc = yaml.safe_load(_resolve(t.accelerate_config).read_text(encoding="utf-8"))
    acc["deepspeed_config"]["deepspeed_config_file"] = str(ds_path.resolve())
    acc["num_processes"] = max(1, t.num_gpus)
    if use_cpu:
        acc["use_cpu"] = True
    acc_path = job_path.parent / "accelerate.yaml"
    acc_path.write_text(yaml.safe_dump(acc, sort_keys=False), encoding="utf-8")
    return acc_path, ds_path


def launch_command(job_path: str | Path, *, use_cpu: bool = False, main_process_port: int | None = None,
                   print_every: int = 0) -> list[str]:
    """``accelerate launch --config_file ... -m star1_utils.train.run_sft --config job.json``; with
    ``print_every`` > 0, one short ``update N/T`` line every that many updates (notebook 05's widget
    counts them)."""
    job_path = Path(job_path)
    job = json.loads(job_path.read_text(encoding="utf-8"))
    acc_path, _ = write_launch_files(job_path, use_cpu=use_cpu)
    n = max(1, int(job["training"]["num_gpus"]))
    accelerate = Path(sys.executable).with_name("accelerate")
    cmd = [str(accelerate) if accelerate.exists() else "accelerate", "launch", "--config_file", str(acc_path),
           "--num_processes", str(n), "--num_machines", "1", "--machine_rank", "0"]
    if main_process_port:
        cmd += ["--main_process_port", str(main_process_port)]
    cmd += ["-m", "star1_utils.train.run_sft", "--config", str(job_path.resolve())]
    return cmd + (["--print-every", str(print_every)] if print_every else [])


def cpu_launch_command(job_path: str | Path, processes: int, *, print_every: int = 0) -> list[str]:
    """``torchrun --standalone --nproc_per_node N -m star1_utils.train.run_sft --config job.json --cpu``.

    Data parallel on the CPU: each process reads its share of every update's sequences and the
    gradients are averaged (gloo) before the step, so the update is the one a single process with
    the whole accumulation takes. On a CPU a second training thread adds next to nothing (the
    matmuls of a 135M model at batch 1 do not split well) while a second process nearly doubles the
    tokens per second (``benchmarks/bench_mini.py``).
    """
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
           "-m", "star1_utils.train.run_sft", "--config", str(Path(job_path).resolve()), "--cpu"]
    return cmd + (["--print-every", str(print_every)] if print_every else [])


def train_on_cpu(job_path: str | Path, processes: int = 1, *, print_every: int = 0,
                 echo: Callable[[str], None] = print) -> dict:
    """The ``inprocess`` backend: train in this process, or in ``processes`` CPU processes
    (:func:`cpu_launch_command`, one thread each); returns the training summary either way."""
    if processes <= 1:
        return train(job_path, print_every=print_every)
    cmd = cpu_launch_command(job_path, processes, print_every=print_every)
    echo(f"training in {processes} processes: {shell_command(cmd)}")
    return _run_training(cmd, job_path, {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}, echo)


def _run_training(cmd: list[str], job_path: str | Path, env: dict, echo: Callable[[str], None]) -> dict:
    """Run a training launch, echoing the processes' progress lines, and return the job's summary;
    a failed launch raises with its exit status (a re-run resumes from the last checkpoint)."""
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    widget = progress.mode() == "widget"
    bar = None  # made at the first "update N/T" line (a launch without print_every writes none)

    def show(line: str) -> None:
        nonlocal bar
        update = UPDATE_LINE.match(line.strip())
        if widget and update:  # the processes' "update N/T" lines drive the widget
            if bar is None:
                bar = progress.bar(int(update[2]), "training", "updates")
            bar.update(int(update[1]) - bar.n)
        if _worth_showing(line):
            echo(line)

    try:
        rc = run_streaming(cmd, echo=show, env=env)
    finally:
        if bar is not None:
            bar.close()
    if rc != 0:
        raise RuntimeError(f"training failed (exit status {rc}); the log above says why, and a re-run resumes "
                           f"from the last checkpoint in {job['checkpoint_dir']}")
    return json.loads((Path(job["output_dir"]) / "summary.json").read_text(encoding="utf-8"))


def check_processes(num_gpus: int) -> str:
    """Where ``accelerate launch`` will put ``training.num_gpus`` processes, or a clear error first.

    On a GPU machine each process needs its GPU. Without a GPU, DeepSpeed runs its processes on the
    CPU (gloo), which checks the full run's launch path at a small size (``profiles/full-smoke.yaml``:
    1 or 2 processes); more processes than cores is refused rather than left to crawl.
    """
    import torch

    gpus = torch.cuda.device_count()
    if gpus:
        if num_gpus > gpus:
            raise RuntimeError(f"training.num_gpus is {num_gpus} but this machine has {gpus} GPU(s): set "
                               f"training.num_gpus to {gpus} (the effective batch is kept by gradient accumulation)")
        return f"{num_gpus} process(es), one per GPU"
    cores = os.cpu_count() or 1
    if num_gpus > cores:
        raise RuntimeError(f"training.num_gpus is {num_gpus} but this machine has no GPU and {cores} CPU core(s): "
                           "DeepSpeed would run that many CPU processes; set training.num_gpus to 1 or 2 to "
                           "check the launch on the CPU, or launch the printed command on the GPU node")
    return f"{num_gpus} CPU process(es), no GPU here (DeepSpeed over gloo: a check of the launch, not a speed)"


def train_with_accelerate(job_path: str | Path, cmd: list[str] | None = None, *,
                          echo: Callable[[str], None] = print) -> dict:
    """Run ``cmd`` (default :func:`launch_command`: pass the one already shown, so what runs is what
    was printed) here, echoing the processes' progress, and return the summary.

    A re-run after an interruption resumes from the last checkpoint (``training.save_steps``), as
    :func:`train` does in each process. Raises with the exit status when a process fails.
    """
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    echo("accelerate launch: " + check_processes(int(job["training"]["num_gpus"])))
    # the libraries' deprecation notices come once per ZeRO-3 gather: thousands of lines on a CPU
    env = {"PYTHONWARNINGS": "ignore::FutureWarning,ignore::UserWarning", "TOKENIZERS_PARALLELISM": "false"}
    return _run_training(cmd or launch_command(job_path), job_path, env, echo)


def _worth_showing(line: str) -> bool:
    """The training processes' progress lines, without the launcher's and libraries' chatter."""
    quiet = ("STAR1_TRAIN_SUMMARY", "Warning", "warn(", "W1207", "torch.distributed", "OMP_NUM_THREADS",
             "*****", "Setting OMP", "return func(", "super().__init__(", "real_accelerator.py")
    return bool(line.strip()) and not any(q in line for q in quiet)


def run_streaming(cmd: list[str], *, echo: Callable[[str], None] = print, env: dict | None = None,
                  cwd: str | Path | None = None) -> int:
    """Run a command, echoing its output line by line; returns the exit status."""
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1,
                            cwd=str(cwd or project_root()), env=full_env)
    assert proc.stdout is not None
    for line in proc.stdout:
        echo(line.rstrip("\n"))
    return proc.wait()


def shell_command(cmd: list[str]) -> str:
    return " ".join(shlex.quote(c) for c in cmd)


# --------------------------------------------------------------------------- training

def _trainer_class():
    import torch.nn.functional as F
    from trl import SFTTrainer

    class Star1Trainer(SFTTrainer):
        """SFTTrainer with the reference's weight decay groups and per-sequence loss averaging."""

        loss_averaging = "sequence"
        schedule_updates = 0  # > 0: the T the lr schedule is drawn over (schedule_for), not max_steps

        def create_scheduler(self, num_training_steps, optimizer=None):
            return super().create_scheduler(self.schedule_updates or num_training_steps, optimizer)

        def get_decay_parameter_names(self, model):
            # reference: no decay for names containing "bias" or "LayerNorm.weight" (none in Qwen2/Llama)
            return [n for n, _ in model.named_parameters() if "bias" not in n and "LayerNorm.weight" not in n]

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if self.loss_averaging != "sequence":
                return super().compute_loss(model, inputs, return_outputs=return_outputs,
                                            num_items_in_batch=num_items_in_batch)
            labels = inputs.pop("labels")
            outputs = model(**inputs, use_cache=False)
            logits = outputs.logits[:, :-1, :].float()
            target = labels[:, 1:].to(logits.device)
            ce = F.cross_entropy(logits.transpose(1, 2), target, ignore_index=-100, reduction="none")
            mask = (target != -100).float()
            loss = ((ce * mask).sum(1) / mask.sum(1).clamp(min=1.0)).mean()
            return (loss, outputs) if return_outputs else loss

    return Star1Trainer


#: The progress line the training processes print every ``print_every`` updates (``_log_callback``).
UPDATE_LINE = re.compile(r"^update\s+(\d+)/(\d+)\b")


def _update_bar_callback(total: int):
    """A widget counting the updates, for training in this process in JupyterLab (run/progress.py);
    the ``print_every`` lines are the plain form, in papermill's log and a terminal."""
    from transformers import TrainerCallback

    class UpdateBar(TrainerCallback):
        bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                self.bar = progress.bar(total, "training", "updates", initial=state.global_step)

        def on_step_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.update(state.global_step - self.bar.n)

        def on_train_end(self, args, state, control, **kwargs):
            if self.bar is not None:
                self.bar.close()

    return UpdateBar()


def _log_callback(log_path: Path, t0: float, print_every: int = 0, total: int = 0):
    from transformers import TrainerCallback

    class JsonlLog(TrainerCallback):
        """Appends every Trainer log entry to the training log (main process only)."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not state.is_world_process_zero or not logs:
                return
            row = {"step": state.global_step, "epoch": state.epoch, "time_s": round(time.time() - t0, 3)}
            row.update({k: (float(v) if isinstance(v, (int, float)) else v) for k, v in logs.items()})
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")
            step = state.global_step
            if print_every and "loss" in logs and (step % print_every == 0 or step in (1, total)):
                print(f"update {step:>4}/{total}  loss {logs['loss']:.4f}  lr {logs.get('learning_rate', 0):.3g}"
                      f"  {row['time_s']:.1f} s", flush=True)

    return JsonlLog()


def read_log(path: str | Path) -> list[dict]:
    """The training log (one JSON object per logged update); the last row holds the train summary."""

    return read_jsonl(path)


def loss_curve(log: Iterable[dict]) -> tuple[list[int], list[float], list[float]]:
    """``(steps, losses, learning_rates)`` of the per-update rows of a training log."""
    steps, losses, lrs = [], [], []
    for r in log:
        if "loss" in r and "train_runtime" not in r:
            steps.append(int(r["step"]))
            losses.append(float(r["loss"]))
            lrs.append(float(r.get("learning_rate", float("nan"))))
    return steps, losses, lrs


@dataclass
class _TrainingData:
    """A job's rows as the Trainer reads them: formatted examples, laid out in update order."""

    rows: list[dict]
    tokenizer: Any
    formatter: Formatter
    examples: list[dict]
    schedule: dict  # schedule_for: updates, warmup, sequences
    order: list[int]  # example index of every sequence the Trainer reads, in order
    dataset: Any  # datasets.Dataset of input_ids and labels, in ``order``


def _training_data(job: dict, t: Any, batch: dict) -> _TrainingData:
    """Tokenise the job's rows and lay the epochs end to end, cut to whole updates (see module docstring)."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    rows = read_jsonl(job["rows_path"])
    tok = AutoTokenizer.from_pretrained(job["model_path"])
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    fmt = formatter_for(tok, t)
    examples = [fmt.example(r["question"], r["response"]) for r in rows]
    sched = schedule_for(t, len(rows), batch["world"])
    if sched["updates"] < 1:
        raise ValueError(f"{len(rows)} rows x {t.epochs} epochs give no full batch of {t.effective_batch_size}")
    if t.data_order == "reference":
        per_epoch = len(rows) // (batch["per_device"] * batch["world"]) * batch["per_device"] * batch["world"]
        epochs = max(t.epochs, -(-sched["sequences"] // max(1, per_epoch)))  # max_steps may ask for more
        order = reference_data_order(len(rows), epochs, batch, t.seed)[: sched["sequences"]]
        if not order:
            raise ValueError(f"{len(rows)} rows give no whole round of {batch['per_device']} rows x "
                             f"{batch['world']} processes (training.data_order reference)")
    else:
        order = epoch_stream(len(rows), t.epochs, sched["sequences"], t.seed)
    ds = Dataset.from_list([{"input_ids": examples[i]["input_ids"], "labels": examples[i]["labels"]} for i in order])
    return _TrainingData(rows, tok, fmt, examples, sched, order, ds)


def _precision(t: Any, use_cpu: bool, under_accelerate: bool) -> tuple[Any, bool]:
    """(the dtype the weights load in, whether the Trainer runs under bf16).

    bf16 weights only where fp32 master weights live elsewhere (DeepSpeed) or are not trained (LoRA
    base); a plain single-GPU full fine-tune keeps fp32 weights and trains under bf16 autocast, since
    updates of lr 1e-5 would be lost in bf16 weights.
    """
    import torch

    low = t.bf16 and not use_cpu and (under_accelerate or t.lora)
    bf16 = t.bf16 and not use_cpu if not under_accelerate else t.bf16
    return (torch.bfloat16 if low else torch.float32), bf16


def _deepspeed_launched() -> bool:
    """Whether this process was started by ``accelerate launch`` with DeepSpeed."""
    return os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true"


def _count_deepspeed_cpu_processes(args: Any) -> None:
    """DeepSpeed on a machine without a GPU: make the Trainer count every process.

    There accelerate's ``PartialState`` lets DeepSpeed start the process group (gloo) but, finding
    no GPU backend, records one process (accelerate ``state.py``: ``backend is None`` -> one
    process); the Trainer then fills DeepSpeed's ``train_batch_size`` for one process and DeepSpeed
    refuses it (``1 != 1 * 1 * 2``). The state is shared, so setting the real count here is what the
    Trainer and its Accelerator read. GPUs (nccl) are never touched.
    """
    import torch.distributed as dist

    if not (_deepspeed_launched() and dist.is_available() and dist.is_initialized()):
        return
    state = args.distributed_state
    if state is not None and state.num_processes != dist.get_world_size():
        state.num_processes, state.process_index = dist.get_world_size(), dist.get_rank()


def _sft_config(job: dict, t: Any, batch: dict, sched: dict, *, bf16: bool, use_cpu: bool,
                under_accelerate: bool):
    """The Trainer's arguments: the reference's recipe, read in order as one epoch of ``T`` updates."""
    from trl import SFTConfig

    T = sched["updates"]
    return SFTConfig(
        output_dir=job["checkpoint_dir"], max_steps=T, num_train_epochs=1,
        per_device_train_batch_size=batch["per_device"], gradient_accumulation_steps=batch["grad_accum"],
        learning_rate=t.learning_rate, adam_beta1=t.adam_beta1, adam_beta2=t.adam_beta2, adam_epsilon=1e-8,
        weight_decay=t.weight_decay, lr_scheduler_type=t.lr_scheduler, warmup_steps=sched["warmup"],
        max_grad_norm=t.max_grad_norm, bf16=bf16, seed=t.seed, data_seed=t.seed,
        train_sampling_strategy="sequential", logging_steps=t.logging_steps, logging_first_step=True,
        save_strategy="steps" if t.save_steps else "no", save_steps=t.save_steps or T, save_total_limit=1,
        # under torchrun on a CPU (training.processes > 1) the Trainer must know it is on the CPU to
        # take accelerate's MULTI_CPU path (gloo); under accelerate + DeepSpeed the launcher decides
        report_to="none", use_cpu=use_cpu and not _deepspeed_launched(),
        activation_checkpointing=t.gradient_checkpointing, max_length=None,  # truncated (left) above
        packing=False, dataloader_drop_last=True, remove_unused_columns=True, disable_tqdm=True,
        optim="adamw_torch",
    )


def _make_trainer(job: dict, t: Any, args: Any, data: _TrainingData, dtype: Any, log_path: Path,
                  t0: float, print_every: int):
    """The model (LoRA-wrapped when ``training.lora``) in a :func:`_trainer_class` Trainer that logs to ``log_path``."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(job["model_path"], dtype=dtype)
    peft_config = None
    if t.lora:
        from peft import LoraConfig

        peft_config = LoraConfig(r=t.lora_r, lora_alpha=t.lora_alpha, lora_dropout=t.lora_dropout,
                                 target_modules="all-linear", task_type="CAUSAL_LM")
    Trainer = _trainer_class()
    trainer = Trainer(model=model, args=args, train_dataset=data.dataset, processing_class=data.tokenizer,
                      peft_config=peft_config,
                      callbacks=[_log_callback(log_path, t0, print_every, data.schedule["updates"])])
    if progress.mode() == "widget":
        trainer.add_callback(_update_bar_callback(data.schedule["updates"]))
    if print_every:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    trainer.loss_averaging = t.loss_averaging
    trainer.schedule_updates = data.schedule["schedule_updates"]
    if t.loss_averaging == "sequence":
        trainer.loss_is_scaled_for_ga = False  # the Trainer divides by the accumulation steps
    elif t.loss_averaging != "token":
        raise ValueError(f"training.loss_averaging must be sequence or token, not {t.loss_averaging!r}")
    return trainer


def _resume_point(job: dict, trainer: Any, log_path: Path) -> str | None:
    """The checkpoint to resume from (None: a fresh run, whose log starts empty).

    A checkpoint resumes only the job that wrote it: its folder is stamped with
    :func:`job_fingerprint`, and a different stamp is an error rather than a silent mix of two runs.
    """
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(job["checkpoint_dir"]) if Path(job["checkpoint_dir"]).is_dir() else None
    stamp = Path(job["checkpoint_dir"]) / "job_fingerprint.txt"
    fingerprint = job_fingerprint(job)
    if last and stamp.is_file() and stamp.read_text().strip() != fingerprint:
        raise RuntimeError(f"the checkpoints in {job['checkpoint_dir']} belong to a different training job "
                           "(data or settings changed); delete that folder or choose another training.run_name")
    if trainer.is_world_process_zero():
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint)
    if trainer.is_world_process_zero() and not last and log_path.exists():
        log_path.unlink()  # a fresh run starts a fresh log; a resumed run appends
    return last


def _train_summary(t: Any, trainer: Any, result: Any, data: _TrainingData, batch: dict, *,
                   resumed_from: str | None, model_dir: Path, log_path: Path, t0: float) -> dict:
    """What :func:`train` returns and writes as ``summary.json``: updates, losses, tokens, paths."""
    steps, losses, _ = loss_curve(read_log(log_path)) if log_path.exists() else ([], [], [])
    examples = data.examples
    return {
        "updates": int(trainer.state.global_step), "expected_updates": data.schedule["updates"],
        "warmup": data.schedule["warmup"], "layout": batch, "rows": len(data.rows),
        "sequences": len(data.dataset),
        "tokens_trained": int(sum(sum(1 for x in examples[i]["labels"] if x != -100) for i in data.order)),
        "truncated_rows": sum(1 for e in examples if e["n_tokens"] > t.max_length),
        "prefix_mismatches": sum(1 for e in examples if not e["prefix_ok"]),
        "loss_first": losses[0] if losses else None, "loss_last": losses[-1] if losses else None,
        "train_runtime_s": round(float(result.metrics.get("train_runtime", 0.0)), 3),
        "total_s": round(time.time() - t0, 3), "resumed_from": resumed_from, "model_dir": str(model_dir),
        "log_path": str(log_path), "bos": data.formatter.add_bos, "family": model_family(t),
    }


def train(job_path: str | Path, *, use_cpu: bool | None = None, world_size: int | None = None,
          print_every: int = 0) -> dict:
    """Train as described by a job file (in this process, or in each process of ``accelerate launch``).

    Returns a summary: updates, losses first/last, runtime, tokens, paths. Resumes from the last
    checkpoint in ``checkpoints/`` when there is one. ``print_every`` > 0 prints one short line every
    that many updates instead of the Trainer's log dictionaries.
    """
    quiet_model_libraries()
    import torch

    job_path = Path(job_path)
    job = json.loads(job_path.read_text(encoding="utf-8"))
    t = TrainingConfig(**job["training"])
    t0 = time.time()
    under_accelerate = os.environ.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true" or "LOCAL_RANK" in os.environ
    world = world_size or int(os.environ.get("WORLD_SIZE", "1"))
    batch = batch_layout(t, world)
    if use_cpu is None:
        use_cpu = not torch.cuda.is_available()

    data = _training_data(job, t, batch)
    dtype, bf16 = _precision(t, use_cpu, under_accelerate)
    args = _sft_config(job, t, batch, data.schedule, bf16=bf16, use_cpu=use_cpu, under_accelerate=under_accelerate)
    _count_deepspeed_cpu_processes(args)
    log_path = Path(job["log_path"])
    trainer = _make_trainer(job, t, args, data, dtype, log_path, t0, print_every)
    last = _resume_point(job, trainer, log_path)
    result = trainer.train(resume_from_checkpoint=last)
    model_dir = Path(job["model_dir"])
    save_final(trainer, data.tokenizer, model_dir, t)
    summary = {}
    if trainer.is_world_process_zero():
        summary = _train_summary(t, trainer, result, data, batch, resumed_from=last, model_dir=model_dir,
                                 log_path=log_path, t0=t0)
        (Path(job["output_dir"]) / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


def job_fingerprint(job: dict) -> str:
    """What a checkpoint must match to be resumed: the training settings and the rows."""
    import hashlib

    keep = {k: v for k, v in job["training"].items()
            if k not in ("launch", "save_steps", "logging_steps", "sample_prompts", "sample_max_new_tokens")}
    blob = json.dumps({"training": keep, "rows": sha256_file(job["rows_path"])}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


def save_final(trainer, tokenizer, model_dir: Path, t: Any) -> None:
    """The final model in ``save_dtype`` (ZeRO-3: gathered 16-bit weights), tokenizer and template."""
    import torch

    dtype = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[t.save_dtype]
    model_dir.mkdir(parents=True, exist_ok=True)
    if trainer.is_deepspeed_enabled:
        trainer.save_model(str(model_dir))  # stage3_gather_16bit_weights_on_model_save
    elif trainer.is_world_process_zero():
        model = trainer.accelerator.unwrap_model(trainer.model)
        if t.lora:
            model.save_pretrained(str(model_dir.parent / "adapter"))
            model = model.merge_and_unload()
        model.to(dtype).save_pretrained(str(model_dir))
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(model_dir))


# --------------------------------------------------------------------------- generations

def sample_generations(model_dir: str | Path, questions: Sequence[str], *, max_new_tokens: int = 48,
                       repetition_penalty: float = 1.2, threads: int = 0,
                       cache_path: str | Path | None = None) -> list[str]:
    """Greedy answers (repetition penalty 1.2 by default, the reference's) with the saved chat template,
    all questions in one batch (the evaluation's transformers backend, ``threads`` as its; cached in
    ``cache_path`` when given, as every generation)."""

    items = [{"id": str(n), "prompt": q} for n, q in enumerate(questions)]
    out = generation.generate(None, items, backend="transformers", model=str(model_dir),
                              decoding=generation.decoding_for(max_new_tokens, repetition_penalty),
                              batch_size=max(1, len(items)), progress=False, threads=threads,
                              cache_path=cache_path)
    if out.failures:
        raise RuntimeError(f"sample generation with {model_dir} failed: {out.failures[0]['reason']}")
    return [out.results[it["id"]].text for it in items]


# --------------------------------------------------------------------------- teaching helpers

def format_variants(response: str) -> dict[str, str]:
    """The three assistant turns of the reference for one response (think_flag, base_flag)."""
    return {"think_flag=1 (STAR-1)": format_response(response, 1, 0),
            "think_flag=0, base_flag=0 (w/o think, distilled)": format_response(response, 0, 0),
            "think_flag=0, base_flag=1 (instruct model)": format_response(response, 0, 1)}


def mask_view(tokenizer, example: dict, width: int = 6) -> list[dict]:
    """Tokens around the prompt/answer boundary of a (not truncated) example, with their labels."""
    ids, labels = example["input_ids"], example["labels"]
    b = sum(1 for x in labels if x == -100)
    out = []
    for i in range(max(0, b - width), min(len(ids), b + width)):
        # the raw token (byte-level BPE writes a space as "Ġ" and a newline as "Ċ") and its text
        out.append({"position": i, "token": tokenizer.convert_ids_to_tokens(ids[i]),
                    "text": repr(tokenizer.decode([ids[i]])), "in loss": labels[i] != -100})
    return out
