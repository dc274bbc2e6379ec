"""The miniature's speed on this machine, in one run: training tokens/s per core beside the
machine's measured matmul peak, generation tokens/s for each backend at the sizes the miniature
uses, and the whole miniature's seconds per notebook.

    .venv/bin/python benchmarks/bench_mini.py [--train-rows 24] [--prompts 128] [--new-tokens 128]
                                              [--run-dir runs/mini] [--skip-old]

1. **Peak**: float32 matmul GFLOP/s of this CPU (1024 x 1024, best of 5) on 1 thread and on all
   cores' threads: the ceiling every other figure is compared with.
2. **Training**: the miniature's recipe (full fine-tune, fp32, AdamW, batch 1, effective batch 8)
   on ``--train-rows`` released STAR-1 rows through notebook 05's own path
   (``sft.train_on_cpu``), in 1 process and in 2 processes (data parallel, one thread each). Tokens
   per second, per core, and the achieved GFLOP/s per core as 6 x parameters x tokens / s (forward
   and backward, the usual estimate) as a share of the 1-thread peak.
3. **Generation**: ``--prompts`` StrongREJECT prompts, greedy, repetition penalty 1.05, at most
   ``--new-tokens`` new tokens, through each backend: the greedy batch loop
   (``generation.greedy_decode``: the mini profile's ``safety_eval.batch_size`` answers at a time,
   each leaving at its end for the next prompt) on 1 and on 2 threads; ``model.generate`` on
   left-padded batches of 16 (the miniature's earlier backend) on the first 32 prompts
   (``--skip-old`` leaves it out); and ``vllm serve`` (16 requests at a time) when ``make vllm``
   installed it. Completion tokens / wall time, and how many answers equal the loop's.
4. **The miniature**: each notebook's seconds from the manifests of ``--run-dir`` (a finished
   ``make mini``), the benign-mix curve's sub runs inside 08.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops(threads: int, n: int = 1024, repeats: int = 5) -> float:
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, (time.perf_counter() - t) / 4)
    torch.set_num_threads(1)
    return 2 * n ** 3 / best / 1e9


def train_speed(rows: int, processes: int, workdir: Path) -> dict:
    """One short training through notebook 05's path; tokens/s from the Trainer's own runtime."""
    from star1_utils.run import config
    from star1_utils.train import sft

    cfg = config.load_profile("mini", overrides={"training.release_rows": rows,
                                                 "training.run_name": f"bench-{processes}p"})
    data, path = sft.training_rows(cfg, workdir)
    job = sft.prepare_job(cfg, workdir, data_path=path, rows=data)
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # the Trainer's log lines
        summary = sft.train_on_cpu(job, processes, echo=lambda line: None)
    tps = summary["tokens_trained"] / summary["train_runtime_s"]
    return {"processes": processes, "tokens": summary["tokens_trained"], "seconds": summary["train_runtime_s"],
            "tokens_per_s": tps, "loss_last": summary["loss_last"], "updates": summary["updates"]}


def prompts_of(model_dir: Path, n: int) -> list[list[int]]:
    from transformers import AutoTokenizer

    from star1_utils.evaluate import generation
    from star1_utils.evaluate import safety_benchmarks as bench

    tok = AutoTokenizer.from_pretrained(model_dir)
    items = bench.evenly_spread(bench.load("strongreject"), n)
    return [tok(generation.render_prompt(tok, [{"role": "user", "content": it["prompt"]}]),
                add_special_tokens=False)["input_ids"] for it in items], items


def generation_speeds(model_dir: Path, n: int, new_tokens: int, skip_old: bool) -> list[dict]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from star1_utils.evaluate import generation

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    ids, items = prompts_of(model_dir, n)
    ends = generation.end_token_ids(tok, model)
    pad = tok.pad_token_id
    out = []

    def timed(label, fn):
        t = time.perf_counter()
        answers = fn()
        s = time.perf_counter() - t
        toks = sum(len(a) for a in answers)
        out.append({"backend": label, "tokens": toks, "seconds": s, "tokens_per_s": toks / s, "answers": answers})

    from star1_utils.run import config

    size = config.load_profile("mini").safety_eval.batch_size
    for threads in (1, 2):
        torch.set_num_threads(threads)
        timed(f"greedy loop, {size} at a time, {threads} thread(s)",
              lambda: generation.greedy_decode(model, ids, new_tokens, ends, 1.05, pad_id=pad, batch_size=size))
    torch.set_num_threads(1)
    if not skip_old:
        def old():
            answers = []
            for s in range(0, min(32, len(ids)), 16):
                enc, mask = generation.left_padded(ids[s:s + 16], pad)
                width = enc.shape[1]
                with torch.no_grad():
                    g = model.generate(input_ids=enc, attention_mask=mask, max_new_tokens=new_tokens,
                                       do_sample=False, repetition_penalty=1.05, pad_token_id=pad)
                for row in g[:, width:].tolist():
                    stop = next((i for i, t in enumerate(row) if t in ends), None)
                    answers.append(row if stop is None else row[: stop + 1])
            return answers
        timed("model.generate, left-padded batches of 16, 1 thread (32 prompts)", old)
    vllm_python = ROOT / ".venv-vllm" / "bin" / "python"
    if vllm_python.exists():
        out.append(served_speed(model_dir, items, new_tokens))
    else:
        out.append({"backend": "vllm serve (not installed: make vllm)", "tokens": 0, "seconds": 0.0,
                    "tokens_per_s": float("nan"), "answers": None})
    return out


def served_speed(model_dir: Path, items: list[dict], new_tokens: int) -> dict:
    """``vllm serve`` on this CPU through the suite's own backend (16 requests at a time)."""
    from star1_utils.evaluate import generation
    from star1_utils.run import config

    cfg = config.load_profile("mini", overrides={"roles.student.concurrency": 16})
    dec = generation.decoding_for(max_tokens=new_tokens, repetition_penalty=1.05, temperature=0.0)
    t = time.perf_counter()
    res = generation.generate(cfg, [{"id": it["id"], "prompt": it["prompt"]} for it in items], backend="vllm_serve",
                              model=str(model_dir), decoding=dec, progress=False)
    s = time.perf_counter() - t - float((res.server or {}).get("startup_s") or 0)
    toks = res.usage["completion_tokens"]
    return {"backend": "vllm serve, 16 at once (start-up excluded)", "tokens": toks, "seconds": s,
            "tokens_per_s": toks / s, "answers": None}


