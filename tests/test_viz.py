"""The overview's drawings (``star1_utils.report.viz``): the pipeline diagram shows every stage
notebook with its text inside its box and readable at notebook width, and a wrapped table keeps
every word, escaped, inside the panel."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from star1_utils.report import viz
from star1_utils.run import deviations
from star1_utils.run.stages import STAGES

#: Notebook width in pixels at which a figure is shown scaled down; fonts must stay this large there.
SHOWN_PX, MIN_POINTS = 1000, 10


@pytest.fixture
def diagram():
    import matplotlib.pyplot as plt

    viz.set_style()
    fig = viz.pipeline_diagram()
    fig.canvas.draw()
    yield fig
    plt.close(fig)


def test_the_pipeline_diagram_shows_every_stage_with_its_text_inside_its_box(diagram):
    ax = diagram.axes[0]
    renderer = diagram.canvas.get_renderer()
    boxes = [p.get_window_extent(renderer) for p in ax.patches if isinstance(p, FancyBboxPatch)]
    titles = [t.get_text().split(" \u00b7 ")[0] for t in ax.texts if " \u00b7 " in t.get_text()]
    assert titles == [s.key for s in STAGES[1:]]  # 01 .. 09, from the stage table
    assert len(boxes) == len(STAGES) - 1
    # 01 -> 02 -> 03 -> 04 -> 05, 05 -> the evaluations (one frame), the evaluations -> 09
    assert sum(isinstance(p, FancyArrowPatch) for p in ax.patches) == 6
    headings = set(viz.PHASES.values())
    for text in ax.texts:
        e = text.get_window_extent(renderer)
        inside = [b for b in boxes if b.x0 + 4 <= e.x0 and e.x1 <= b.x1 - 4 and b.y0 <= e.y0 and e.y1 <= b.y1]
        assert inside or text.get_text() in headings, f"{text.get_text()!r} leaves its box"
    shown = SHOWN_PX / (diagram.get_figwidth() * 100)  # the notebook scales a 100-dpi figure down
    assert min(t.get_fontsize() for t in ax.texts) * min(shown, 1) >= MIN_POINTS


def test_pipeline_describes_every_stage_notebook():
    assert set(viz.PIPELINE) == {s.key for s in STAGES[1:]}
    assert {phase for phase, _, _ in viz.PIPELINE.values()} == set(viz.PHASES)


def test_wrapped_table_keeps_every_word_escaped_and_inside_the_panel():
    rows = deviations.table()
    widths = {"stage": "5%", "setting": "12%"}
    html = viz.wrapped_table(pd.DataFrame(rows), widths).to_html()
    assert "table-layout: fixed" in html and "width: 100%" in html and "width: 12%" in html
    assert "white-space: normal" in html and "text-align: left" in html
    assert "<think>" not in html and "&lt;think&gt;" in html  # shown as written, not a tag
    assert "collection.<wbr>reference_<wbr>compat" in html  # a dotted setting wraps at its parts
    plain = html.replace("<wbr>", "")
    longest = max((r["reference"] for r in rows), key=len)
    assert longest.replace("'", "&#x27;").replace("<", "&lt;").replace(">", "&gt;") in plain  # not cut
    assert 'class="row_heading' not in html  # no index column
