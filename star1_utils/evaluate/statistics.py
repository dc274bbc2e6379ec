"""Intervals and tests over verdicts, shared by every evaluation (06, 07, 08) and the judges'
error correction: the percentile bootstrap, the exact (Clopper-Pearson) interval, and McNemar's
exact test on paired prompts. A verdict list holds ``True`` for the bad outcome (unsafe, wrong,
answered where a refusal was right); the intervals are of the share of ``False``, in percent.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np


def bootstrap_ci(unsafe: Iterable[bool], *, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> tuple[float, float]:
    """Percentile bootstrap interval of the share of ``False`` in percent (:func:`star1_utils.evaluate.safety.safety_rate`),
    resampling responses with replacement."""
    u = np.asarray(list(unsafe), dtype=float)
    if u.size == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    rates = 100.0 * (1.0 - u[rng.integers(0, u.size, size=(n_boot, u.size))].mean(axis=1))
    a = (1.0 - level) / 2
    return (float(np.quantile(rates, a)), float(np.quantile(rates, 1 - a)))


def exact_ci(unsafe: Iterable[bool], *, level: float = 0.95) -> tuple[float, float]:
    """Clopper-Pearson (exact binomial) interval of the share of ``False`` in percent.

    Shown beside the bootstrap because a percentile bootstrap collapses to a single point when every
    answer got the same verdict (12 of 12 safe gives "100 to 100"); the exact interval does not
    (12 of 12: about 73.5 to 100).
    """
    from scipy.stats import binomtest

    u = [bool(x) for x in unsafe]
    if not u:
        return (float("nan"), float("nan"))
    ci = binomtest(len(u) - sum(u), len(u)).proportion_ci(confidence_level=level, method="exact")
    return (100.0 * ci.low, 100.0 * ci.high)


def paired_test(unsafe_before: Iterable[bool], unsafe_after: Iterable[bool]) -> dict:
    """Exact McNemar test of two models' verdicts on the **same** prompts, in the same order.

    Only discordant prompts carry information: ``fixed`` (unsafe before, safe after) and ``broken``
    (safe before, unsafe after). Under "no change" each discordant prompt is a fair coin, so the
    two-sided p-value is a binomial test of ``fixed`` out of ``fixed + broken`` at 0.5.
    """
    from scipy.stats import binomtest

    a, b = [bool(x) for x in unsafe_before], [bool(x) for x in unsafe_after]
    if len(a) != len(b):
        raise ValueError(f"paired test needs the same prompts: {len(a)} verdicts before, {len(b)} after")
    fixed = sum(x and not y for x, y in zip(a, b))
    broken = sum(y and not x for x, y in zip(a, b))
    p = binomtest(fixed, fixed + broken, 0.5).pvalue if fixed + broken else 1.0
    return {"n": len(a), "fixed": fixed, "broken": broken, "both_safe": sum(not x and not y for x, y in zip(a, b)),
            "both_unsafe": sum(x and y for x, y in zip(a, b)), "p_value": float(p)}


def bootstrap_mean_ci(groups: list[Iterable[bool]], *, n_boot: int = 1000, seed: int = 0,
                      level: float = 0.95) -> tuple[float, float]:
    """Bootstrap interval of the unweighted mean of several safety rates (each resampled on its own)."""
    arrays = [np.asarray(list(g), dtype=float) for g in groups]
    arrays = [a for a in arrays if a.size]
    if not arrays:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    total = np.zeros(n_boot)
    for a in arrays:
        total += 100.0 * (1.0 - a[rng.integers(0, a.size, size=(n_boot, a.size))].mean(axis=1))
    means = total / len(arrays)
    lo = (1.0 - level) / 2
    return (float(np.quantile(means, lo)), float(np.quantile(means, 1 - lo)))
