"""Throughput of the LLM engine against a local OpenAI-compatible server with fixed latency.

Serves the stand-in app on 127.0.0.1 with 0.5 s added to every request (``python -m
star1_utils.demo.app serve --latency 0.5``) and sends 2,000 requests at concurrency 64 through
``llm.run_batch`` (no cache). Prints the wall time, its ratio to the ideal 2000 * 0.5 / 64 s
(target <= 1.25) and, beside it, the time the reference's sequential loop would take (2000 * 0.5 s).

    .venv/bin/python benchmarks/bench_llm_throughput.py [--n 2000] [--concurrency 64] [--latency 0.5]
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.5)
    args = ap.parse_args()

    from star1_utils.llm import engine
    from star1_utils.run.config import RoleConfig

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "star1_utils.demo.app", "serve", "--port", str(port),
                               "--latency", str(args.latency)], cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "/v1/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        rc = RoleConfig(base_url=url + "/v1", model="standin-echo", concurrency=args.concurrency, timeout_s=30)
        items = [{"id": i, "q": f"request {i}"} for i in range(args.n)]
        t0 = time.perf_counter()
        out = engine.run_batch(rc, "bench", items, build_messages=lambda it: [{"role": "user", "content": it["q"]}],
                            cache_path=None, progress=False)
        wall = time.perf_counter() - t0
    finally:
        server.kill()
        server.wait()
    ideal = args.n * args.latency / args.concurrency
    sequential = args.n * args.latency
    ratio = wall / ideal
    print(f"requests            : {args.n} at concurrency {args.concurrency}, {args.latency} s latency each")
    print(f"answered / failed   : {len(out.results)} / {len(out.failures)}")
    print(f"wall time           : {wall:.2f} s")
    print(f"ideal               : {ideal:.2f} s")
    print(f"ratio to ideal      : {ratio:.3f}  (target <= 1.25)   "
          f"reference sequential loop: {sequential:.0f} s ({sequential / 60:.1f} min), {sequential / wall:.0f}x slower")
    return 0 if ratio <= 1.25 and not out.failures else 1


if __name__ == "__main__":
    raise SystemExit(main())