def notebook_seconds(run_dir: Path) -> list[tuple[str, float]]:
    out = []
    for m in sorted(run_dir.glob("*/manifest.json")):
        data = json.loads(m.read_text())
        out.append((data.get("notebook") or m.parent.name, float(data.get("duration_s") or 0)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train-rows", type=int, default=24, help="released rows per training measurement")
    ap.add_argument("--prompts", type=int, default=128, help="prompts generated (06's 2 x 64)")
    ap.add_argument("--new-tokens", type=int, default=128)
    ap.add_argument("--run-dir", default=str(ROOT / "runs" / "mini"), help="a finished make mini")
    ap.add_argument("--skip-old", action="store_true", help="leave out model.generate (the slowest)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import tempfile

    import torch

    from star1_utils.run import smollm

    model_dir = smollm.prepare()
    cores = os.cpu_count() or 1
    peak1, peak_all = matmul_gflops(1), matmul_gflops(cores)
    params = 134_515_008
    print(f"machine : {cores} CPUs, torch {torch.__version__}")
    print(f"peak    : float32 matmul 1024^3: {peak1:.1f} GFLOP/s on 1 thread, {peak_all:.1f} on {cores}")
    with tempfile.TemporaryDirectory() as tmp:
        for p in (1, 2):
            tr = train_speed(args.train_rows, p, Path(tmp))
            per_core = 6 * params * tr["tokens_per_s"] / p / 1e9
            print(f"training: {p} process(es): {tr['tokens']} tokens in {tr['seconds']:.1f} s = "
                  f"{tr['tokens_per_s']:.1f} tokens/s ({tr['tokens_per_s'] / p:.1f} per core); "
                  f"{per_core:.1f} GFLOP/s per core = {100 * per_core / peak1:.0f} % of the 1-thread peak; "
                  f"last loss {tr['loss_last']:.4f}")
    gens = generation_speeds(model_dir, args.prompts, args.new_tokens, args.skip_old)
    ref = gens[0]["answers"]
    for g in gens:
        same = ("" if g["answers"] is None else
                f"; same answers as the loop: {sum(a == b for a, b in zip(g['answers'], ref))}/{len(g['answers'])}")
        print(f"generate: {g['backend']:<55} {g['tokens']:6d} tokens in {g['seconds']:6.1f} s = "
              f"{g['tokens_per_s']:6.1f} tokens/s{same}")
    run_dir = Path(args.run_dir)
    rows = notebook_seconds(run_dir)
    if rows:
        print(f"miniature ({run_dir}, manifests' duration_s):")
        for name, s in rows:
            print(f"  {name:<32} {s:7.0f} s")
        print(f"  {'total':<32} {sum(s for _, s in rows):7.0f} s")
    else:
        print(f"miniature: no finished run in {run_dir} (make mini)")


if __name__ == "__main__":
    main()
