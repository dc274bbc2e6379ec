"""Figures and the paper comparison (notebook 09).

The plotted data is checked against the cited numbers (``star1_utils/data/paper``), read straight
from the CSVs here so that a test never trusts the code it tests; missing run artifacts must give
notes, not errors; the committed top-level figures must not be stale; notebook 09 must run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from star1_utils.report import figures, paper
from star1_utils.dataset.policies import CATEGORIES

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT / "star1_utils" / "data" / "paper"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


# ------------------------------------------------------------------------------ synthetic runs

def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def _metrics(path: Path, model: str, family: str | None, values: dict[str, float]) -> None:
    """A metrics.json in the shape of CONTRIBUTING ("Metrics files")."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "model": model, "paper_family": family,
        "benchmarks": {k: {"value": v, "n": 10} for k, v in values.items()},
        "average": sum(values.values()) / len(values)}), encoding="utf-8")


SAFETY = {"StrongREJECT": 90.0, "JBB-Behaviors": 80.0, "WildChat": 70.0, "WildJailbreak": 60.0}  # mean 75
REASONING = {"MMLU-Pro": 30.0, "AIME2024": 20.0, "MATH-500": 70.0, "GPQA-Diamond": 30.0, "HumanEval": 40.0}  # 38


def make_run(run: Path, family: str | None = "Qwen2.5-1.5B", model: str = "runs/x/05_training/star1/model",
             curve_fractions: bool = False, upstream: bool = True) -> Path:
    if upstream:
        rows = [{"id": str(i), "question": "q", "source": "demo",
                 "category": [CATEGORIES[i % 8]] + ([CATEGORIES[0]] if i % 5 == 1 and i % 8 else [])
                 + (["Other"] if i % 10 == 9 else [])} for i in range(40)]
        _jsonl(run / "02_classification" / "classified.jsonl", rows)
        _jsonl(run / "04_selection" / "star1.jsonl", [r for r in rows if "Other" not in r["category"]][:16])
    _metrics(run / "06_safety" / "metrics.json", model, family, SAFETY)
    _metrics(run / "07_reasoning" / "metrics.json", model, family, REASONING)
    scale = 0.01 if curve_fractions else 1.0
    curve = pd.DataFrame({"n_benign": [0, 915], "xstest_full_compliance": [60 * scale, 90 * scale],
                          "xstest_full_refusal": [30 * scale, 6 * scale], "xstest_partial_refusal": [10 * scale, 4 * scale],
                          "avg_safety": [75 * scale, 70 * scale], "avg_reasoning": [38 * scale, 39 * scale]})
    (run / "08_overrefusal").mkdir(parents=True, exist_ok=True)
    curve.to_csv(run / "08_overrefusal" / "benign_mix_curve.csv", index=False)
    return run


# ------------------------------------------------------------------------------ paper numbers

def test_headline_means_computed_from_table1_match_the_abstract():
    raw = pd.read_csv(PAPER / "main_results.csv")
    avg = raw[raw["benchmark"].isin(["Avg_Safety", "Avg_Reasoning"])].pivot_table(
        index=["model_family", "benchmark"], columns="variant", values="value")
    gains = (avg["STAR-1"] - avg["R1-Distilled"]).groupby(level="benchmark").mean()
    facts = pd.read_csv(PAPER / "setup_facts.csv").set_index("key")["value"]
    means = paper.mean_gains().loc["STAR-1 minus R1-Distilled"]
    assert means["safety_avg_gain"] == pytest.approx(gains["Avg_Safety"], abs=1e-9)
    assert means["reasoning_avg_gain"] == pytest.approx(gains["Avg_Reasoning"], abs=1e-9)
    # the abstract's "40%" and "1.1%", read from the cited facts file, not typed here
    assert round(means["safety_avg_gain"]) == float(facts["avg_safety_improvement_vs_R1_distill"])
    assert round(-means["reasoning_avg_gain"], 1) == float(facts["avg_reasoning_decrease_vs_R1_distill"])
    assert paper.headline_gains()["n_models"] == 5  # notebook 00's function still works


