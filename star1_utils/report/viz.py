"""Plot style and small drawings shared by the notebooks (seaborn, colour-blind-safe palette)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

from star1_utils.run.artifacts import atomic_path


def set_style() -> None:
    """Seaborn's colour-blind palette at a size readable on a slide."""
    import matplotlib

    import seaborn as sns

    sns.set_theme(context="talk", style="whitegrid", palette="colorblind")
    matplotlib.rcParams.update({"figure.dpi": 100, "savefig.dpi": 150, "savefig.bbox": "tight"})


def save_figure(fig, stem: str | Path, formats: Iterable[str] = ("png", "pdf")) -> list[Path]:
    """Save a figure as ``stem.png`` and ``stem.pdf`` (folders created); returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        p = stem.with_suffix(f".{fmt}")
        # A fixed creation date keeps PDFs byte-stable when the data has not changed.
        metadata = {"CreationDate": None} if fmt == "pdf" else {"Software": None} if fmt == "png" else None
        with atomic_path(p) as tmp:  # a full disk leaves the old figure, never an empty one
            fig.savefig(tmp, format=fmt, metadata=metadata)
        paths.append(p)
    return paths


PIPELINE = (
    ("01 Collect", "18 public datasets\n-> ~41K instructions\n(dedup + decontaminate)"),
    ("02 Classify", "GPT-4o labels\n8 safety categories"),
    ("03 Reason", "DeepSeek-R1 writes\npolicy-grounded\n<think> + answer"),
    ("04 Select", "GPT-4o scores 0-10 x3\nall-10 filter\ndiverse 1K"),
    ("05 Train", "SFT of R1-distilled\nmodels (ZeRO-3)\n39 updates"),
    ("06-08 Evaluate", "safety, reasoning,\nover-refusal"),
)


def pipeline_diagram():
    """The STAR-1 pipeline as a row of boxes with arrows; returns the matplotlib figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(16, 3.2))
    ax.set_xlim(0, len(PIPELINE) * 2.6)
    ax.set_ylim(0, 2.2)
    ax.axis("off")
    colors = ["#0173b2", "#de8f05", "#029e73", "#d55e00", "#cc78bc", "#ca9161"]
    for i, ((title, body), color) in enumerate(zip(PIPELINE, colors)):
        x = i * 2.6 + 0.1
        ax.add_patch(FancyBboxPatch((x, 0.1), 2.1, 2.0, boxstyle="round,pad=0.05", fc=color, alpha=0.15, ec=color, lw=2))
        ax.text(x + 1.05, 1.8, title, ha="center", va="center", fontsize=13, weight="bold", color=color)
        ax.text(x + 1.05, 0.95, body, ha="center", va="center", fontsize=10)
        if i < len(PIPELINE) - 1:
            ax.annotate("", xy=(x + 2.5, 1.1), xytext=(x + 2.2, 1.1), arrowprops=dict(arrowstyle="->", lw=2))
    fig.tight_layout()
    return fig


#: Colours of the two kinds of metric, from seaborn's colour-blind palette (safety in vermillion,
#: reasoning in blue, as in the paper's Figure 3), and of the datasets compared in Figure 2.
METRIC_COLORS = {"safety": "#d55e00", "reasoning": "#0173b2", "over-refusal": "#029e73"}
DATASET_COLORS = ("#0173b2", "#de8f05", "#029e73", "#cc78bc", "#ca9161", "#949494")


def add_caption(fig, text: str, width: int = 150, fontsize: float = 10.5) -> None:
    """Write a source caption under the axes (kept by ``save_figure``'s tight bounding box)."""
    import textwrap

    wrapped = "\n".join(textwrap.fill(p, width=width) for p in str(text).split("\n"))
    fig.text(0.01, -0.01, wrapped, ha="left", va="top", fontsize=fontsize, color="#333333",
             transform=fig.transFigure)
