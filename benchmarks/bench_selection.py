"""Benchmark: the diversity selection of STAR-1 (target: 1,000 from 41K in <= 5 s).

Synthetic scored rows with the skew of the real data (the 18 sources weighted like the released
STAR-1's composition, Illicit-heavy categories, 70 % single-label / 28 % two labels / rare 3-4).
The fast :func:`star1_utils.dataset.selection.select_diverse` runs at 41K; the direct port of the
reference loop runs beside it at a size where it finishes (default 4K), and both selections are
compared id by id.

    .venv/bin/python benchmarks/bench_selection.py [--n 41000] [--port-n 4000] [--target 1000]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from star1_utils.dataset.policies import CATEGORIES  # noqa: E402
from star1_utils.dataset.selection import reference_select_diverse, select_diverse  # noqa: E402

# Source weights: the released STAR-1's composition plus a floor, so that
# small sources still appear at 41K.
SOURCES = {"SaladBench": 298, "wildjailbreak": 261, "ALERT": 139, "PKUSafeRLHF": 94, "BeaverTails": 67,
           "SafetyInstructions": 37, "HarmBench": 31, "AttaQ": 24, "UltraSafety": 19, "HExPHI": 16,
           "SimpleSafetyTests": 4, "MaliciousInstructions": 2, "GPTFuzz": 2, "HarmfulQA": 2,
           "MaliciousInstruct": 1, "QHarm": 1, "TDCRedTeaming": 1, "HarmfulQ": 1}
CATEGORY_WEIGHTS = dict(zip(CATEGORIES, (165, 52, 93, 85, 381, 152, 229, 159)))
WIDTHS = {1: 700, 2: 285, 3: 14, 4: 1}


def synthetic(n: int, seed: int = 0) -> list[dict]:
    r = random.Random(seed)
    srcs, sw = list(SOURCES), [v + 2 for v in SOURCES.values()]
    cats, cw = list(CATEGORY_WEIGHTS), list(CATEGORY_WEIGHTS.values())
    rows = []
    for i in range(n):
        width = r.choices(list(WIDTHS), list(WIDTHS.values()))[0]
        labels: list[str] = []
        while len(labels) < width:
            c = r.choices(cats, cw)[0]
            if c not in labels:
                labels.append(c)
        rows.append({"id": str(i), "source": r.choices(srcs, sw)[0], "category": labels,
                     "score": {"Content_Safety_Compliance": 10, "Relevancy_and_No_Redundant_Content": 10,
                               "Accuracy_of_Thinking_Process": 10}})
    return rows


def timed(fn, *args):
    t0 = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=41000)
    ap.add_argument("--port-n", type=int, default=4000)
    ap.add_argument("--target", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    big = synthetic(args.n, args.seed)
    groups = len({(r["source"], tuple(r["category"])) for r in big})
    fast_big, t_big = timed(select_diverse, big, args.target)
    small = synthetic(args.port_n, args.seed + 1)
    fast_small, t_fast_small = timed(select_diverse, small, args.target)
    ref_small, t_ref_small = timed(reference_select_diverse, small, args.target)
    same = [r["id"] for r in fast_small] == [r["id"] for r in ref_small]

    print(f"{'rows':>7} {'groups':>7} {'select_diverse':>15} {'reference port':>15}  identical")
    print(f"{args.port_n:>7} {len({(r['source'], tuple(r['category'])) for r in small}):>7} "
          f"{t_fast_small:>13.3f} s {t_ref_small:>13.3f} s  {same}")
    print(f"{args.n:>7} {groups:>7} {t_big:>13.3f} s {'(not run)':>15}")
    print(f"target <= 5 s at {args.n} rows: {'met' if t_big <= 5 else 'MISSED'} ({t_big:.2f} s); "
          f"speed-up at {args.port_n}: {t_ref_small / max(t_fast_small, 1e-9):.0f}x")
    assert len(fast_big) == args.target and same
    return 0 if t_big <= 5 and same else 1


if __name__ == "__main__":
    raise SystemExit(main())