def test_figure3_bars_equal_the_values_printed_on_the_paper_figure():
    cited = pd.read_csv(PAPER / "figure3_gaps.csv")
    result = figures.figure3_paper()
    merged = result.data.merge(cited, on=["model_family", "comparison", "metric"], suffixes=("", "_cited"))
    assert len(merged) == len(cited) == 20
    assert (merged["value"] - merged["value_cited"]).abs().max() <= 0.05 + 1e-9
    # the bars actually drawn: containers per axis are (safety, reasoning), one bar per family
    fams = paper.families()
    for ax, comparison in zip(result.fig.axes, paper.COMPARISONS):
        for container, metric in zip(ax.containers, ("safety_avg_gain", "reasoning_avg_gain")):
            heights = [bar.get_height() for bar in container]
            want = [cited[(cited.model_family == f) & (cited.comparison == comparison) & (cited.metric == metric)]
                    ["value"].item() for f in fams]
            assert heights == pytest.approx(want, abs=0.051)
        # the title carries the computed means
        means = cited[cited.comparison == comparison].groupby("metric")["value"].mean()
        assert f"safety {means['safety_avg_gain']:+.1f}" in ax.get_title()
    assert figures.figure3_crosscheck()["difference"].abs().max() <= 0.05 + 1e-9


def test_figure2_release_matches_the_cited_category_counts(mirror):
    cited = pd.read_csv(PAPER / "category_distribution.csv")
    cited = cited[cited["grouping"] == "safety_category (multi-label)"].set_index("label")
    result = figures.figure2_release()
    got = result.data.set_index("category")
    assert got["count"].to_dict() == cited["count"].to_dict()
    assert (got["pct_of_samples"] - cited["pct_of_samples"]).abs().max() < 0.05
    widths = sorted(round(b.get_width(), 6) for c in result.fig.axes[0].containers for b in c)
    assert widths == sorted(round(v, 6) for v in got["pct_of_samples"])
    assert "UCSC-VLAA/STAR-1" in result.caption


# ------------------------------------------------------------------------------ run artifacts

def test_figure2_of_a_run_counts_each_label_once_per_sample(tmp_path):
    run = make_run(tmp_path / "runs" / "r")
    result = figures.figure2(run, include_release=False)
    assert result.fig is not None and not result.notes
    rows = [json.loads(l) for l in (run / "02_classification" / "classified.jsonl").read_text().splitlines()]
    coll = result.data[result.data["dataset"].str.startswith("collection")].set_index("category")
    for cat in (*CATEGORIES, "Other"):
        want = sum(1 for r in rows if cat in r["category"])
        assert coll.loc[cat, "count"] == want
        assert coll.loc[cat, "pct_of_samples"] == pytest.approx(100 * want / len(rows))
    assert set(result.data["dataset"].str.split(" ").str[0]) == {"collection", "selected"}


def test_missing_run_artifacts_give_notes_not_errors(tmp_path):
    empty = tmp_path / "runs" / "empty"
    empty.mkdir(parents=True)
    f2 = figures.figure2(empty, include_release=False)
    assert f2.fig is None and f2.save(tmp_path / "out") == []
    assert any("classified.jsonl" in n for n in f2.notes) and any("star1.jsonl" in n for n in f2.notes)
    assert figures.find_runs([tmp_path / "runs", tmp_path / "nowhere"], extra=[empty]) == []
    f3 = figures.figure3([])
    assert f3.fig is not None and set(f3.data["run"]) == {"paper"}
    f4 = figures.figure4([])
    assert f4.fig is None and "notebook 08" in " ".join(f4.notes)
    table, notes = figures.comparison_table([])
    assert table.empty and "notebooks 06 and 07" in " ".join(notes)

    # broken or partial files: still notes
    bad = tmp_path / "runs" / "bad"
    (bad / "06_safety").mkdir(parents=True)
    (bad / "06_safety" / "metrics.json").write_text("{not json")
    (bad / "08_overrefusal").mkdir(parents=True)
    (bad / "08_overrefusal" / "benign_mix_curve.csv").write_text("n_benign,avg_safety\n0,50\n")
    _metrics(tmp_path / "runs" / "half" / "06_safety" / "metrics.json", "tiny-student", None, {"StrongREJECT": 50.0})
    (tmp_path / "runs" / "half" / "04_selection").mkdir(parents=True)
    (tmp_path / "runs" / "half" / "04_selection" / "star1.jsonl").write_text('{"id": "1", "category": ["Self-Harm"]}\n{oops\n')
    runs = figures.find_runs([tmp_path / "runs"])
    assert [r.name for r in runs] == ["bad", "half"]
    bad_run = runs[0]
    assert bad_run.safety is None and bad_run.curve is None and len(bad_run.notes) == 2
    table, notes = figures.comparison_table(runs)
    assert list(table["run"]) == ["half"] and "no paper row" in " ".join(notes)
    assert figures.figure4(runs).fig is None
    f3 = figures.figure3(runs)
    assert "not overlaid" in " ".join(f3.notes)
    f2 = figures.figure2(tmp_path / "runs" / "half", include_release=False)
    assert f2.fig is None and any("could not be read" in n for n in f2.notes)


