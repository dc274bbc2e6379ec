"""The paper's reported numbers, as cited data (``star1_utils/data/paper/``).

Facts only: every row keeps the source it was read from. Aggregates such as the headline
"+40 points of safety, -1.1 of reasoning" are computed from Table 1 here, never typed in.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

import pandas as pd

from star1_utils import PACKAGE_DIR

DATA = PACKAGE_DIR / "data" / "paper"
SAFETY_BENCHMARKS = ("StrongREJECT", "JBB-Behaviors", "WildChat", "WildJailbreak")
REASONING_BENCHMARKS = ("MMLU-Pro", "AIME2024", "MATH-500", "GPQA-Diamond", "HumanEval")
CITATION = ('Wang et al. 2025, "STAR-1: Safer Alignment of Reasoning LLMs with 1K Data", '
            "arXiv 2504.01903; Table 1 as shown on the project page (ucsc-vlaa.github.io/STAR-1)")


@lru_cache(maxsize=None)
def load(name: str) -> pd.DataFrame:
    """One of the cited CSVs by stem: ``main_results``, ``figure3_gaps``, ``ablations``, ``setup_facts``."""
    return pd.read_csv(DATA / f"{name}.csv")


def table1() -> pd.DataFrame:
    """Table 1 as a wide table: one row per (model_family, variant), one column per benchmark, in
    the paper's order (as in the CSV: 1.5B, 7B, 8B, 14B, 32B; Instruct, R1-Distilled, STAR-1)."""
    df = load("main_results")
    wide = df.pivot_table(index=["model_family", "variant"], columns="benchmark", values="value", aggfunc="first")
    wide.columns.name = None
    order = list(dict.fromkeys(zip(df["model_family"], df["variant"])))  # pivot_table sorts alphabetically
    return wide.reindex(pd.MultiIndex.from_tuples(order, names=wide.index.names))


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


# ---------------------------------------------------------------------------------------------
# Figure 3 and the Table 1 comparison
# ---------------------------------------------------------------------------------------------

#: Table 1's variants, in the paper's order, and the names of its two averages.
VARIANTS = ("Instruct", "R1-Distilled", "STAR-1")
AVG_SAFETY = "Avg_Safety"
AVG_REASONING = "Avg_Reasoning"
#: Figure 3's two comparisons, spelt as in ``figure3_gaps.csv``.
COMPARISONS = ("STAR-1 minus R1-Distilled", "STAR-1 minus Instruct")


def families() -> list[str]:
    """The five base-model families of Table 1, in the paper's order (smallest first)."""
    return list(dict.fromkeys(load("main_results")["model_family"]))


def variant_row(family: str, variant: str) -> pd.Series:
    """One row of Table 1 (benchmarks and the two averages) for a family and variant."""
    return table1().loc[(family, variant)]


def figure3_gains() -> pd.DataFrame:
    """Figure 3 computed from Table 1: STAR-1's average gains per family and comparison.

    Long table with columns ``model_family``, ``comparison``, ``metric`` (``safety_avg_gain`` /
    ``reasoning_avg_gain``) and ``value`` in points, families in the paper's order. These are the
    differences of Table 1's printed averages, not the numbers printed on the figure (those are in
    ``figure3_gaps.csv``; :func:`figure3_cited`).
    """
    wide = table1()
    rows = []
    for fam in families():
        star = wide.loc[(fam, "STAR-1")]
        for comparison in COMPARISONS:
            base = wide.loc[(fam, comparison.split(" minus ")[1])]
            for metric, col in (("safety_avg_gain", AVG_SAFETY), ("reasoning_avg_gain", AVG_REASONING)):
                rows.append({"model_family": fam, "comparison": comparison, "metric": metric,
                             "value": round(float(star[col] - base[col]), 6)})
    return pd.DataFrame(rows)


def figure3_cited() -> pd.DataFrame:
    """The values printed on the paper's gain figure (``figure3_gaps.csv``, with sources)."""
    return load("figure3_gaps")


def mean_gains() -> pd.DataFrame:
    """Mean over the five families of each Figure 3 gain, computed from Table 1.

    Index: comparison; columns: ``safety_avg_gain``, ``reasoning_avg_gain``. The row
    ``STAR-1 minus R1-Distilled`` is the abstract's "+40 safety, -1.1 reasoning".
    """
    g = figure3_gains()
    out = g.pivot_table(index="comparison", columns="metric", values="value", aggfunc="mean")
    out.columns.name = None
    return out.loc[list(COMPARISONS), ["safety_avg_gain", "reasoning_avg_gain"]]


def category_distribution(grouping: str = "safety_category (multi-label)") -> pd.DataFrame:
    """Counts computed from the released STAR-1 file (``category_distribution.csv``, with source)."""
    df = load("category_distribution")
    return df[df["grouping"] == grouping].reset_index(drop=True)


def _model_key(name: str) -> str:
    """``"deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"`` -> ``"deepseek-r1-distill-qwen-1.5b"``."""
    last = str(name).rstrip("/").split("/")[-1].lower()
    for suffix in ("-star1", "_star1"):
        if last.endswith(suffix):
            last = last[: -len(suffix)]
    return last


