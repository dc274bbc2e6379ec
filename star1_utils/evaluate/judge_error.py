"""A judged rate, corrected for the judge's measured error (notebooks 06 and 08).

A judge that calls a truly safe answer unsafe one time in five lowers every safety rate it reports;
a rate is only as good as the judge that produced it. With the judge's **sensitivity** (share of
truly positive answers it calls positive) and **specificity** (share of truly negative answers it
calls negative), measured on human-labelled answers of the same kind, the true share ``p`` behind
an observed share ``q`` follows from ``q = p * sens + (1 - p) * (1 - spec)``, so

    p = (q + spec - 1) / (sens + spec - 1)        (Rogan and Gladen, 1978)

clipped to [0, 1]. Its uncertainty has two sources: the judged sample (which prompts were asked)
and the labelled sample (how well sensitivity and specificity are known). :func:`corrected_rate`
draws **both** (each share from its Jeffreys posterior, a smoothed bootstrap that does not collapse
at 0 of n or n of n), so a judge measured on few labels gives wide intervals, as it should. When ``sens + spec <= 1`` the judge is no better than a coin and no correction exists
(``nan``).

The positive class is the event a rate counts: *safe* for a safety rate, *refused* for over-refusal.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from star1_utils.evaluate.statistics import exact_ci


def rogan_gladen(observed: float, sensitivity: float, specificity: float) -> float:
    """The true share behind an ``observed`` share (all in [0, 1]); ``nan`` when ``sens + spec <= 1``."""
    denom = sensitivity + specificity - 1.0
    if not denom > 0 or observed != observed:
        return float("nan")
    return min(1.0, max(0.0, (observed + specificity - 1.0) / denom))


def error_rates(pairs: Sequence[tuple[int, int]]) -> dict:
    """``{"sensitivity", "specificity", "n_positive", "n_negative"}`` from ``(truth, judged)`` 0/1 pairs."""
    pos = [j for t, j in pairs if t == 1]
    neg = [j for t, j in pairs if t == 0]
    return {"sensitivity": sum(pos) / len(pos) if pos else float("nan"),
            "specificity": (len(neg) - sum(neg)) / len(neg) if neg else float("nan"),
            "n_positive": len(pos), "n_negative": len(neg)}


#: Below this share of usable draws (the rest have ``sens + spec <= 1``) a corrected interval is not
#: given: it would be a truncated posterior that looks precise.
MIN_USABLE_SHARE = 0.9


def _posterior_draws(k: int, n: int, rng: np.random.Generator, samples: int) -> np.ndarray:
    """Draws of a share seen as ``k`` of ``n``: Beta(k + 1/2, n - k + 1/2) (Jeffreys' prior).

    Used instead of resampling the 0/1 readings because a percentile bootstrap collapses to a
    point when ``k`` is 0 or ``n`` (a judge that never missed on 23 labelled answers is not known to
    be perfect; all 16 answers judged safe does not prove a rate of 100 %)."""
    return rng.beta(k + 0.5, n - k + 0.5, size=samples)


def corrected_rate(judged: Sequence[int], validation: Sequence[tuple[int, int]], *, samples: int = 2000,
                   seed: int = 0) -> dict:
    """A judged rate beside its correction for the judge's error, in percent.

    judged: the judge's 0/1 readings of this run's answers (1 = the event the rate counts).
    validation: ``(truth, judged)`` 0/1 pairs on human-labelled answers of the same kind.
    Returns ``n``, ``judged`` (% positive) with its exact 95% interval (``judged_ci95``),
    ``corrected`` (Rogan-Gladen) with a 95% interval (``corrected_ci95``) that carries the
    uncertainty of all three shares (the judged share, sensitivity, specificity: each drawn from
    its Jeffreys posterior, :func:`_posterior_draws`), the judge's ``sensitivity`` /
    ``specificity`` and their sample sizes. Draws in which the judge is no better than a coin are
    left out; ``usable_share`` says how many remained, and below :data:`MIN_USABLE_SHARE` (or with
    no point estimate) the interval is ``nan``: the judge is too close to a coin to correct with.
    """
    judged = np.asarray(judged, dtype=int)
    pairs = np.asarray(list(validation), dtype=int).reshape(-1, 2)
    n = len(judged)
    rates = error_rates([tuple(p) for p in pairs])
    k = int(judged.sum())
    q = k / n if n else float("nan")
    point = rogan_gladen(q, rates["sensitivity"], rates["specificity"])
    # the exact (Clopper-Pearson) interval, from its one home (it reads 0/1 as unsafe flags)
    lo, hi = (v / 100.0 for v in exact_ci([not x for x in judged.tolist()])) if n else (math.nan, math.nan)
    boots = np.array([])
    if n and rates["n_positive"] and rates["n_negative"]:
        rng = np.random.default_rng(seed)
        tp = int(round(rates["sensitivity"] * rates["n_positive"]))
        tn = int(round(rates["specificity"] * rates["n_negative"]))
        qb = _posterior_draws(k, n, rng, samples)
        sens = _posterior_draws(tp, rates["n_positive"], rng, samples)
        spec = _posterior_draws(tn, rates["n_negative"], rng, samples)
        denom = sens + spec - 1.0
        ok = denom > 0
        boots = np.clip((qb[ok] + spec[ok] - 1.0) / denom[ok], 0.0, 1.0)
    usable = boots.size / samples if samples else 0.0
    ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))) \
        if boots.size and usable >= MIN_USABLE_SHARE and point == point else (math.nan, math.nan)
    pct = lambda v: round(100.0 * v, 1) if v == v else float("nan")  # noqa: E731
    return {"n": n, "judged": pct(q), "judged_ci95": [pct(lo), pct(hi)],
            "corrected": pct(point), "corrected_ci95": [pct(ci[0]), pct(ci[1])],
            "sensitivity": rates["sensitivity"], "specificity": rates["specificity"],
            "n_validation_positive": rates["n_positive"], "n_validation_negative": rates["n_negative"],
            "usable_share": round(usable, 3)}


def fmt(rate: dict) -> str:
    """``"judged 81.2 (54.4-96.0), corrected 70.3 (38.1-95.2)"``: one rate in one line."""
    j, c = rate["judged_ci95"], rate["corrected_ci95"]
    return (f"judged {rate['judged']:.1f} ({j[0]:.1f}-{j[1]:.1f}), "
            f"corrected {rate['corrected']:.1f} ({c[0]:.1f}-{c[1]:.1f})")


def corrected_difference(before: Sequence[int], after: Sequence[int], validation: Sequence[tuple[int, int]], *,
                         samples: int = 2000, seed: int = 0) -> dict:
    """The change of a rate between two models judged on the **same** prompts, judged and corrected.

    before / after: 0/1 readings (1 = the event) of the same prompts in the same order. Intervals
    come from draws of the four paired cells (both 0, 0 -> 1, 1 -> 0, both 1) from their Dirichlet
    posterior (counts + 1/2: a paired Bayesian bootstrap that does not collapse when every prompt
    changed the same way), and, for the correction, of sensitivity and specificity as in
    :func:`corrected_rate`: one draw of the judge's error corrects both rates, since the same judge
    read both models. Returns ``judged`` and ``corrected`` differences in points (after - before).
    """
    a, b = np.asarray(before, dtype=int), np.asarray(after, dtype=int)
    if len(a) != len(b):
        raise ValueError(f"a paired difference needs the same prompts: {len(a)} before, {len(b)} after")
    pairs = np.asarray(list(validation), dtype=int).reshape(-1, 2)
    n = len(a)
    rates = error_rates([tuple(p) for p in pairs])
    pct = lambda v: round(100.0 * v, 1) if v == v else float("nan")  # noqa: E731
    ci = lambda xs: [pct(float(np.percentile(xs, 2.5))), pct(float(np.percentile(xs, 97.5)))] if len(xs) \
        else [float("nan"), float("nan")]  # noqa: E731
    if not n:
        return {"n": 0, "judged": float("nan"), "judged_ci95": ci([]), "corrected": float("nan"),
                "corrected_ci95": ci([])}
    sens0, spec0 = rates["sensitivity"], rates["specificity"]
    point = rogan_gladen(float(b.mean()), sens0, spec0) - rogan_gladen(float(a.mean()), sens0, spec0)
    rng = np.random.default_rng(seed)
    cells = np.array([((a == x) & (b == y)).sum() for x in (0, 1) for y in (0, 1)], dtype=float)  # 00 01 10 11
    p = rng.dirichlet(cells + 0.5, size=samples)
    qa, qb = p[:, 2] + p[:, 3], p[:, 1] + p[:, 3]
    judged_boot = qb - qa
    corr_boot = np.array([])
    usable = 0.0
    if rates["n_positive"] and rates["n_negative"]:
        tp = int(round(sens0 * rates["n_positive"]))
        tn = int(round(spec0 * rates["n_negative"]))
        sens = _posterior_draws(tp, rates["n_positive"], rng, samples)
        spec = _posterior_draws(tn, rates["n_negative"], rng, samples)
        denom = sens + spec - 1.0
        ok = denom > 0
        fix = lambda q: np.clip((q[ok] + spec[ok] - 1.0) / denom[ok], 0.0, 1.0)  # noqa: E731
        corr_boot = fix(qb) - fix(qa)
        usable = float(ok.mean())
    shown = corr_boot if usable >= MIN_USABLE_SHARE and point == point else np.array([])
    return {"n": n, "judged": pct(float(b.mean() - a.mean())), "judged_ci95": ci(judged_boot),
            "corrected": pct(point), "corrected_ci95": ci(shown), "usable_share": round(usable, 3)}


def table(groups: dict[str, Sequence[int]], validation: Sequence[tuple[int, int]], *, samples: int = 2000,
          seed: int = 0, judge: str = "") -> list[dict]:
    """One row per group (a benchmark, a model, an XSTest set) of 0/1 readings: the judged rate and
    the corrected one with their intervals (:func:`corrected_rate`), for display and metrics files."""
    out = []
    for name, readings in groups.items():
        r = corrected_rate(readings, validation, samples=samples, seed=seed)
        out.append({"judge": judge, "group": name, "n": r["n"], "judged %": r["judged"],
                    "judged 95% CI": r["judged_ci95"], "corrected %": r["corrected"],
                    "corrected 95% CI": r["corrected_ci95"],
                    "judge sensitivity": r["sensitivity"] if r["sensitivity"] == r["sensitivity"] else None,
                    "judge specificity": r["specificity"] if r["specificity"] == r["specificity"] else None,
                    "labelled (pos/neg)": f"{r['n_validation_positive']}/{r['n_validation_negative']}",
                    "usable draws": r["usable_share"]})
    return out


def in_words(change: dict, what: str, judge: str) -> str:
    """One sentence on what a :func:`corrected_difference` means for a before/after claim."""
    lo, hi = change["corrected_ci95"]
    head = f"{what}, by {judge}: judged {change['judged']:+.1f} points"
    if change["corrected"] != change["corrected"] or lo != lo:
        return (f"{head}; this judge is no better than a coin on the labelled answers (or they lack a "
                "class), so the change it reports cannot be corrected and says little")
    head += f", corrected {change['corrected']:+.1f} (95% {lo:+.1f} to {hi:+.1f})"
    if lo > 0:
        return f"{head}: the rise survives the judge's measured error"
    if hi < 0:
        return f"{head}: the fall survives the judge's measured error"
    return f"{head}: allowing for the judge's error, these prompts cannot tell a change from none"


Readings = dict[str, dict[str, int]]  # answer id -> judge name -> 0/1 (1 = the event)


def rates_by_group(readings: Readings, groups: dict[str, list[str]], validation: dict[str, list[tuple[int, int]]],
                   *, samples: int = 2000, seed: int = 0) -> list[dict]:
    """:func:`table` for every judge of ``validation`` over the same ``groups`` (name -> answer ids)."""
    out: list[dict] = []
    for judge, pairs in validation.items():
        values = {g: [readings[i][judge] for i in ids if i in readings] for g, ids in groups.items()}
        out += table({g: v for g, v in values.items() if v}, pairs, samples=samples, seed=seed, judge=judge)
    return out


def changes_by_group(before: Readings, after: Readings, groups: dict[str, list[str]],
                     validation: dict[str, list[tuple[int, int]]], *, samples: int = 2000,
                     seed: int = 0) -> list[dict]:
    """:func:`corrected_difference` per group and judge, on the answer ids both models have."""
    out = []
    for group, ids in groups.items():
        ids = [i for i in ids if i in before and i in after]
        for judge, pairs in validation.items():
            d = corrected_difference([before[i][judge] for i in ids], [after[i][judge] for i in ids], pairs,
                                     samples=samples, seed=seed)
            out.append({"group": group, "judge": judge, "n": d["n"], "judged change (points)": d["judged"],
                        "judged 95% CI": d["judged_ci95"], "corrected change": d["corrected"],
                        "corrected 95% CI": d["corrected_ci95"], "usable draws": d["usable_share"]})
    return out


def changes_in_words(rows: list[dict], what: str) -> list[str]:
    """:func:`in_words` for each row of :func:`changes_by_group` (``what``: e.g. ``"% safe"``)."""
    return [in_words({"judged": r["judged change (points)"], "corrected": r["corrected change"],
                      "corrected_ci95": r["corrected 95% CI"]}, f"{r['group']} {what}", r["judge"]) for r in rows]