def test_runs_are_overlaid_with_measured_or_paper_baselines(tmp_path):
    mine = make_run(tmp_path / "runs" / "mine")
    # a run that evaluated the R1-distilled base model itself: its safety average becomes the baseline
    _metrics(tmp_path / "runs" / "base" / "06_safety" / "metrics.json",
             "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B", None, {"StrongREJECT": 30.0, "WildChat": 40.0})
    runs = figures.find_runs([tmp_path / "runs"], extra=[mine])
    assert [r.name for r in runs] == ["base", "mine"]
    data = figures.figure3(runs).data
    ours = data[data["run"] == "mine"].set_index(["comparison", "metric"])
    t1 = pd.read_csv(PAPER / "main_results.csv")
    row = lambda variant, bench: t1[(t1.model_family == "Qwen2.5-1.5B") & (t1.variant == variant)  # noqa: E731
                                    & (t1.benchmark == bench)]["value"].item()
    assert ours.loc[("STAR-1 minus R1-Distilled", "safety_avg_gain"), "value"] == pytest.approx(75 - 35)
    assert ours.loc[("STAR-1 minus R1-Distilled", "safety_avg_gain"), "baseline"] == "run base"
    assert ours.loc[("STAR-1 minus R1-Distilled", "reasoning_avg_gain"), "value"] == \
        pytest.approx(38 - row("R1-Distilled", "Avg_Reasoning"))
    assert ours.loc[("STAR-1 minus Instruct", "safety_avg_gain"), "value"] == pytest.approx(75 - row("Instruct", "Avg_Safety"))
    assert len(ours) == 4

    table, notes = figures.comparison_table(runs)
    mine_rows = table[table["run"] == "mine"]
    assert list(mine_rows["source"]) == ["your run", "paper", "paper", "paper"]
    assert mine_rows.iloc[0]["Avg_Safety"] == 75 and mine_rows.iloc[0]["n_safety"] == 40
    assert mine_rows.iloc[3]["Avg_Safety"] == row("STAR-1", "Avg_Safety")
    html = figures.style_comparison(table).to_html()
    assert "your run" in html and "Table 1" in html


@pytest.mark.parametrize("fractions", [False, True])
def test_figure4_plots_the_benign_mix_curve_in_percent(tmp_path, fractions):
    run = make_run(tmp_path / "runs" / "curve", curve_fractions=fractions, upstream=False)
    result = figures.figure4(figures.find_runs([tmp_path / "runs"]))
    d = result.data.set_index(["n_benign", "panel"])["value"]
    assert d[(0, "over-refusal on XSTest safe prompts (%)")] == pytest.approx(40)
    assert d[(915, "over-refusal on XSTest safe prompts (%)")] == pytest.approx(10)
    assert d[(915, "average safety (%)")] == pytest.approx(70)
    assert d[(0, "average reasoning (%)")] == pytest.approx(38)
    paths = result.save(tmp_path / "out")
    assert {p.suffix for p in paths} == {".png", ".pdf", ".csv"} and "run curve" in result.caption
    assert run.name == "curve"


def _xs(safe: list[str], unsafe: list[str] = ()) -> list[dict]:
    """Judged XSTest rows, as notebook 08 holds them."""
    rows = [{"id": f"s{i}", "label": "safe", "refusal_label": lab} for i, lab in enumerate(safe)]
    return rows + [{"id": f"u{i}", "label": "unsafe", "refusal_label": lab} for i, lab in enumerate(unsafe)]


