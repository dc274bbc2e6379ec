"""Benchmark of the offline judges' build: seconds per step on this machine, against the 15-minute
budget, and every judge's leave-one-source-out agreement with human labels.

Builds both judges from scratch into a temporary folder (never the cache), as the first miniature run
does, and prints the machine (cores, threads), each step's seconds, the share of the budget used,
and the tables notebooks 06 and 08 show.

    STAR1_DATA_MIRROR=../shared .venv/bin/python benchmarks/bench_judges.py [--per-source 0] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BUDGET_S = 15 * 60


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-source", type=int, default=0, help="rows per public source; 0 = all (the served judges)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="torch threads for the encoder")
    args = ap.parse_args()
    import pandas as pd
    import torch

    from star1_utils.evaluate import judge_models

    torch.set_num_threads(args.threads)
    print(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '(unset)')}")
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        folder = judge_models.build(Path(tmp) / "judges", per_source=args.per_source)
        wall = time.perf_counter() - t
        card = json.loads((folder / "card.json").read_text())
    print(f"\nbuild: {wall:.1f} s wall ({100 * wall / BUDGET_S:.0f} % of the {BUDGET_S // 60}-minute budget); "
          f"steps: {card['timings']}")
    pd.set_option("display.width", 160)
    for task in ("harm", "refusal"):
        print(f"\n{task}: balanced accuracy, leave one source out (served: {card[task + '_learner']})")
        print(pd.DataFrame(judge_models.loso_table(card, task)).to_string(index=False))
        print(f"{task}: Cohen's kappa")
        print(pd.DataFrame(judge_models.loso_table(card, task, "kappa")).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
