"""vllm serve on this machine beside transformers: start-up time and tokens/s at concurrency 1 and 16.

    .venv/bin/python benchmarks/bench_vllm_serve.py [--model DIR] [--tokens 128] [--prompts 16]

Serves the miniature's SmolLM2-135M-Instruct (float32, eager, greedy) from the serving environment
`make vllm` builds, sends one request, then all prompts at once, and prints completion tokens per
second of wall time; then generates the same prompts with the transformers backend in this process
(batched, left padding) and prints the ratio and whether the answers are identical.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from star1_utils.evaluate import generation, serving  # noqa: E402
from star1_utils.evaluate.safety_benchmarks import load_xstest  # noqa: E402
from star1_utils.run.config import load_profile  # noqa: E402
from star1_utils.run import smollm  # noqa: E402


def chat(base_url: str, model: str, prompt: str, tokens: int) -> tuple[str, int]:
    body = json.dumps({"model": model, "messages": [{"role": "user", "content": prompt}],
                       "max_tokens": tokens, "temperature": 0, "ignore_eos": True}).encode()
    req = urllib.request.Request(f"{base_url}/chat/completions", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        reply = json.loads(r.read())
    return reply["choices"][0]["message"]["content"], reply["usage"]["completion_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="", help="model folder (default: the converted SmolLM2-135M-Instruct)")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--prompts", type=int, default=16)
    args = ap.parse_args()
    model = args.model or str(smollm.prepare())
    prompts = [it["question"] for it in load_xstest("safe", limit=args.prompts)]
    with tempfile.TemporaryDirectory() as state:
        with serving.serve(model, state) as server:
            print(f"vllm serve start-up: {server.startup_s:.1f} s (until /v1/models answers)")
            t0 = time.time()
            _, n = chat(server.base_url, server.model_id, prompts[0], args.tokens)
            one = n / (time.time() - t0)
            t0 = time.time()
            with ThreadPoolExecutor(len(prompts)) as pool:
                outs = list(pool.map(lambda p: chat(server.base_url, server.model_id, p, args.tokens), prompts))
            many = sum(n for _, n in outs) / (time.time() - t0)
    print(f"vllm serve, concurrency 1 : {one:6.1f} completion tokens/s")
    print(f"vllm serve, concurrency {len(prompts)}: {many:6.1f} completion tokens/s")
    cfg = load_profile("mini")
    items = [{"id": str(i), "prompt": p} for i, p in enumerate(prompts)]
    t0 = time.time()
    local = generation.generate(cfg, items, backend="transformers", model=model, progress=False,
                                decoding=generation.decoding_for(max_tokens=args.tokens), batch_size=len(prompts))
    seconds = time.time() - t0
    local_tokens = local.usage.get("completion_tokens") or 0
    rate = local_tokens / seconds if seconds else 0.0
    print(f"transformers batched ({len(prompts)}, this process, load included): {rate:6.1f} completion tokens/s")
    print(f"ratio vllm serve / transformers at concurrency {len(prompts)}: {many / rate:.2f}" if rate else "")


if __name__ == "__main__":
    main()