def test_figure4_of_notebook_08_draws_intervals_the_base_line_and_gaps_as_text():
    from star1_utils.evaluate import benign_mix_curve
    from star1_utils.evaluate.refusal import LABELS

    comply, refuse, _ = LABELS
    rows = [benign_mix_curve.curve_row(0, _xs([refuse, refuse, comply, comply], [refuse]), n_training_rows=60),
            benign_mix_curve.curve_row(56, _xs([comply] * 4, [refuse]), n_training_rows=116),
            benign_mix_curve.curve_row(None, _xs([comply, comply]), model=benign_mix_curve.BASE_POINT)]
    result = figures.figure4_curve(rows, title="a curve")
    over = result.data[result.data["panel"] == figures.CURVE_PANELS[0]]
    trained = over[over["run"] == "trained"].set_index("n_benign")
    assert trained["value"].to_dict() == {0.0: 50.0, 56.0: 0.0}
    assert trained.loc[0.0, "low"] == rows[0]["xstest_over_refusal_ci95_low"]
    assert set(over[over["run"] == figures.UNSAFE_REFUSED]["value"]) == {100.0}
    base = over[over["n_benign"].isna()]
    assert list(base["run"]) == [benign_mix_curve.BASE_POINT] and list(base["value"]) == [0.0]
    # safety and reasoning were not measured: said in words, never drawn as zeros
    texts = [t.get_text() for ax in result.fig.axes for t in ax.texts]
    assert texts.count("not measured at the curve points") == 2
    ax = result.fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0\n(60 rows)", "56\n(116 rows)"]
    assert any(line.get_linestyle() == ":" for line in ax.get_lines())  # the base model
    assert result.fig.texts[0].get_text() == "a curve" and "915" in result.caption


def test_figure4_of_runs_uses_the_same_drawer(tmp_path):
    make_run(tmp_path / "runs" / "a", upstream=False)
    make_run(tmp_path / "runs" / "b", upstream=False)
    result = figures.figure4(figures.find_runs([tmp_path / "runs"]))
    ax = result.fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "915"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b"]
    assert list(result.data.columns) == ["run", "n_benign", "panel", "value"]


def test_figure2_of_notebook_04_shares_labels_and_sources():
    two = [CATEGORIES[0], CATEGORIES[1]]
    classified = [{"source": "A", "category": two}, {"source": "A", "category": [CATEGORIES[0]]},
                  {"source": "B", "category": [CATEGORIES[2]]}]
    result = figures.figure2_selection(classified, classified[1:], classified[2:])
    cats = result.data[result.data["panel"] == figures.SELECTION_PANELS[0][0]].set_index("label")
    assert len(cats) == 8  # every category, in label order
    assert cats["classified (02)"].iloc[0] == pytest.approx(50.0)  # 2 of 4 labels
    assert cats["selected"].iloc[2] == pytest.approx(100.0)
    srcs = result.data[result.data["panel"] == figures.SELECTION_PANELS[1][0]].set_index("label")
    assert srcs["classified (02)"].to_dict() == pytest.approx({"A": 200 / 3, "B": 100 / 3})
    assert result.fig is not None and "all-10 pool (2)" in result.fig.texts[0].get_text()


def test_read_metrics_notes_or_raises(tmp_path):
    from star1_utils.run.artifacts import ArtifactError

    assert figures.read_metrics(tmp_path / "absent.json") is None
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "ok.json").write_text('{"average": 1}')
    notes: list[str] = []
    assert figures.read_metrics(tmp_path / "list.json", notes) is None and "not a JSON object" in notes[0]
    with pytest.raises(ArtifactError):
        figures.read_metrics(tmp_path / "list.json")  # notebook 08: a broken point is an error
    assert figures.read_metrics(tmp_path / "ok.json") == {"average": 1}


def test_a_run_beside_table1_reads_the_cited_rows():
    raw = pd.read_csv(PAPER / "main_results.csv")
    ours = {"mine": paper.measured({"benchmarks": {"MATH-500": {"value": 70.0}}, "average": 70.0},
                                   paper.REASONING_COLUMNS)}
    t = paper.beside_table1(ours, "Qwen2.5-7B", paper.REASONING_COLUMNS)
    assert list(t.index) == ["mine"] + [f"paper: Qwen2.5-7B {v}" for v in paper.VARIANTS]
    assert t.loc["mine", "MATH-500"] == 70.0 and pd.isna(t.loc["mine", "AIME2024"])
    want = raw[(raw.model_family == "Qwen2.5-7B") & (raw.variant == "STAR-1") & (raw.benchmark == "MATH-500")]
    assert t.loc["paper: Qwen2.5-7B STAR-1", "MATH-500"] == want["value"].item()
    assert paper.model_of("Qwen2.5-7B", "R1-Distilled") == "DeepSeek-R1-Distill-Qwen-7B"


