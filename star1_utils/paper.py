"""The paper's reported numbers, as cited data (``star1_utils/data/paper/``).

Facts only: every row keeps the source it was read from. Aggregates such as the headline
"+40 points of safety, -1.1 of reasoning" are computed from Table 1 here, never typed in.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd

DATA = Path(__file__).resolve().parent / "data" / "paper"
SAFETY_BENCHMARKS = ("StrongREJECT", "JBB-Behaviors", "WildChat", "WildJailbreak")
REASONING_BENCHMARKS = ("MMLU-Pro", "AIME2024", "MATH-500", "GPQA-Diamond", "HumanEval")
CITATION = ('Wang et al. 2025, "STAR-1: Safer Alignment of Reasoning LLMs with 1K Data", '
            "arXiv 2504.01903; Table 1 as shown on the project page (ucsc-vlaa.github.io/STAR-1)")


@lru_cache(maxsize=None)
def load(name: str) -> pd.DataFrame:
    """One of the cited CSVs by stem: ``main_results``, ``figure3_gaps``, ``ablations``, ``setup_facts``."""
    return pd.read_csv(DATA / f"{name}.csv")


def table1() -> pd.DataFrame:
    """Table 1 as a wide table: one row per (model_family, variant), one column per benchmark."""
    df = load("main_results")
    wide = df.pivot_table(index=["model_family", "variant"], columns="benchmark", values="value", aggfunc="first")
    wide.columns.name = None
    return wide


def headline_gains() -> dict[str, float]:
    """Mean over the five base models of STAR-1's average gains over R1-Distilled, from Table 1."""
    wide = table1()
    avg_cols = [c for c in wide.columns if c.lower().startswith("avg")]
    safety_col = next(c for c in avg_cols if "safe" in c.lower())
    reason_col = next(c for c in avg_cols if "reason" in c.lower())
    star = wide.xs("STAR-1", level="variant")
    distill = wide.xs("R1 Distilled", level="variant") if "R1 Distilled" in wide.index.get_level_values(1) \
        else wide.xs("R1-Distilled", level="variant")
    return {
        "safety_gain_vs_r1_distilled": float((star[safety_col] - distill[safety_col]).mean()),
        "reasoning_gain_vs_r1_distilled": float((star[reason_col] - distill[reason_col]).mean()),
        "n_models": int(len(star)),
    }
