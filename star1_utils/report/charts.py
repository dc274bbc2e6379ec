"""The charts notebooks 04, 06 and 07 draw along the way (the paper's own figures are in ``figures``).

Each function takes the records the notebook already holds and returns a matplotlib figure; the
notebook saves it with :func:`star1_utils.report.viz.save_figure` under ``figures/`` of the run and
sets the style once (:func:`star1_utils.report.viz.set_style`), so the bytes depend only on the data.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from star1_utils.report import paper


def score_histograms(scores: pd.DataFrame, keys: Sequence[str]):
    """Notebook 04: how many traces got each score 0-10, one panel per criterion of the grader
    (``scorer.py``'s three keys), on a shared count axis so the criteria compare at a glance."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(keys), figsize=(15, 3.8), sharey=True)
    for ax, key in zip(axes, keys):
        counts = scores[key].value_counts().reindex(range(11), fill_value=0)
        ax.bar(counts.index, counts.values)
        ax.set_title(key.replace("_", " "), fontsize=12)
        ax.set_xticks(range(0, 11, 2))
        ax.set_xlabel("score")
    axes[0].set_ylabel("items")
    fig.tight_layout()
    return fig


def _paired_bars(ax, paired: list[dict], series: Sequence[tuple[str, str, str, str]]) -> None:
    """Two bars per benchmark (before, after) with their exact 95% intervals and % labels."""
    for k, (label, col, ci, color) in enumerate(series):
        vals = [r[col] for r in paired]
        err = [[v - r[ci][0] for v, r in zip(vals, paired)], [r[ci][1] - v for v, r in zip(vals, paired)]]
        xs = [i + (k - 0.5) * 0.38 for i in range(len(paired))]
        ax.bar(xs, vals, width=0.38, yerr=err, capsize=4, color=color, label=label)
        for x, v in zip(xs, vals):
            ax.annotate(f"{v:.0f}%", (x, v), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=9)


def safety_before_after(paired: list[dict], family: str, title: str, note: str):
    """Notebook 06, section 5: each benchmark's safety rate before and after training on the same
    prompts (``safety.before_after`` rows: exact intervals, McNemar p), and beside it, for scale,
    the paper's STAR-1 minus Instruct gain for ``family`` on the same benchmarks (Table 1).

    ``title`` heads the left panel, ``note`` (which judge, how well it agrees) the figure.
    """
    import matplotlib.pyplot as plt

    prow = paper.table1_rows(family, paper.SAFETY_COLUMNS)
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6), layout="constrained",
                                 gridspec_kw={"width_ratios": [3, 2]})
    names = [r["benchmark"] for r in paired]
    _paired_bars(a1, paired, (("base (untrained)", "base % safe", "base 95% CI", "#888888"),
                              ("after STAR-1 training", "trained % safe", "trained 95% CI", "C0")))
    a1.set_xticks(range(len(names)), [f"{n}\n(n={r['n']}, McNemar p={r['McNemar p']:.1g})"
                                      for n, r in zip(names, paired)], fontsize=9)
    a1.set_ylabel("% judged safe", fontsize=10)
    a1.set_ylim(0, 112)
    a1.set_title(title, fontsize=10)
    a1.legend(loc="upper left", frameon=False, fontsize=9)
    fig.suptitle(note, fontsize=9)
    cols_p = [c for c in names if c in prow.columns]
    gains = [prow.loc["STAR-1", c] - prow.loc["Instruct", c] for c in cols_p]
    a2.bar(cols_p, gains, color="C2", width=0.5)
    a2.axhline(0, color="black", lw=0.8)
    lim = max(5.0, max(abs(g) for g in gains) * 1.4)
    a2.set_ylim(-lim, lim)
    a2.set_ylabel("points", fontsize=9)
    a2.set_title(f"paper, {family}: STAR-1 minus Instruct (Table 1)", fontsize=10)
    for i, g in enumerate(gains):
        a2.annotate(f"{g:+.1f}", (i, g), xytext=(0, 3 if g >= 0 else -12), textcoords="offset points",
                    ha="center", fontsize=9)
    a2.tick_params(labelsize=9)
    a1.tick_params(axis="y", labelsize=9)
    return fig


def safety_rates(table: pd.DataFrame, title: str, leave_out: str = "",
                 extra: dict[str, dict[str, float]] | None = None):
    """Notebook 06, section 6: safety rate per benchmark, one bar per row of the comparison table
    (``safety.comparison_table``: this run's rows, then the paper's) and per ``extra`` series
    (name -> rate by benchmark, e.g. a miniature run's). Rows whose label starts with
    ``leave_out`` are not drawn (the demo's stand-in numbers are not comparable with the paper's).
    """
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 4.5), layout="constrained")
    shown = table[[not str(i).startswith(leave_out) for i in table.index]] if leave_out else table
    bars = shown.drop(columns=[paper.AVG_SAFETY]).T
    for name, values in (extra or {}).items():
        bars[name] = pd.Series(values)
    bars.plot.bar(ax=ax, width=0.8)
    ax.set_ylabel("% judged safe")
    ax.set_ylim(0, 105)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    ax.tick_params(axis="x", rotation=0, labelsize=9)
    ax.tick_params(axis="y", labelsize=9)
    return fig


def failure_bars(failures: pd.DataFrame, statuses: Sequence[str], demo: bool = False):
    """Why items were (not) correct: one stacked horizontal bar per benchmark, one segment per
    grading status in ``statuses`` order (the columns of ``failures`` that are statuses; the
    accuracy and count columns are left out). ``demo`` says in the title that the demo's tiny
    model scores near zero by construction, so the chart is not read as a result."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.2))
    failures[[c for c in statuses if c in failures.columns]].plot.barh(stacked=True, ax=ax, width=0.7)
    ax.set_xlabel("items")
    ax.set_title("Why items were (not) correct"
                 + (" (demo: tiny model, near zero by construction)" if demo else ""))
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return fig