# ------------------------------------------------------------------------------ committed figures

def _committed_reader():
    """Read figures/<name> from git HEAD when the folder is tracked (the committed bytes), else the tree."""
    def from_tree(name):
        p = ROOT / "figures" / name
        return p.read_bytes() if p.is_file() else None

    try:
        subprocess.run(["git", "-C", str(ROOT), "ls-files", "--error-unmatch", "figures/fingerprints.json"],
                       check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return from_tree

    def from_head(name):
        r = subprocess.run(["git", "-C", str(ROOT), "show", f"HEAD:figures/{name}"], capture_output=True)
        return r.stdout if r.returncode == 0 else None

    return from_head


def test_committed_paper_figures_are_not_stale():
    reasons = figures.stale_paper_figures(ROOT / "figures", read_bytes=_committed_reader())
    assert not reasons, ("committed figures/ are stale; run `python -m star1_utils.report.figures` (or notebook 09) "
                         "and commit figures/: " + "; ".join(reasons))


def test_paper_figures_are_byte_stable(tmp_path, mirror):
    a = figures.write_paper_figures(tmp_path / "a", force=True)
    b = figures.write_paper_figures(tmp_path / "b", force=True)
    assert set(a.values()) == set(b.values()) == {"written"}
    pa, pb = figures.read_fingerprints(tmp_path / "a"), figures.read_fingerprints(tmp_path / "b")
    assert pa == pb  # same bytes, same hashes
    assert figures.write_paper_figures(tmp_path / "a")["figure3_paper_gains"] == "up to date"
    committed = figures.read_fingerprints(ROOT / "figures")
    for name, fp in pa.items():
        if committed.get(name, {}).get("matplotlib") == fp["matplotlib"]:  # same renderer: same bytes
            assert committed[name]["files"] == fp["files"], name


# ------------------------------------------------------------------------------ the notebook

def test_notebook_09_runs_with_partial_upstream(tmp_path, monkeypatch):
    """00 and 09 through the runner into a run folder that has 06-08 metrics but no 02/04 artifacts."""
    from star1_utils.run.runner import run

    monkeypatch.setenv("STAR1_FIGURES_DIR", str(tmp_path / "top"))  # never touch the committed figures
    run_dir = make_run(tmp_path / "run", upstream=False)
    lines: list[str] = []
    results = run(profile="demo", notebooks="00,09", run_dir=str(run_dir), echo=lines.append)
    assert [r.status for r in results] == ["ok", "ok"], "\n".join(lines)
    out = run_dir / "figures"
    for name in ("figure2_categories", "figure3_gains", "figure4_benign_mix"):
        assert (out / f"{name}.png").is_file() and (out / f"{name}.pdf").is_file(), name
    table = pd.read_csv(out / "table1_comparison.csv")
    assert "Qwen2.5-1.5B" in set(table["paper_family"].dropna())
    g3 = pd.read_csv(out / "figure3_gains.data.csv")
    assert "run" in set(g3["run"])  # this run, overlaid on Figure 3
    manifest = json.loads((out / "manifest.json").read_text())
    assert any("classified.jsonl" in n for n in manifest["notes"])  # missing upstream: a note
    assert {p.name for p in (tmp_path / "top").iterdir()} >= {"fingerprints.json", "figure3_paper_gains.png"}


def test_demo_run_produces_all_figures(demo_run):
    out = demo_run / "figures"
    if not (out / "manifest.json").is_file():
        pytest.skip("notebook 09 was not part of the demo run")
    for name in ("figure2_categories", "figure3_gains"):
        assert (out / f"{name}.png").is_file(), name
    if (demo_run / "08_overrefusal" / "benign_mix_curve.csv").is_file():
        assert (out / "figure4_benign_mix.png").is_file()
    if (demo_run / "06_safety" / "metrics.json").is_file():
        table = pd.read_csv(out / "table1_comparison.csv")
        assert (table["source"] == "your run").any()
