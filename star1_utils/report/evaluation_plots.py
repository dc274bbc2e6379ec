"""The charts notebook 07 draws while it evaluates (the paper's own figures are in ``figures``).

Each function takes the table the notebook already shows and returns a matplotlib figure; the
notebook saves it with :func:`star1_utils.report.viz.save_figure` under ``figures/`` of the run,
after :func:`star1_utils.report.viz.set_style`, so the saved bytes depend only on the data.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd


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