def identify_model(model: str | None) -> tuple[str | None, str | None]:
    """(family, variant) of a model id or path when it is one of Table 1's models, else (None, None).

    Accepts Hub ids (``UCSC-VLAA/STAR1-R1-Distill-7B``), bare names, and the reference's
    ``<baseline>-STAR1`` names (variant STAR-1). Anything else (a student you trained, a stand-in)
    gives ``(None, None)``.
    """
    if not model:
        return None, None
    key = _model_key(model)
    star_suffix = str(model).rstrip("/").lower().endswith(("-star1", "_star1"))
    df = load("main_results")[["model_family", "model", "variant"]].drop_duplicates()
    for fam, name, variant in df.itertuples(index=False):
        if _model_key(name) == key:
            return fam, ("STAR-1" if star_suffix else variant)
    return None, None


#: Substrings of a model id -> its Table 1 family: the Instruct, R1-distilled and STAR-1 names of
#: each base model, and the reference's lower-case run names (``star1-r1-distill-qwen-1.5b``).
_FAMILY_PATTERNS = (
    (r"qwen[^/]*?1\.5b|star1-r1-distill-1\.5b", "Qwen2.5-1.5B"),
    (r"qwen[^/]*?7b|star1-r1-distill-7b", "Qwen2.5-7B"),
    (r"qwen[^/]*?14b|star1-r1-distill-14b", "Qwen2.5-14B"),
    (r"qwen[^/]*?32b|star1-r1-distill-32b", "Qwen2.5-32B"),
    (r"llama[^/]*?8b|star1-r1-distill-8b", "Llama3.1-8B"),
)


def family_of(model_id: str | None) -> str | None:
    """The Table 1 family a model id belongs to, read from its name, for the ``paper_family`` of
    notebooks 06 and 07's metrics (``deepseek-ai/DeepSeek-R1-Distill-Qwen-7B`` -> ``Qwen2.5-7B``).

    Looser than :func:`identify_model` (any id that names the base model's size matches, which
    suits the base model a profile trains from); ``None`` for a model the paper did not evaluate,
    such as the demo's tiny student or SmolLM2.
    """
    s = (model_id or "").lower()
    for pattern, family in _FAMILY_PATTERNS:
        if re.search(pattern, s):
            return family
    return None


def family_for(model: str | None = None, paper_family: str | None = None) -> str | None:
    """The Table 1 family of a run: its ``paper_family`` when valid, else from the model id."""
    if paper_family:
        want = str(paper_family).lower().replace(" ", "")
        for fam in families():
            if fam.lower().replace(" ", "") == want:
                return fam
        for fam in families():  # "Qwen2.5-1.5B" from "DeepSeek-R1-Distill-Qwen-1.5B" and the like
            size = fam.split("-")[-1].lower()
            if want.endswith(size) and fam.lower().split("-")[0].rstrip("0123456789.")[:4] in want:
                return fam
        fam, _ = identify_model(paper_family)
        if fam:
            return fam
    return identify_model(model)[0]


# ---------------------------------------------------------------------------------------------
# One run beside Table 1 (notebooks 06, 07 and 09)
# ---------------------------------------------------------------------------------------------

#: Table 1's columns for each kind of evaluation: its benchmarks, then their average.
SAFETY_COLUMNS = (*SAFETY_BENCHMARKS, AVG_SAFETY)
REASONING_COLUMNS = (*REASONING_BENCHMARKS, AVG_REASONING)


def table1_rows(family: str, columns: Iterable[str]) -> pd.DataFrame:
    """Table 1's rows for one family, one per variant (Instruct, R1-Distilled, STAR-1, the
    paper's order), restricted to ``columns`` (those the table has, in the order given)."""
    sub = table1().xs(family, level="model_family")
    return sub[[c for c in columns if c in sub.columns]]


def model_of(family: str, variant: str) -> str:
    """The model name Table 1 gives for a family and variant (``DeepSeek-R1-Distill-Qwen-1.5B``)."""
    df = load("main_results")
    return str(df[(df["model_family"] == family) & (df["variant"] == variant)]["model"].iloc[0])


def measured(metrics: dict | None, columns: Iterable[str]) -> dict[str, float | None]:
    """A run's numbers in Table 1's columns, from a 06/07 ``metrics.json`` (or its
    ``final_answer_only`` block): each benchmark's ``value`` and the ``average`` for the column
    that starts with ``Avg``; ``None`` where the run did not measure it."""
    metrics = metrics or {}
    benchmarks = metrics.get("benchmarks") or {}
    return {c: metrics.get("average") if c.startswith("Avg") else (benchmarks.get(c) or {}).get("value")
            for c in columns}


def beside_table1(ours: dict[str, dict], family: str, columns: Iterable[str]) -> pd.DataFrame:
    """This run's rows (label -> values by column, e.g. from :func:`measured`) first, then the
    paper's rows for ``family``, labelled ``paper: <family> <variant>``; Table 1's columns only."""
    paper_rows = table1_rows(family, columns)
    paper_rows.index = [f"paper: {family} {v}" for v in paper_rows.index]
    mine = pd.DataFrame(list(ours.values()), index=list(ours))
    return pd.concat([mine, paper_rows])[list(paper_rows.columns)]
