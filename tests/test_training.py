"""Training: formatting and masking on the released STAR-1, the 39-update schedule, the
tiny student's training, save/reload/resume, the DeepSpeed configs, and a ZeRO-3 smoke run (slow)."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import pytest

from star1_utils.llm import replies
from star1_utils.run import config, layout
from star1_utils.train import sft

ROOT = Path(__file__).resolve().parents[1]
R1_TEMPLATE = None


def _r1_template() -> str:
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "deepseek_r1_distill.jinja").read_text()


class _FakeTok:
    """Just enough of a tokenizer for rendering (Formatter.render/texts)."""

    bos_token = "<｜begin▁of▁sentence｜>"

    def __init__(self, template: str):
        self.chat_template = template


@pytest.fixture(scope="module")
def star1(mirror) -> list[dict]:
    return json.loads((mirror / "star1" / "STAR-1.json").read_text(encoding="utf-8"))


def _cfg(**over):
    base = {"training.learning_rate": 3.0e-3, "training.effective_batch_size": 4, "training.per_device_batch_size": 4,
            "training.max_length": 128, "training.epochs": 2, "training.save_steps": 0, "training.bos": "always",
            "training.sample_prompts": 0}
    base.update({f"training.{k}": v for k, v in over.items()})
    return config.load_profile("demo", overrides=base)


# --------------------------------------------------------------------------- formatting

def test_every_released_row_splits_and_formats(star1):
    assert len(star1) == 1000
    for r in star1:
        thinking, answer, matched = replies.split_training_response(r["response"])
        assert matched and thinking and answer, r["id"]
        assert sft.format_response(r["response"], 1, 0) == f"<think>\n{thinking}\n</think>\n\n{answer}"
        assert sft.format_response(r["response"], 0, 0) == f"<think>\n\n</think>\n\n{answer}"
        assert sft.format_response(r["response"], 0, 1) == answer
        assert "<think>" not in answer and "</think>" not in thinking


def test_split_response_reference_cleaning():
    assert replies.split_training_response("  <think>\n a\\/b \n</think>\n\n x  ") == ("a/b", "x", True)
    assert replies.split_training_response("no think block") == ("", "no think block", False)
    assert sft.format_response("no think block", 1, 0) == "<think>\n\n</think>\n\nno think block"


def test_r1_template_edit_keeps_reasoning_and_bos_quirk(star1):
    tpl = _r1_template()
    assert sft.THINK_STRIP_CLAUSE in tpl
    assert sft.THINK_STRIP_CLAUSE not in sft.training_template(tpl)
    row = star1[0]
    thinking, answer, _ = replies.split_training_response(row["response"])
    f = sft.Formatter(_FakeTok(tpl), add_bos=False)  # reference, Qwen family: no BOS
    query, full = f.texts(row["question"], row["response"])
    assert query == f"<｜User｜>{row['question']}<｜Assistant｜><think>\n"
    assert full == f"<｜User｜>{row['question']}<｜Assistant｜><think>\n{thinking}\n</think>\n\n{answer}<｜end▁of▁sentence｜>"
    assert full.startswith(query)
    f_bos = sft.Formatter(_FakeTok(tpl), add_bos=True)  # Llama family (or bos: always)
    assert f_bos.texts(row["question"], row["response"])[1].startswith("<｜begin▁of▁sentence｜><｜User｜>")
    # the stock template would drop the reasoning from the training text
    import jinja2

    stock = jinja2.Template(tpl).render(messages=[{"role": "user", "content": "q"},
                                                  {"role": "assistant", "content": f"<think>\n{thinking}\n</think>\n\nA"}])
    assert thinking[:40] not in stock


def test_bos_switch():
    assert not sft.uses_bos("reference", "Qwen") and sft.uses_bos("reference", "Llama")
    assert sft.uses_bos("always", "Qwen") and not sft.uses_bos("never", "Llama")
    with pytest.raises(ValueError):
        sft.uses_bos("sometimes", "Qwen")
    t = config.load_profile("full").training
    assert sft.model_family(t) == "Qwen" and not sft.uses_bos(t.bos, "Qwen")
    t2 = t.model_copy(update={"base_model": "deepseek-ai/DeepSeek-R1-Distill-Llama-8B"})
    assert sft.model_family(t2) == "Llama"


@pytest.fixture(scope="module")
def tiny_tok(star1, tmp_path_factory):
    from transformers import AutoTokenizer

    d = sft.build_tiny_student(star1[:50], tmp_path_factory.mktemp("tiny") / "init", vocab_size=600)
    return AutoTokenizer.from_pretrained(d)


def test_tiny_tokenizer_reloads_with_the_model_vocab(tiny_tok):
    assert len(tiny_tok) == 600 and tiny_tok.unk_token == "<|unk|>"
    assert tiny_tok.convert_tokens_to_ids("<think>") < 600


def test_masking_on_released_rows(star1, tiny_tok):
    for flags in ((1, 0), (0, 0), (0, 1)):
        f = sft.Formatter(tiny_tok, think_flag=flags[0], base_flag=flags[1], add_bos=True, max_length=10**9)
        for r in star1[:20]:
            ex = f.example(r["question"], r["response"])
            ids, labels = ex["input_ids"], ex["labels"]
            query, full = f.texts(r["question"], r["response"])
            q_ids = tiny_tok(query, add_special_tokens=False)["input_ids"]
            if flags[0]:  # "<think>\n" then text: the prompt tokens are a prefix
                assert ex["prefix_ok"] and ids[: len(q_ids)] == q_ids
            # otherwise "\n\n" may merge across the boundary; the reference masks by count regardless
            assert labels[: len(q_ids)] == [-100] * len(q_ids)
            assert labels[len(q_ids):] == ids[len(q_ids):]
            assert labels[-1] == tiny_tok.eos_token_id  # the model learns to stop
            trained = tiny_tok.decode([x for x in labels if x != -100])
            assert trained.endswith("<|eos|>") and "<|User|>" not in trained and "<|Assistant|>" not in trained
            if flags[0]:
                assert replies.split_training_response(r["response"])[0][:50] in trained
            elif flags[1]:
                assert "<think>" not in trained


def test_left_truncation_keeps_the_end(star1, tiny_tok):
    f = sft.Formatter(tiny_tok, add_bos=True, max_length=64)
    full = sft.Formatter(tiny_tok, add_bos=True, max_length=10**9)
    r = star1[3]
    a, b = f.example(r["question"], r["response"]), full.example(r["question"], r["response"])
    assert len(a["input_ids"]) == 64 and a["input_ids"] == b["input_ids"][-64:] and a["labels"] == b["labels"][-64:]


# --------------------------------------------------------------------------- schedule

def test_schedule_39_updates_matches_transformers():
    import torch
    from transformers import get_cosine_schedule_with_warmup

    paper = config.TrainingConfig()
    s = sft.schedule_for(paper, 1000)
    assert (s["updates"], s["warmup"], s["sequences"], s["dropped"]) == (39, 1, 4992, 8)
    assert s["lrs"][0] == 0.0 and s["lrs"][1] == pytest.approx(1e-5)
    assert s["lrs"][20] == pytest.approx(1e-5 * 0.5 * (1 + math.cos(math.pi * 19 / 38)))
    assert 0 < s["lrs"][-1] < 2e-8
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-5, betas=(0.9, 0.95))
    sch = get_cosine_schedule_with_warmup(opt, num_warmup_steps=1, num_training_steps=39)
    ref = []
    for _ in range(39):
        ref.append(opt.param_groups[0]["lr"])
        opt.step()
        sch.step()
    assert s["lrs"] == pytest.approx(ref, rel=1e-9, abs=1e-15)
    # the reference's own arithmetic: int(125 * 8 * 5) // 16 // 8
    assert int(1000 * 5) // 16 // 8 == s["updates"]


def test_batch_layout_keeps_effective_batch():
    paper = config.TrainingConfig()
    assert sft.batch_layout(paper, 8) == {"per_device": 1, "grad_accum": 16, "world": 8, "effective": 128}
    assert sft.batch_layout(paper, 2)["grad_accum"] == 64
    assert sft.batch_layout(paper.model_copy(update={"per_device_batch_size": 8}), 1)["grad_accum"] == 16
    with pytest.raises(ValueError):
        sft.batch_layout(paper, 3)


def test_epoch_stream_spans_epochs():
    order = sft.epoch_stream(1000, 5, 4992, 2002)
    assert len(order) == 4992
    for e in range(4):
        assert sorted(order[e * 1000:(e + 1) * 1000]) == list(range(1000))
    assert order[:1000] != order[1000:2000]
    assert order == sft.epoch_stream(1000, 5, 4992, 2002)


def test_reference_decay_groups_and_sequence_loss():
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(Qwen2Config(vocab_size=50, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=1, num_key_value_heads=1, head_dim=64))
    Trainer = sft._trainer_class()
    decay = set(Trainer.get_decay_parameter_names(None, model))
    names = {n for n, _ in model.named_parameters()}
    assert "model.norm.weight" in decay and "model.layers.0.input_layernorm.weight" in decay  # norms decayed
    assert "model.layers.0.self_attn.q_proj.bias" in names - decay  # biases exempt

    class Fake:
        loss_averaging = "sequence"

    ids = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, 9, 0, 0, 0]])
    labels = torch.tensor([[-100, -100, 3, 4, 5, 6], [-100, 8, 9, -100, -100, -100]])
    loss = Trainer.compute_loss(Fake(), model, {"input_ids": ids, "labels": labels.clone(),
                                                "attention_mask": (labels != -100) | (ids > 0)})
    per = []
    for i in range(2):
        out = model(input_ids=ids[i:i + 1], labels=labels[i:i + 1], attention_mask=((labels != -100) | (ids > 0))[i:i + 1])
        per.append(out.loss)
    assert loss.item() == pytest.approx(((per[0] + per[1]) / 2).item(), rel=1e-5)


# --------------------------------------------------------------------------- the tiny student

@pytest.fixture(scope="module")
def trained(star1, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("train_run")
    cfg = _cfg(save_steps=6)
    job = sft.prepare_job(cfg, run_dir, rows=star1[:24])
    t0 = time.time()
    summary = sft.train(job)
    return {"cfg": cfg, "run_dir": run_dir, "job": job, "summary": summary, "seconds": time.time() - t0}


def test_tiny_model_loss_falls(trained):
    s = trained["summary"]
    assert s["updates"] == s["expected_updates"] == 24 * 2 // 4
    log = sft.read_log(trained["run_dir"] / "05_training" / "tiny-star1" / sft.LOG_NAME)
    steps, losses, lrs = sft.loss_curve(log)
    assert steps == list(range(1, 13))
    assert losses[-1] < losses[0] - 0.5
    sched = sft.schedule_for(trained["cfg"].training, 24)
    assert lrs == pytest.approx(sched["lrs"], rel=1e-6, abs=1e-12)  # logged lr of update k = schedule[k-1]


def test_reference_order_trains_its_rows_and_draws_the_cosine_over_the_references_length(trained, tmp_path):
    """data_order reference reaches the Trainer: its dataset is reference_data_order's stream, and the
    Trainer's scheduler runs over ``schedule_updates`` when that is not the number of updates."""
    import torch

    job = json.loads(Path(trained["job"]).read_text())
    t = config.TrainingConfig(**{**job["training"], "data_order": "reference", "warmup_ratio": 0.0})
    batch = sft.batch_layout(t, 1)
    data = sft._training_data(job, t, batch)
    assert data.order == sft.reference_data_order(len(data.rows), t.epochs, batch, t.seed)
    T = data.schedule["updates"]
    data.schedule["schedule_updates"] = T + 3
    args = sft._sft_config({**job, "checkpoint_dir": str(tmp_path)}, t, batch, data.schedule, bf16=False,
                           use_cpu=True, under_accelerate=False)
    trainer = sft._make_trainer(job, t, args, data, torch.float32, tmp_path / "log.jsonl", time.time(), 0)
    trainer.create_optimizer_and_scheduler(num_training_steps=T)
    lrs = []
    for _ in range(T):
        lrs.append(trainer.lr_scheduler.get_last_lr()[0])
        trainer.optimizer.step()
        trainer.lr_scheduler.step()
    assert lrs == pytest.approx(sft.lr_schedule(T, t.learning_rate, 0.0, "cosine", schedule_updates=T + 3)["lrs"])
    assert lrs[-1] > 1e-4 * t.learning_rate  # the cosine has not reached its end


