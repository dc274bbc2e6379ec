"""Plot style and small drawings shared by the notebooks (seaborn, colour-blind-safe palette)."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Iterable, Mapping

from star1_utils.run.artifacts import atomic_path
from star1_utils.run.stages import STAGES


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


#: Colours of the two kinds of metric, from seaborn's colour-blind palette (safety in vermillion,
#: reasoning in blue, as in the paper's Figure 3), and of the datasets compared in Figure 2.
METRIC_COLORS = {"safety": "#d55e00", "reasoning": "#0173b2", "over-refusal": "#029e73"}
DATASET_COLORS = ("#0173b2", "#de8f05", "#029e73", "#cc78bc", "#ca9161", "#949494")

_DATA, _TRAIN, _REPORT = "#de8f05", "#cc78bc", "#949494"  # the colour-blind palette, as above

#: What each stage notebook does, in the paper's words (teaching text): its phase, its box colour
#: (each evaluation takes its metric's colour) and three or four short lines. The boxes, their
#: order, titles and folders come from ``STAGES``; a stage missing here stops the drawing.
PIPELINE = {
    "01": ("data", _DATA, "~41K instructions\nfrom 18 datasets,\ndeduplicated and\ndecontaminated"),
    "02": ("data", _DATA, "GPT-4o labels each\nwith its safety\ncategories (of 8)"),
    "03": ("data", _DATA, "DeepSeek-R1 reasons\nover the policies:\n<think> + answer"),
    "04": ("data", _DATA, "GPT-4o scores 0-10\non 3 criteria; keep\nall-10s; diverse 1K"),
    "05": ("training", _TRAIN, "SFT of R1-distilled\nmodels on the 1K\n(ZeRO-3, 39 steps)"),
    "06": ("evaluation", METRIC_COLORS["safety"], "4 harmful sets;\nLlama-Guard judges\nthe safety rate"),
    "07": ("evaluation", METRIC_COLORS["reasoning"], "AIME, MATH-500,\nGPQA, HumanEval,\nMMLU-Pro"),
    "08": ("evaluation", METRIC_COLORS["over-refusal"], "benign look-alikes\nmixed in; XSTest\nover-refusal"),
    "09": ("report", _REPORT, "Table 1, Figs 2-4:\nyour run beside\nthe paper's"),
}
#: The heading over each phase's boxes.
PHASES = {"data": "Making the 1K data (paper Sec. 2)", "training": "Training (Sec. 3.1)",
          "evaluation": "Evaluating the trained model (Sec. 3.1, 4.3)",
          "report": "Comparing with the paper"}

# Sizes in inches (the axes span the figure one unit per inch), for a figure of about 13 inches,
# shown about 1,000 pixels wide in a notebook: no font under 13 points.
_W, _H, _PITCH, _GAP, _M = 2.15, 2.15, 2.6, 0.3, 0.05  # box, step along a row, frame padding, margin
_ARROW = dict(arrowstyle="-|>,head_length=0.55,head_width=0.32", mutation_scale=26, lw=2.6,
              color="#333333", shrinkA=0, shrinkB=0)


def _stage_box(ax, spec, x: float, y: float) -> None:
    """One stage: number and name (from the notebook's file name), what it does, the folder it writes."""
    import textwrap

    from matplotlib.colors import to_rgba
    from matplotlib.patches import FancyBboxPatch

    _, color, text = PIPELINE[spec.key]
    name = spec.notebook.split("_", 1)[1].replace("_", " ").capitalize()
    ax.add_patch(FancyBboxPatch((x, y), _W, _H, boxstyle="round,pad=0,rounding_size=0.12",
                                fc=to_rgba(color, 0.18), ec=color, lw=2.5))
    title = textwrap.fill(f"{spec.key} \u00b7 {name}", 16)
    ax.text(x + _W / 2, y + _H - 0.1, title, ha="center", va="top", fontsize=15, weight="bold",
            color="#1a1a1a", linespacing=1.1)
    ax.text(x + _W / 2, y + _H / 2 - 0.12, text, ha="center", va="center", fontsize=13, linespacing=1.2)
    ax.text(x + _W / 2, y + 0.1, f"{spec.stage_dir}/", ha="center", va="bottom", fontsize=13,
            family="monospace", color="#333333")


def _arrow(ax, *points: tuple[float, float]) -> None:
    """A thick arrow through ``points`` (straight lines, the head at the last one)."""
    from matplotlib.patches import FancyArrowPatch
    from matplotlib.path import Path as MplPath

    ax.add_patch(FancyArrowPatch(path=MplPath(points), **_ARROW))


def _heading(ax, x: float, y: float, phase: str) -> None:
    """A phase's heading, its left end at ``x``, just above ``y``."""
    ax.text(x, y + 0.12, PHASES[phase], fontsize=14, style="italic", color="#333333", va="bottom")


def pipeline_diagram():
    """The stage notebooks as boxes joined by arrows, in two rows: making the data and training, then
    the evaluations (one frame: each reads the trained model) and the comparison with the paper.

    Titles and folders come from ``STAGES``, what each stage does from ``PIPELINE``. Returns the figure.
    """
    import matplotlib.pyplot as plt

    stages = [s for s in STAGES if s.key != "00"]  # the overview draws the others
    missing = [s.key for s in stages if s.key not in PIPELINE]
    if missing:
        raise KeyError(f"viz.PIPELINE does not describe stage(s) {', '.join(missing)}")
    phase = {s.key: PIPELINE[s.key][0] for s in stages}
    top = [s for s in stages if phase[s.key] in ("data", "training")]
    evals = [s for s in stages if phase[s.key] == "evaluation"]
    rest = [s for s in stages if s not in top and s not in evals]
    width, height = 2 * _M + (len(top) - 1) * _PITCH + _W, 2 * _H + 2.6
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set(xlim=(0, width), ylim=(0, height))
    ax.axis("off")

    y1 = height - 0.5 - _H  # the first row, in order, under its phase headings
    for i, s in enumerate(top):
        x = _M + i * _PITCH
        _stage_box(ax, s, x, y1)
        if i == 0 or phase[s.key] != phase[top[i - 1].key]:
            _heading(ax, x, y1 + _H, phase[s.key])
        if i:
            _arrow(ax, (x - _PITCH + _W + 0.04, y1 + _H / 2), (x - 0.04, y1 + _H / 2))

    # the evaluations side by side in one frame (no arrows between them: each reads the model)
    y2, step = y1 - 1.55 - _H, _W + 0.25
    frame_w, frame_top = 2 * _GAP + (len(evals) - 1) * step + _W, y2 + _H + 0.55
    ax.add_patch(plt.Rectangle((_M, y2 - _GAP), frame_w, frame_top - y2 + _GAP, fc="none",
                               ec="#555555", lw=1.8, ls=(0, (5, 3))))
    _heading(ax, _M + _GAP, y2 + _H, "evaluation")
    for i, s in enumerate(evals):
        _stage_box(ax, s, _M + _GAP + i * step, y2)
    x_model, y_turn = _M + (len(top) - 1) * _PITCH + _W / 2, (y1 + frame_top) / 2
    _arrow(ax, (x_model, y1 - 0.04), (x_model, y_turn), (_M + frame_w / 2, y_turn),
           (_M + frame_w / 2, frame_top + 0.04))  # the trained model, down to every evaluation
    x = _M + frame_w
    for s in rest:  # then what reads the results, after an arrow
        _arrow(ax, (x + 0.04, y2 + _H / 2), (x + 0.71, y2 + _H / 2))
        _stage_box(ax, s, x + 0.75, y2)
        _heading(ax, x + 0.75, y2 + _H, phase[s.key])
        x += 0.75 + _W
    return fig


def add_caption(fig, text: str, width: int = 150, fontsize: float = 10.5) -> None:
    """Write a source caption under the axes (kept by ``save_figure``'s tight bounding box)."""
    import textwrap

    wrapped = "\n".join(textwrap.fill(p, width=width) for p in str(text).split("\n"))
    fig.text(0.01, -0.01, wrapped, ha="left", va="top", fontsize=fontsize, color="#333333",
             transform=fig.transFigure)


def _soft_breaks(value):
    """A text cell, HTML-escaped, with a break opportunity after each ``/`` and inner ``_`` before a
    letter and each ``.`` before a word (not ``.py``), so that a dotted setting or a path wraps at its parts
    (``<wbr>`` is not copied with the text)."""
    if not isinstance(value, str):
        return value
    breaks = r"(?<=[A-Za-z0-9]_)(?=[A-Za-z])|(?<=/)(?=[A-Za-z])|(?<=\.)(?=[A-Za-z]{3})"
    return re.sub(breaks, "<wbr>", html.escape(value))


def wrapped_table(df, widths: Mapping[str, str] | None = None, index: bool = False):
    """``df`` as a table that wraps its text inside the notebook panel instead of running off to the right.

    A plain DataFrame cuts long text at 50 characters and still runs far wider than JupyterLab's
    panel when it has several text columns. Here the table takes the panel's width
    (``table-layout: fixed``), every cell wraps (dotted settings and paths at their dots, slashes and
    underscores; any word too long for its column anywhere), text is left- and top-aligned, and
    nothing is cut. ``widths`` fixes the width of named columns (CSS lengths; percentages of the panel,
    e.g. ``{"stage": "5%"}``, keep the table readable in a narrow panel too); the others share what is
    left. The text is HTML-escaped (``<think>`` shows as written). Returns a pandas ``Styler``: a
    notebook shows it, ``.to_html()`` gives the HTML.
    """
    text_columns = [c for c in df.columns if df[c].dtype.kind == "O"]  # object or str
    styler = df.style.format(escape="html").format(_soft_breaks, subset=text_columns)
    if not index:
        styler = styler.hide(axis="index")
    cell = "white-space: normal; overflow-wrap: anywhere; text-align: left; vertical-align: top;"
    styler = styler.set_table_styles([{"selector": "", "props": "table-layout: fixed; width: 100%;"},
                                      {"selector": "th, td", "props": cell}])
    columns = {name: [{"selector": "th", "props": f"width: {width};"}] for name, width in (widths or {}).items()}
    return styler.set_table_styles(columns, overwrite=False) if columns else styler
