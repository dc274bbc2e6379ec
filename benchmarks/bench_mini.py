"""The miniature's speed on this machine: training tokens/s beside the machine's matmul peak, and
generation tokens/s one by one beside batched, all in one run.

    .venv/bin/python benchmarks/bench_mini.py [--threads 1] [--train-steps 6] [--prompts 16] [--new-tokens 96]

1. **Peak**: float32 matmul GFLOP/s of this CPU at the given thread count (1024 x 1024, best of 5).
2. **Training**: full fine-tune steps of SmolLM2-135M-Instruct (AdamW, batch 1, the miniature's
   formatting) on released STAR-1 rows; tokens/s, and the achieved GFLOP/s as 6 x parameters x
   tokens / s (forward + backward, the usual estimate), as a share of the peak.
3. **Generation**: the same prompts, greedy with repetition penalty 1.2, through the evaluation's
   transformers backend, one at a time and in one left-padded batch; completion tokens / wall time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def matmul_gflops(n: int = 1024, repeats: int = 5) -> float:
    import torch

    a, b = torch.randn(n, n), torch.randn(n, n)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(4):
            a @ b
        best = min(best, (time.perf_counter() - t) / 4)
    return 2 * n ** 3 / best / 1e9


def train_speed(model_dir: Path, steps: int) -> dict:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from star1_utils.run import config
    from star1_utils.train import sft
    from star1_utils.dataset.release import load_star1_release

    cfg = config.load_profile("mini")
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    rows = sft.release_subset(tok, cfg.training, steps + 1, load_star1_release())
    fmt = sft.formatter_for(tok, cfg.training)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=1e-4)
    n_params = sum(p.numel() for p in model.parameters())
    tokens, seconds = 0, 0.0
    for i, r in enumerate(rows):
        ex = fmt.example(r["question"], r["response"])
        ids = torch.tensor([ex["input_ids"]])
        labels = torch.tensor([ex["labels"]])
        t = time.perf_counter()
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if i:  # the first step warms up allocator and optimizer state
            seconds += time.perf_counter() - t
            tokens += ids.shape[1]
    tps = tokens / seconds
    return {"tokens_per_s": tps, "gflops": 6 * n_params * tps / 1e9, "tokens": tokens, "steps": steps,
            "parameters": n_params}


def generation_speed(model_dir: Path, n_prompts: int, new_tokens: int) -> dict:
    from star1_utils.evaluate import generation
    from star1_utils.evaluate import safety_benchmarks as bench

    items = [{"id": it["id"], "prompt": it["prompt"]}
             for it in bench.evenly_spread(bench.load("strongreject"), n_prompts)]
    dec = generation.decoding_for(max_tokens=new_tokens, repetition_penalty=1.2)
    out = {}
    for label, bs in (("one by one", 1), (f"batched ({n_prompts})", n_prompts)):
        t = time.perf_counter()
        res = generation.generate(None, items, backend="transformers", model=str(model_dir), decoding=dec,
                                  batch_size=bs, progress=False)
        s = time.perf_counter() - t
        toks = sum(r.usage["completion_tokens"] for r in res.results.values())
        out[label] = {"seconds": s, "tokens": toks, "tokens_per_s": toks / s}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
    ap.add_argument("--train-steps", type=int, default=6)
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--new-tokens", type=int, default=96)
    args = ap.parse_args()
    import torch

    from star1_utils.train import smollm

    torch.set_num_threads(args.threads)
    model_dir = smollm.prepare()
    peak = matmul_gflops()
    print(f"machine: {os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} thread(s)")
    print(f"peak    : float32 matmul 1024^3: {peak:.1f} GFLOP/s")
    tr = train_speed(model_dir, args.train_steps)
    print(f"training: SmolLM2-135M full fine-tune, batch 1: {tr['tokens_per_s']:.1f} tokens/s over {tr['tokens']} tokens; "
          f"about {tr['gflops']:.1f} GFLOP/s = {100 * tr['gflops'] / peak:.0f} % of the matmul peak")
    gen = generation_speed(model_dir, args.prompts, args.new_tokens)
    for label, g in gen.items():
        print(f"generate: {label:14} {g['tokens']:5d} tokens in {g['seconds']:6.1f} s = {g['tokens_per_s']:6.1f} tokens/s")
    one, many = gen["one by one"], list(gen.values())[1]
    print(f"batched / one by one: {many['tokens_per_s'] / one['tokens_per_s']:.1f}x")


if __name__ == "__main__":
    main()