def test_save_reload_and_generate(trained):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    d = layout.final_model_dir(trained["run_dir"], trained["cfg"])
    assert d == trained["run_dir"] / "05_training" / "tiny-star1" / "model"
    model = AutoModelForCausalLM.from_pretrained(d)
    tok = AutoTokenizer.from_pretrained(d)
    assert "{% generation %}" in tok.chat_template
    enc = tok.apply_chat_template([{"role": "user", "content": "Hello?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    with torch.no_grad():
        out = model.generate(**enc, max_new_tokens=5, do_sample=False, pad_token_id=tok.pad_token_id)
    assert out.shape[1] > enc["input_ids"].shape[1]
    assert sft.sample_generations(d, ["Hello?"], max_new_tokens=4)[0]


def test_resume_from_checkpoint(trained):
    ckpts = list((trained["run_dir"] / "05_training" / "tiny-star1" / "checkpoints").glob("checkpoint-*"))
    assert [c.name for c in ckpts] == ["checkpoint-12"]  # save_total_limit 1
    again = sft.train(trained["job"])
    assert again["resumed_from"] and again["resumed_from"].endswith("checkpoint-12")
    assert again["updates"] == 12


def test_lora_option_saves_a_merged_model(star1, tmp_path):
    from transformers import AutoModelForCausalLM

    cfg = _cfg(lora=True, epochs=1, learning_rate=1.0e-2)
    job = sft.prepare_job(cfg, tmp_path, rows=star1[:8])
    s = sft.train(job)
    assert s["updates"] == 2
    d = layout.final_model_dir(tmp_path, cfg)
    assert (d.parent / "adapter" / "adapter_config.json").is_file()
    m = AutoModelForCausalLM.from_pretrained(d)
    assert not any("lora" in n for n, _ in m.named_parameters())


# --------------------------------------------------------------------------- DeepSpeed / accelerate

def resolved_deepspeed_config(ds: dict, *, micro: int, grad_accum: int, world: int, bf16: bool,
                              max_grad_norm: float = 1.0, hidden_size: int = 1536) -> dict:
    """``"auto"`` values filled as the Trainer fills them, for validation with DeepSpeed itself
    (the Trainer resolves them at launch; this test checks the JSON DeepSpeed would get)."""
    out = json.loads(json.dumps(ds))
    fill = {"gradient_accumulation_steps": grad_accum, "gradient_clipping": max_grad_norm,
            "train_micro_batch_size_per_gpu": micro, "train_batch_size": micro * grad_accum * world}
    for k, v in fill.items():
        if out.get(k) == "auto":
            out[k] = v
    out["bf16"] = {"enabled": bool(bf16)}
    out["fp16"] = {"enabled": False}
    z = out["zero_optimization"]
    autos = {"reduce_bucket_size": hidden_size * hidden_size,
             "stage3_prefetch_bucket_size": int(0.9 * hidden_size * hidden_size),
             "stage3_param_persistence_threshold": 10 * hidden_size}
    for k, v in autos.items():
        if z.get(k) == "auto":
            z[k] = v
    return out


def test_deepspeed_config_validates():
    from deepspeed.runtime.config import DeepSpeedConfig
    from transformers.integrations import HfDeepSpeedConfig

    t = config.load_profile("full").training
    ds = sft.deepspeed_config(t)
    assert HfDeepSpeedConfig(json.loads(json.dumps(ds))).is_zero3()
    z = ds["zero_optimization"]
    assert z["offload_optimizer"]["device"] == "cpu" and z["offload_param"]["device"] == "cpu"
    assert z["stage3_gather_16bit_weights_on_model_save"] is True
    lay = sft.batch_layout(t, 1)  # one process here: 1 x 128 accumulation
    resolved = resolved_deepspeed_config(ds, micro=lay["per_device"], grad_accum=lay["grad_accum"],
                                                  world=1, bf16=True, max_grad_norm=t.max_grad_norm)
    c = DeepSpeedConfig(resolved)
    assert c.zero_optimization_stage == 3 and c.train_batch_size == 128 and c.gradient_clipping == 1.0
    assert c.bfloat16_config.enabled
    bad = json.loads(json.dumps(resolved))
    bad["zero_optimization"]["stage"] = 7
    with pytest.raises(Exception):
        DeepSpeedConfig(bad)
    no_off = sft.deepspeed_config(t.model_copy(update={"offload": False}))
    assert "offload_param" not in no_off["zero_optimization"]


def test_accelerate_config_and_launch_command(star1, tmp_path):
    import yaml
    from accelerate.utils import DeepSpeedPlugin

    acc = yaml.safe_load((ROOT / "star1_utils" / "configs" / "accelerate_zero3.yaml").read_text())
    assert acc["distributed_type"] == "DEEPSPEED" and acc["num_processes"] == 8
    assert acc["deepspeed_config"]["zero3_init_flag"] is True and acc["use_cpu"] is False
    cfg = config.load_profile("full", overrides={"training.base_model": "some/model", "training.num_gpus": 4})
    job = sft.prepare_job(cfg, tmp_path, rows=star1[:4])
    cmd = sft.launch_command(job)
    assert cmd[1] == "launch" and cmd[cmd.index("--num_processes") + 1] == "4"
    assert cmd[-4:] == ["-m", "star1_utils.train.run_sft", "--config", str(job.resolve())]
    assert sft.launch_command(job, print_every=5)[-6:] == cmd[-4:] + ["--print-every", "5"]
    written = yaml.safe_load((job.parent / "accelerate.yaml").read_text())
    # with a deepspeed_config_file, accelerate refuses these keys in the YAML
    assert "mixed_precision" not in written and "zero_stage" not in written["deepspeed_config"]
    assert Path(written["deepspeed_config"]["deepspeed_config_file"]).is_file()
    plugin = DeepSpeedPlugin(hf_ds_config=str(job.parent / "deepspeed.json"))
    assert plugin.zero_stage == 3


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2])
def test_zero3_smoke_run_through_accelerate_launch(star1, tmp_path, processes):
    """ZeRO-3 (no offload: no cpu_adam JIT build) on the CPU through accelerate launch, 1 and 2
    processes: without a GPU backend accelerate once counted one process, so DeepSpeed refused the
    batch that the Trainer filled in (``1 != 1 * 1 * 2``)."""
    cfg = _cfg(backend="accelerate", num_gpus=processes, offload=False, run_name="ds-smoke", epochs=1,
               per_device_batch_size=1, gradient_checkpointing=True, save_steps=2, bf16=False)
    job = sft.prepare_job(cfg, tmp_path, rows=star1[:8])
    cmd = sft.launch_command(job, use_cpu=True, main_process_port=29000 + os.getpid() % 1000)
    lines: list[str] = []
    t0 = time.time()
    rc = sft.run_streaming(cmd, echo=lines.append, env={"OMP_NUM_THREADS": "1"})
    wall = time.time() - t0
    assert rc == 0, "\n".join(lines[-60:])
    summary = json.loads(next(l for l in lines if l.startswith("STAR1_TRAIN_SUMMARY ")).split(" ", 1)[1])
    assert summary["updates"] == 2 and summary["layout"] == {"per_device": 1, "grad_accum": 4 // processes,
                                                             "world": processes, "effective": 4}
    d = layout.final_model_dir(tmp_path, cfg)
    from transformers import AutoModelForCausalLM

    assert AutoModelForCausalLM.from_pretrained(d).config.num_hidden_layers == 2
    print(f"ZeRO-3 smoke run: {wall:.1f} s wall")


@pytest.mark.slow
def test_two_cpu_processes_take_the_updates_one_process_takes(star1, tmp_path):
    """training.processes 2 (torchrun, gloo): each process reads half of every update's sequences
    and the gradients are averaged before the step, so the model is the one a single process with
    the whole accumulation trains (float sums in another order: equal to 1e-5)."""
    from safetensors.torch import load_file

    out = {}
    for p in (1, 2):
        cfg = _cfg(run_name=f"p{p}", epochs=1, per_device_batch_size=1)
        job = sft.prepare_job(cfg, tmp_path, rows=star1[:8])
        summary = sft.train_on_cpu(job, p, echo=lambda line: None)
        out[p] = summary, load_file(layout.final_model_dir(tmp_path, cfg) / "model.safetensors")
    (one, w1), (two, w2) = out[1], out[2]
    assert one["layout"]["grad_accum"] == 4 and two["layout"] == {**one["layout"], "grad_accum": 2, "world": 2}
    assert one["updates"] == two["updates"] == 2 and abs(one["loss_last"] - two["loss_last"]) < 1e-4
    assert max(float((w1[k] - w2[k]).abs().max()) for k in w1) < 1e-5


# --------------------------------------------------------------------------- notebook artifacts

@pytest.mark.slow
def test_demo_run_training_artifacts(demo_run):
    cfg = config.load_profile("demo")
    d = layout.final_model_dir(demo_run, cfg)
    assert (d / "config.json").is_file() and (d / "tokenizer_config.json").is_file()
    m = json.loads((demo_run / "05_training" / "manifest.json").read_text())
    assert m["counts"]["updates"] == m["counts"]["expected_updates"] > 0
    assert m["training"]["loss_last"] < m["training"]["loss_first"]


def test_resume_refuses_checkpoints_of_another_job(trained):
    job = json.loads(trained["job"].read_text())
    job["training"]["learning_rate"] = 1.0e-4
    other = trained["job"].parent / "job_other.json"
    other.write_text(json.dumps(job))
    with pytest.raises(RuntimeError, match="different training job"):
        sft.train(other)


def test_load_rows_reads_released_json_and_jsonl(mirror, tmp_path):
    rows = sft.load_rows(mirror / "star1" / "STAR-1.json")
    assert len(rows) == 1000
    p = tmp_path / "x.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in rows[:3]) + "\n")
    assert sft.load_rows(p) == rows[:3]
    p.write_text(json.dumps({"question": "q"}) + "\n")
    with pytest.raises(ValueError, match="response"):
        sft.load_rows(p)


def _reference_updates(n_rows: int, epochs: int, per_device: int, world: int, accum: int, seed: int):
    """The reference's loop (train/sft.py:194-261) on row indices: its DataLoader, sharded by
    accelerate's own ``prepare_data_loader`` for each of ``world`` processes (each seeded by
    ``set_seed``, as every rank is, :323), read epoch by epoch; an update takes ``accum``
    micro-steps of every process (``(global_step + 1) % accum``, never reset between epochs)."""
    import torch
    from accelerate.data_loader import prepare_data_loader
    from torch.utils.data import DataLoader

    loaders, n_batches = [], n_rows // per_device  # len(train_dataloader) before prepare (:196)
    for p in range(world):
        torch.manual_seed(seed)  # transformers.set_seed on every rank
        dl = DataLoader(list(range(n_rows)), batch_size=per_device, shuffle=True, drop_last=True,
                        collate_fn=list)
        loaders.append(prepare_data_loader(dl, num_processes=world, process_index=p, put_on_device=False)
                       if world > 1 else dl)
    if world == 1:
        torch.manual_seed(seed)
    updates, window, step = [], [], 0
    for _ in range(epochs):
        per_process = [list(dl) for dl in loaders]  # each rank reads its shard of the epoch
        for micro in zip(*per_process):
            window += [i for batch in micro for i in batch]
            if (step + 1) % accum == 0:
                updates.append(window)
                window = []
            step += 1
    n_schedule = int(n_batches * epochs) // accum // world
    return updates, n_schedule


@pytest.mark.parametrize("n_rows,epochs,per_device,world,accum",
                         [(40, 3, 1, 1, 8), (37, 5, 2, 1, 3), (45, 4, 1, 4, 2), (50, 3, 2, 3, 2), (31, 6, 1, 8, 2)])
def test_reference_data_order_matches_the_references_dataloader_under_accelerate(n_rows, epochs, per_device,
                                                                                 world, accum):
    """training.data_order reference: every optimizer update gets the rows the reference's gets,
    epoch-end leftovers roll into the next update, and the cosine is drawn over the reference's T."""
    eff = per_device * world * accum
    tcfg = config.TrainingConfig(data_order="reference", epochs=epochs, per_device_batch_size=per_device,
                                 effective_batch_size=eff, num_gpus=world, seed=2002)
    want, n_schedule = _reference_updates(n_rows, epochs, per_device, world, accum, 2002)
    batch = sft.batch_layout(tcfg, world)
    order = sft.reference_data_order(n_rows, epochs, batch, 2002)
    got = [order[u * eff:(u + 1) * eff] for u in range(len(order) // eff)]
    assert got == want and len(want) >= 1
    s = sft.schedule_for(tcfg, n_rows, world)
    assert s["updates"] == len(want) and s["schedule_updates"] == n_schedule
    assert sft.epoch_stream(n_rows, epochs, s["sequences"], 2002) != order  # the two switch values differ


def test_reference_schedule_drawn_over_the_references_length():
    """31 rows on 8 processes with accumulation 16: 3 micro-steps an epoch, 15 in 5 epochs, so the
    reference takes no update, while its arithmetic draws the cosine over 1 (train/sft.py:196)."""
    tcfg = config.TrainingConfig(data_order="reference", epochs=5, num_gpus=8)
    s = sft.schedule_for(tcfg, 31, 8)
    assert (s["updates"], s["schedule_updates"]) == (0, 1)
    s = sft.schedule_for(tcfg, 1000, 8)
    assert (s["updates"], s["schedule_updates"], s["sequences"], s["dropped"]) == (39, 39, 4992, 8)
    lrs = sft.lr_schedule(3, 1e-5, 0.0, "cosine", schedule_updates=2)["lrs"]
    assert lrs[0] == pytest.approx(1e-5) and lrs[1] == pytest.approx(5e-6) and lrs[2] == 0.0
