"""Figures 2-4 and the Table 1 comparison, from the paper's numbers and from your runs (notebook 09).

Every function here degrades to a clear note when its inputs are missing (a stage not run yet, the
released STAR-1 not reachable offline, a metrics file without a paper family): it never raises for
missing run artifacts. Each figure comes back as a :class:`FigureResult` holding exactly the data
that was plotted (tests compare it with the cited numbers), its caption and its notes.

- **Figure 2**: safety-category shares of the run's collection after classification
  (``02_classification/classified.jsonl``), of its selected set (``04_selection/star1.jsonl``) and
  of the released STAR-1 (:data:`STAR1_RELEASE`, mirror first, else the Hub), side by side.
- **Figure 3**: STAR-1's average safety and reasoning gains over R1-Distilled and over Instruct per
  base model, computed from Table 1 (:func:`star1_utils.report.paper.figure3_gains`); runs whose
  ``06_safety/metrics.json`` and ``07_reasoning/metrics.json`` exist are overlaid.
- **Figure 4**: over-refusal, safety and reasoning against the number of benign samples, from
  ``08_overrefusal/benign_mix_curve.csv`` of the runs.
- **Table 1 comparison**: every evaluated run beside the paper's rows for its base model.

The paper-number figures also live in the top-level ``figures/`` folder (committed).
:func:`write_paper_figures` rewrites them only when their data or drawing code changed, recorded in
``figures/fingerprints.json``; :func:`stale_paper_figures` is the staleness check the tests run.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from star1_utils import project_root
from star1_utils.dataset.policies import CATEGORIES, SHORT_NAMES
from star1_utils.dataset.release import STAR1_RELEASE
from star1_utils.report import paper, viz
from star1_utils.run import layout
from star1_utils.run.artifacts import ArtifactError, atomic_write, read_jsonl
from star1_utils.run.resources import ResourceError, fetch, sha256_file
from star1_utils.run.stages import STAGES


SAFETY_COLS = list(paper.SAFETY_COLUMNS)
REASONING_COLS = list(paper.REASONING_COLUMNS)
TABLE_COLS = SAFETY_COLS + REASONING_COLS
CURVE_COLS = ("n_benign", "xstest_full_compliance", "xstest_full_refusal", "xstest_partial_refusal",
              "avg_safety", "avg_reasoning")
#: Stage folders that hold no evaluation (never searched for nested runs).
_PRUNE = {"notebooks", "cache", ".git", *(s.stage_dir for s in STAGES if s.key != "08")}


@dataclass
class FigureResult:
    """One figure: the matplotlib figure (``None`` when there was nothing to plot), the data it
    shows, its caption (what data it comes from) and notes about anything left out."""

    name: str
    fig: Any
    data: pd.DataFrame
    caption: str
    notes: list[str] = field(default_factory=list)
    paths: list[Path] = field(default_factory=list)

    def save(self, out_dir: str | Path, formats: Iterable[str] = ("png", "pdf")) -> list[Path]:
        """PNG + PDF (byte-stable for the same data) plus the plotted data as CSV."""
        out_dir = Path(out_dir)
        if self.fig is None:
            return []
        self.paths = viz.save_figure(self.fig, out_dir / self.name, formats=formats)
        csv = out_dir / f"{self.name}.data.csv"
        with atomic_write(csv) as f:
            self.data.to_csv(f, index=False)
        self.paths.append(csv)
        return self.paths

    def show(self, width: int = 1100) -> None:
        """Display the saved PNG (no second rendering) and free the figure; notes print either way."""
        from IPython.display import Image, Markdown, display

        png = next((p for p in self.paths if p.suffix == ".png"), None)
        if png is not None:
            display(Image(filename=str(png), width=width))
        elif self.fig is not None:
            display(self.fig)
        if self.fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self.fig)
        display(Markdown(self.report()))

    def report(self) -> str:
        """Caption and notes as Markdown, for ``display(Markdown(...))``."""
        lines = [f"**{self.name}**: {self.caption}"]
        lines += [f"- Note: {n}" for n in self.notes]
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Reading artifacts (never raising for missing ones)
# ---------------------------------------------------------------------------------------------

def parse_labels(value: Any) -> list[str]:
    """A category list as stored: a list, a JSON string, or the release's Python-literal string."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, str) and value.strip():
        text = value.strip()
        for loader in (json.loads, ast.literal_eval):
            try:
                got = loader(text)
            except (ValueError, SyntaxError):
                continue
            if isinstance(got, (list, tuple)):
                return [str(v) for v in got]
        return [text]
    return []


def _read_rows(path: Path, notes: list[str], what: str) -> list[dict] | None:

    if not path.is_file():
        notes.append(f"{what} not found ({path}); run the notebook that writes it to see it here.")
        return None
    try:
        return read_jsonl(path)
    except (ArtifactError, OSError, ValueError) as e:
        notes.append(f"{what} could not be read: {e}")
        return None


def load_release(notes: list[str] | None = None) -> list[dict] | None:
    """The released STAR-1 rows, or ``None`` (with a note) when neither mirror, cache nor Hub has it."""
    notes = notes if notes is not None else []
    try:
        path = fetch(STAR1_RELEASE)
    except ResourceError as e:
        notes.append(f"released STAR-1 not available, left out: {e}")
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def category_shares(rows: list[dict], dataset: str) -> pd.DataFrame:
    """Share of samples carrying each category (multi-label: a sample counts once per category).

    Columns: ``dataset``, ``category``, ``label`` (short name), ``count``, ``n_samples``,
    ``pct_of_samples``. The 8 categories always appear (count 0 when absent); "Other" and unknown
    labels appear when present.
    """
    counts: dict[str, int] = {c: 0 for c in CATEGORIES}
    for r in rows:
        for c in dict.fromkeys(parse_labels(r.get("category"))):
            counts[c] = counts.get(c, 0) + 1
    n = len(rows)
    out = []
    for c, k in counts.items():
        if c not in CATEGORIES and k == 0:
            continue
        out.append({"dataset": dataset, "category": c, "label": SHORT_NAMES.get(c, c), "count": k,
                    "n_samples": n, "pct_of_samples": round(100.0 * k / n, 6) if n else 0.0})
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------
# Figure 2
# ---------------------------------------------------------------------------------------------

def figure2_data(run_dir: str | Path | None, include_release: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Category shares of the run's classified collection, its selected set and the release."""
    notes: list[str] = []
    parts = []
    if run_dir is not None:
        run_dir = Path(run_dir)
        for rel, what in ((layout.CLASSIFIED, "collection after classification"),
                          (layout.SELECTED, "selected set")):
            rows = _read_rows(run_dir / rel, notes, f"the run's {what}")
            if rows is not None:
                if rows:
                    parts.append(category_shares(rows, f"{what} (n={len(rows):,})"))
                else:
                    notes.append(f"the run's {what} ({run_dir / rel}) is empty.")
    if include_release:
        rows = load_release(notes)
        if rows is not None:
            parts.append(category_shares(rows, f"released STAR-1 (n={len(rows):,})"))
    cols = ["dataset", "category", "label", "count", "n_samples", "pct_of_samples"]
    return (pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=cols)), notes


def _draw_categories(data: pd.DataFrame, caption: str, title: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    order = [SHORT_NAMES[c] for c in CATEGORIES] + sorted(set(data["label"]) - set(SHORT_NAMES.values()))
    datasets = list(dict.fromkeys(data["dataset"]))
    fig, ax = plt.subplots(figsize=(13, 1.0 + 0.42 * len(order) * max(1.6, len(datasets) * 0.75)))
    sns.barplot(data=data, y="label", x="pct_of_samples", hue="dataset", order=order, hue_order=datasets,
                palette=list(viz.DATASET_COLORS[: len(datasets)]), orient="h", ax=ax, saturation=1.0)
    for container in ax.containers:
        ax.bar_label(container, fmt="%.1f", padding=3, fontsize=11)
    ax.set_xlabel("% of samples with this category (multi-label)")
    ax.set_ylabel("")
    ax.set_xlim(0, max(5.0, float(data["pct_of_samples"].max()) * 1.18))
    ax.set_title(title)
    ax.legend(title=None, loc="lower right", fontsize=12)
    viz.add_caption(fig, caption, width=120)
    fig.tight_layout()
    return fig


def figure2(run_dir: str | Path | None, include_release: bool = True) -> FigureResult:
    """Figure 2: safety-category distributions of the run's collection, selection and the release."""
    data, notes = figure2_data(run_dir, include_release)
    sources = []
    if run_dir is not None:
        sources.append(f"run {Path(run_dir).name}: {layout.CLASSIFIED} and {layout.SELECTED}")
    if include_release:
        sources.append(f"released STAR-1 (UCSC-VLAA/STAR-1, {STAR1_RELEASE.mirror_path}, "
                       f"sha256 {STAR1_RELEASE.sha256[:12]})")
    caption = ("Figure 2 (style of the paper's): share of samples per safety category, one sample counting "
               "once per label. Data: " + "; ".join(sources) + ".")
    if data.empty:
        notes.append("nothing to plot for Figure 2 yet.")
        return FigureResult("figure2_categories", None, data, caption, notes)
    fig = _draw_categories(data, caption, "Safety categories: collection, selected set, released STAR-1")
    return FigureResult("figure2_categories", fig, data, caption, notes)


def figure2_release(draw: bool = True) -> FigureResult:
    """The paper-number version of Figure 2: the released STAR-1 only (for the top-level figures/)."""
    notes: list[str] = []
    rows = load_release(notes)
    caption = (f"Safety categories of the released STAR-1 (1K), computed from UCSC-VLAA/STAR-1 "
               f"(STAR-1.json, sha256 {STAR1_RELEASE.sha256[:12]}); one sample counts once "
               "per label. The paper's Figure 2 values were not readable; these counts are ours.")
    if rows is None:
        cols = ["dataset", "category", "label", "count", "n_samples", "pct_of_samples"]
        return FigureResult("figure2_star1_release", None, pd.DataFrame(columns=cols), caption, notes)
    data = category_shares(rows, f"released STAR-1 (n={len(rows):,})")
    fig = _draw_categories(data, caption, "Safety categories of STAR-1") if draw else None
    return FigureResult("figure2_star1_release", fig, data, caption, notes)


#: The two panels of notebook 04's Figure 2 (before and after selection): title, y label.
SELECTION_PANELS = (("Safety categories (% of labels)", "% of labels"), ("Sources (% of items)", "% of items"))


def label_shares(rows: list[dict], key: str) -> pd.Series:
    """Shares in percent: of all category labels (``key="category"``, short names; a two-label
    item counts twice) or of items per ``source``. Largest first."""
    if key == "category":
        values = pd.Series([SHORT_NAMES.get(c, c) for r in rows for c in r["category"]])
    else:
        values = pd.Series([r["source"] for r in rows])
    return values.value_counts(normalize=True) * 100


def selection_shares(sets: dict[str, list[dict]], sort_by: str,
                     top_sources: int = 12) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Category shares (the 8 categories in label order) and source shares (the ``top_sources``
    biggest in the set ``sort_by``) of each named set, one column per set, 0 where absent."""
    cats = pd.DataFrame({name: label_shares(rows, "category") for name, rows in sets.items()})
    cats = cats.reindex([SHORT_NAMES[c] for c in CATEGORIES]).fillna(0)
    srcs = pd.DataFrame({name: label_shares(rows, "source") for name, rows in sets.items()}).fillna(0)
    return cats, srcs.sort_values(sort_by, ascending=False).head(top_sources)


def _draw_selection_shares(cats: pd.DataFrame, srcs: pd.DataFrame, title: str):
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(16, 5.5))
    for ax, data, (panel, ylabel) in zip(axes, (cats, srcs), SELECTION_PANELS):
        data.plot.bar(ax=ax, rot=35, width=0.8)
        ax.set_title(panel)
        ax.set_ylabel(ylabel)
    for ax, data in zip(axes, (cats, srcs)):
        ax.legend(fontsize=10, loc="upper right", framealpha=0.9)
        ax.set_ylim(0, data.to_numpy().max() * 1.35)  # room for the legend above the bars
        plt.setp(ax.get_xticklabels(), ha="right", fontsize=11)
    fig.suptitle(title, fontsize=15)
    fig.tight_layout()
    return fig


def figure2_selection(classified: list[dict], pool: list[dict], selected: list[dict]) -> FigureResult:
    """Figure 2 as notebook 04 draws it: category shares (% of labels) and source shares (% of
    items) of the classified collection ("Other" already left out), the all-10 pool and the
    selection, side by side, so the effect of the greedy removal (``scorer.py:L208-L236``) shows.

    ``data`` holds both panels: one row per category or source, one column per set.
    """
    sets = {"classified (02)": classified, "all-10 pool": pool, "selected": selected}
    cats, srcs = selection_shares(sets, sort_by="all-10 pool")
    title = (f"Figure 2: classified ({len(classified)}), all-10 pool ({len(pool)}) "
             f"and selected ({len(selected)})")
    data = pd.concat([d.assign(panel=panel) for d, (panel, _) in zip((cats, srcs), SELECTION_PANELS)])
    data = data.rename_axis("label").reset_index()[["panel", "label", *sets]]
    caption = ("Figure 2 (style of the paper's) before and after selection: share of category labels "
               "and of sources in 02_classification/classified.jsonl (no Other), the all-10 pool of "
               "04_selection/scored.jsonl and 04_selection/star1.jsonl.")
    if not classified and not pool:
        return FigureResult("figure2_category_distribution", None, data, caption, ["nothing to plot yet."])
    fig = _draw_selection_shares(cats, srcs, title)
    return FigureResult("figure2_category_distribution", fig, data, caption)


# ---------------------------------------------------------------------------------------------
# Runs: discovery and their metrics
# ---------------------------------------------------------------------------------------------

@dataclass
class RunMetrics:
    """What one run folder holds for the paper comparison."""

    name: str
    path: Path
    safety: dict | None = None  # 06_safety/metrics.json
    reasoning: dict | None = None  # 07_reasoning/metrics.json
    curve: pd.DataFrame | None = None  # 08_overrefusal/benign_mix_curve.csv
    notes: list[str] = field(default_factory=list)

    @property
    def model(self) -> str | None:
        for m in (self.safety, self.reasoning):
            if m and m.get("model"):
                return str(m["model"])
        return None

    @property
    def family(self) -> str | None:
        pf = next((m.get("paper_family") for m in (self.safety, self.reasoning) if m and m.get("paper_family")), None)
        return paper.family_for(self.model, pf)

    @property
    def paper_variant(self) -> str | None:
        """``"R1-Distilled"`` / ``"Instruct"`` when the run evaluated one of the paper's baselines."""
        return paper.identify_model(self.model)[1]

    @property
    def evaluated(self) -> bool:
        return self.safety is not None or self.reasoning is not None

    def values(self) -> dict[str, float]:
        """Benchmark values and the two averages, in percent (NaN where missing)."""
        out: dict[str, float] = {}
        for m, bench, avg in ((self.safety, paper.SAFETY_BENCHMARKS, paper.AVG_SAFETY),
                              (self.reasoning, paper.REASONING_BENCHMARKS, paper.AVG_REASONING)):
            got = _benchmarks(m)
            for b in bench:
                out[b] = got.get(b, float("nan"))
            out[avg] = _average(m, got)
        return out

    def partial_averages(self) -> list[str]:
        """Averages that cover fewer benchmarks than the paper's (not directly comparable)."""
        out = []
        for m, bench, avg in ((self.safety, paper.SAFETY_BENCHMARKS, paper.AVG_SAFETY),
                              (self.reasoning, paper.REASONING_BENCHMARKS, paper.AVG_REASONING)):
            if m is None:
                continue
            got = [b for b in bench if b in _benchmarks(m)]
            if len(got) < len(bench):
                out.append(f"{avg} averages {len(got)} of the paper's {len(bench)} benchmarks ({', '.join(got) or 'none'})")
        return out

    def n(self, kind: str) -> int:
        m = self.safety if kind == "safety" else self.reasoning
        total = 0
        benches = (m or {}).get("benchmarks")
        for v in (benches.values() if isinstance(benches, dict) else ()):
            if isinstance(v, dict) and isinstance(v.get("n"), (int, float)):
                total += int(v["n"])
        return total


def _benchmarks(m: dict | None) -> dict[str, float]:
    out = {}
    benches = (m or {}).get("benchmarks")
    for k, v in (benches.items() if isinstance(benches, dict) else ()):
        val = v.get("value") if isinstance(v, dict) else v
        if isinstance(val, (int, float)):
            out[k] = float(val)
    return out


def _average(m: dict | None, got: dict[str, float]) -> float:
    if m is None:
        return float("nan")
    if isinstance(m.get("average"), (int, float)):
        return float(m["average"])
    return float(sum(got.values()) / len(got)) if got else float("nan")


def read_metrics(path: str | Path, notes: list[str] | None = None) -> dict | None:
    """A ``metrics.json`` (06, 07) or other JSON object written by a stage; ``None`` when absent.

    With ``notes`` (as notebook 09 reads other runs' folders), a file that cannot be read or is not
    a JSON object is left out with a note; without (as notebook 08 reads the sub runs it just
    ran), it raises :class:`star1_utils.run.artifacts.ArtifactError`, so a broken point is never
    read as an unmeasured one.
    """

    path = Path(path)
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        problem = None if isinstance(data, dict) else "is not a JSON object"
    except (OSError, ValueError) as e:
        problem = f"could not be read ({e})"
    if problem is None:
        return data
    if notes is None:
        raise ArtifactError(f"{path} {problem}")
    notes.append(f"{path} {problem}; left out.")
    return None


def read_curve(path: Path, notes: list[str]) -> pd.DataFrame | None:
    """A benign-mix curve, rates in percent (fractions are scaled when each row's three XSTest
    classes sum to 1)."""
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
    except (OSError, ValueError, pd.errors.ParserError) as e:
        notes.append(f"{path} could not be read ({e}); left out.")
        return None
    missing = [c for c in CURVE_COLS if c not in df.columns]
    if missing:
        notes.append(f"{path} lacks column(s) {', '.join(missing)}; left out.")
        return None
    df = df[list(CURVE_COLS)].apply(pd.to_numeric, errors="coerce").sort_values("n_benign").reset_index(drop=True)
    xs = ["xstest_full_compliance", "xstest_full_refusal", "xstest_partial_refusal"]
    sums = df[xs].sum(axis=1)
    if len(df) and ((sums - 1.0).abs() < 0.02).all():  # fractions: the whole file is on a 0-1 scale
        df[xs] = df[xs] * 100.0
        for c in ("avg_safety", "avg_reasoning"):
            if df[c].dropna().le(1.0).all():
                df[c] = df[c] * 100.0
    return df


def read_run(path: str | Path, name: str | None = None) -> RunMetrics:
    """The metrics of one run folder (missing files give ``None``, unreadable ones a note)."""
    path = Path(path)
    run = RunMetrics(name=name or path.name, path=path)
    run.safety = read_metrics(path / layout.SAFETY_METRICS, run.notes)
    run.reasoning = read_metrics(path / layout.REASONING_METRICS, run.notes)
    run.curve = read_curve(path / layout.BENIGN_MIX_CURVE, run.notes)
    return run


def read_base_run(path: str | Path, name: str) -> RunMetrics | None:
    """The untrained base model a run also evaluated (``compare_base``: ``metrics_base.json`` of
    06 and 07), as a run of its own; ``None`` when there is none."""
    path = Path(path)
    files = [path / layout.SAFETY_METRICS_BASE, path / layout.REASONING_METRICS_BASE]
    if not any(f.is_file() for f in files):
        return None
    run = RunMetrics(name=name, path=path)
    run.safety = read_metrics(files[0], run.notes)
    run.reasoning = read_metrics(files[1], run.notes)
    return run


#: The files that make a folder a run with evaluation results, relative to it.
RUN_FILES = (layout.SAFETY_METRICS, layout.REASONING_METRICS, layout.BENIGN_MIX_CURVE)


def _is_run_dir(p: Path) -> bool:
    return any((p / f).is_file() for f in RUN_FILES)


def run_files(runs: Iterable[RunMetrics]) -> list[Path]:
    """The evaluation files of the runs that exist (:data:`RUN_FILES` of each, in order): what the
    figures and the comparison were drawn from, for notebook 09's manifest."""
    return [r.path / f for r in runs for f in RUN_FILES if (r.path / f).is_file()]


def find_runs(roots: Iterable[str | Path] = (), extra: Iterable[str | Path] = (), max_depth: int = 4) -> list[RunMetrics]:
    """Every run folder with evaluation results under ``roots`` (e.g. ``runs/``), plus ``extra``.

    A run folder holds ``06_safety/metrics.json``, ``07_reasoning/metrics.json`` or
    ``08_overrefusal/benign_mix_curve.csv``. Runs nested inside another run (for example the
    benign-mix points of notebook 08) are found too; stage folders without evaluations, caches and
    models are not searched. Names are paths relative to their root. Sorted by name.
    """
    found: dict[Path, RunMetrics] = {}

    def walk(root: Path, prefix: str, include_root: bool) -> None:
        for dirpath, dirnames, _files in os.walk(root):
            d = Path(dirpath)
            depth = len(d.relative_to(root).parts)
            dirnames[:] = sorted(x for x in dirnames if x not in _PRUNE and not x.startswith(".")) \
                if depth < max_depth else []
            if (d != root or include_root) and _is_run_dir(d) and d.resolve() not in found:
                rel = d.relative_to(root).as_posix()
                name = prefix if rel == "." else (f"{prefix}/{rel}" if prefix else rel)
                found[d.resolve()] = read_run(d, name)
                base = read_base_run(d, f"{name} [base model]")
                if base is not None:
                    found[d.resolve() / "[base]"] = base

    for root in roots:
        if Path(root).is_dir():
            walk(Path(root), "", include_root=False)
    runs_root = (project_root() / "runs").resolve()
    for p in extra:
        p = Path(p)
        if p.is_dir():
            try:
                prefix = p.resolve().relative_to(runs_root).as_posix()
            except ValueError:
                prefix = p.name
            walk(p, prefix, include_root=True)
    return sorted(found.values(), key=lambda r: r.name)


# ---------------------------------------------------------------------------------------------
# Figure 3
# ---------------------------------------------------------------------------------------------

def run_gains(runs: Iterable[RunMetrics]) -> tuple[pd.DataFrame, list[str]]:
    """Your runs' gains, in Figure 3's shape, for runs with a Table 1 family.

    A run that evaluated one of the paper's baselines (its model is ``DeepSeek-R1-Distill-*`` or an
    Instruct model) is used as the baseline of its family; otherwise the paper's row is. Columns:
    ``run``, ``model_family``, ``comparison``, ``metric``, ``value``, ``baseline`` (which numbers
    the gain is taken from).
    """
    runs = [r for r in runs if r.evaluated]
    notes: list[str] = []
    if not runs:
        notes.append("no evaluated run found (no 06_safety/metrics.json or 07_reasoning/metrics.json), so "
                     "Figure 3 shows the paper's numbers only; run notebooks 06 and 07 to add yours.")
    measured: dict[tuple[str, str], RunMetrics] = {}
    for r in runs:
        if r.family and r.paper_variant in ("R1-Distilled", "Instruct"):
            measured.setdefault((r.family, r.paper_variant), r)
    rows = []
    for r in runs:
        fam = r.family
        if r.paper_variant in ("R1-Distilled", "Instruct"):
            continue  # a baseline, not a STAR-1 model
        if fam is None:
            notes.append(f"run {r.name}: model {r.model!r} is not one of the paper's base models and its "
                         "metrics name no paper_family, so it is not overlaid on Figure 3 "
                         "(its numbers are in the Table 1 comparison).")
            continue
        vals = r.values()
        for comparison in paper.COMPARISONS:
            variant = comparison.split(" minus ")[1]
            base_run = measured.get((fam, variant))
            for metric, col in (("safety_avg_gain", paper.AVG_SAFETY), ("reasoning_avg_gain", paper.AVG_REASONING)):
                measured_base = base_run.values()[col] if base_run is not None else float("nan")
                if measured_base == measured_base:  # this average of the baseline was measured by a run
                    base_value, blabel = measured_base, f"run {base_run.name}"
                else:
                    base_value, blabel = float(paper.variant_row(fam, variant)[col]), f"paper Table 1 {variant}"
                v = vals[col] - base_value
                if v == v:  # not NaN
                    rows.append({"run": r.name, "model_family": fam, "comparison": comparison,
                                 "metric": metric, "value": round(v, 6), "baseline": blabel})
        if r.safety is None or r.reasoning is None:
            missing = "07_reasoning/metrics.json" if r.safety is not None else "06_safety/metrics.json"
            notes.append(f"run {r.name}: {missing} not found, so only one of its gains is overlaid.")
    cols = ["run", "model_family", "comparison", "metric", "value", "baseline"]
    return pd.DataFrame(rows, columns=cols), notes


def _draw_gains(paper_data: pd.DataFrame, run_data: pd.DataFrame, caption: str):
    import matplotlib.pyplot as plt
    import seaborn as sns

    fams = paper.families()
    metrics = ["safety_avg_gain", "reasoning_avg_gain"]
    names = {"safety_avg_gain": "safety", "reasoning_avg_gain": "reasoning"}
    palette = {m: viz.METRIC_COLORS[names[m]] for m in metrics}
    fig, axes = plt.subplots(1, 2, figsize=(17, 6.8), sharey=True)
    lo = min(-5.0, float(paper_data["value"].min()) - 4, float(run_data["value"].min()) - 4 if len(run_data) else 0)
    hi = max(float(paper_data["value"].max()) + 8, float(run_data["value"].max()) + 8 if len(run_data) else 0)
    markers = ["D", "X", "P", "*", "v", "s"]
    run_names = list(dict.fromkeys(run_data["run"])) if len(run_data) else []
    for ax, comparison in zip(axes, paper.COMPARISONS):
        d = paper_data[paper_data["comparison"] == comparison]
        sns.barplot(data=d, x="model_family", y="value", hue="metric", order=fams, hue_order=metrics,
                    palette=palette, ax=ax, saturation=1.0, errorbar=None)
        for container in ax.containers:
            ax.bar_label(container, fmt="%+.1f", padding=2, fontsize=11)
        means = d.groupby("metric")["value"].mean()
        ax.axhline(0, color="black", lw=1)
        ax.set_title(f"{comparison}\nmean over 5 models: safety {means['safety_avg_gain']:+.1f}, "
                     f"reasoning {means['reasoning_avg_gain']:+.1f}", fontsize=15)
        ax.set_xlabel("")
        ax.set_ylabel("average gain (points)")
        ax.set_ylim(lo, hi)
        ax.tick_params(axis="x", labelsize=12)
        for i, run in enumerate(run_names):
            rd = run_data[(run_data["run"] == run) & (run_data["comparison"] == comparison)]
            for row in rd.itertuples(index=False):
                x = fams.index(row.model_family) + (-0.2 if row.metric == "safety_avg_gain" else 0.2)
                ax.scatter([x], [row.value], marker=markers[i % len(markers)], s=140, color="white",
                           edgecolor="black", linewidth=2, zorder=5,
                           label=f"your run: {run}" if row.metric == "safety_avg_gain" else None)
        handles, labels = ax.get_legend_handles_labels()
        labels = [{"safety_avg_gain": "safety (paper)", "reasoning_avg_gain": "reasoning (paper)"}.get(l, l)
                  for l in labels]
        seen = dict(zip(labels, handles))
        ax.legend(seen.values(), seen.keys(), loc="upper right", fontsize=11, title=None)
    viz.add_caption(fig, caption, width=160)
    fig.tight_layout()
    return fig


FIGURE3_CAPTION = ("Figure 3 (style of the paper's): STAR-1's average safety and reasoning gains per base model, "
                   "computed as differences of the averages in the paper's Table 1 "
                   "(Wang et al. 2025, arXiv 2504.01903, Table 1 as shown on ucsc-vlaa.github.io/STAR-1).")


def figure3(runs: Iterable[RunMetrics] = ()) -> FigureResult:
    """Figure 3 from Table 1, with your runs overlaid (markers) where their metrics allow."""
    gains = paper.figure3_gains().assign(run="paper", baseline="paper Table 1")
    overlay, notes = run_gains(runs)
    caption = FIGURE3_CAPTION
    if len(overlay):
        caption += (" Markers: your runs (06_safety/metrics.json, 07_reasoning/metrics.json), each minus its "
                    "family's baseline (a run of that baseline when one exists, else the paper's row).")
    data = pd.concat([gains, overlay], ignore_index=True)[["run", "model_family", "comparison", "metric",
                                                           "value", "baseline"]]
    return FigureResult("figure3_gains", _draw_gains(gains, overlay, caption), data, caption, notes)


def figure3_paper(draw: bool = True) -> FigureResult:
    """The paper-number version of Figure 3 (for the top-level figures/)."""
    gains = paper.figure3_gains()
    empty = pd.DataFrame(columns=["run", "model_family", "comparison", "metric", "value", "baseline"])
    fig = _draw_gains(gains, empty, FIGURE3_CAPTION) if draw else None
    return FigureResult("figure3_paper_gains", fig, gains, FIGURE3_CAPTION)


def figure3_crosscheck() -> pd.DataFrame:
    """Figure 3 bars computed from Table 1 beside the values printed on the paper's figure."""
    computed = paper.figure3_gains()
    cited = paper.figure3_cited()[["model_family", "comparison", "metric", "value"]]
    out = computed.merge(cited, on=["model_family", "comparison", "metric"], how="left",
                         suffixes=("_from_table1", "_printed"))
    out["difference"] = (out["value_from_table1"] - out["value_printed"]).round(6)
    return out


# ---------------------------------------------------------------------------------------------
# Figure 4
# ---------------------------------------------------------------------------------------------

def figure4_data(runs: Iterable[RunMetrics]) -> tuple[pd.DataFrame, list[str]]:
    """The benign-mix curves of the runs, long: ``run``, ``n_benign``, ``panel``, ``value``."""
    rows, notes = [], []
    runs = list(runs)
    for r in runs:
        if r.curve is None:
            continue
        if r.curve.empty:
            notes.append(f"run {r.name}: 08_overrefusal/benign_mix_curve.csv has no rows.")
            continue
        missing = 0
        for row in r.curve.itertuples(index=False):
            if row.n_benign != row.n_benign:  # NaN
                continue
            over = float(row.xstest_full_refusal) + float(row.xstest_partial_refusal)
            for panel, value in (("over-refusal on XSTest safe prompts (%)", over),
                                 ("average safety (%)", float(row.avg_safety)),
                                 ("average reasoning (%)", float(row.avg_reasoning))):
                if value != value:
                    missing += 1
                    continue
                rows.append({"run": r.name, "n_benign": int(row.n_benign), "panel": panel, "value": value})
        if missing:
            notes.append(f"run {r.name}: {missing} value(s) of its benign-mix curve are empty (not measured) "
                         "and are not plotted.")
    for r in runs:
        notes.extend(n for n in r.notes if "benign_mix_curve" in n)
    if not rows:
        notes.append("no 08_overrefusal/benign_mix_curve.csv found in any run; run notebook 08 to draw Figure 4.")
    return pd.DataFrame(rows, columns=["run", "n_benign", "panel", "value"]), notes


#: Figure 4's three panels, in the paper's order.
CURVE_PANELS = ("over-refusal on XSTest safe prompts (%)", "average safety (%)", "average reasoning (%)")
#: The series of notebook 08's contrast: XSTest's unsafe prompts, where refusing is right.
UNSAFE_REFUSED = "XSTest unsafe prompts refused (refusing is right)"


def curve_points(rows: Iterable[dict], run: str = "trained") -> pd.DataFrame:
    """Notebook 08's benign-mix curve rows (``overrefusal.curve_row``) in Figure 4's long shape,
    with what that notebook knows beyond the CSV: 95% intervals (``low``, ``high``), the training
    rows behind each point, the untrained base model as a reference row (empty ``n_benign``) and
    the refusals of XSTest's unsafe prompts as a contrast series. Unmeasured values are left out.
    """
    out = []
    for r in rows:
        values = ((CURVE_PANELS[0], r.get("xstest_over_refusal"), "xstest_over_refusal_ci95", run),
                  (CURVE_PANELS[1], r.get("avg_safety"), "avg_safety_ci95", run),
                  (CURVE_PANELS[2], r.get("avg_reasoning"), None, run),
                  (CURVE_PANELS[0], r.get("xstest_unsafe_refused"), None, UNSAFE_REFUSED))
        reference = r.get("n_benign") is None
        for panel, value, ci, name in values:
            if value is None or value != value or (reference and name == UNSAFE_REFUSED):
                continue
            out.append({"run": r.get("model", name) if reference else name,
                        "n_benign": None if reference else int(r["n_benign"]), "panel": panel,
                        "value": float(value), "low": r.get(f"{ci}_low") if ci else None,
                        "high": r.get(f"{ci}_high") if ci else None,
                        "n_training_rows": r.get("n_training_rows")})
    cols = ["run", "n_benign", "panel", "value", "low", "high", "n_training_rows"]
    return pd.DataFrame(out, columns=cols).astype({"n_benign": "float", "low": "float", "high": "float"})


def _tick_labels(points: pd.DataFrame, amounts: list[float]) -> list[str]:
    """Each benign amount, with the training rows behind it below when the data gives them."""
    if "n_training_rows" not in points:
        return [f"{int(n)}" for n in amounts]
    rows = points.dropna(subset=["n_training_rows"]).groupby("n_benign")["n_training_rows"].first()
    return [f"{int(n)}" + (f"\n({int(rows[n])} rows)" if n in rows.index else "") for n in amounts]


def _draw_curves(data: pd.DataFrame, caption: str, title: str = ""):
    """Figure 4's one drawer (notebooks 08 and 09): the three panels against the benign amount.

    ``data`` is long (``run``, ``n_benign``, ``panel``, ``value``; optional ``low`` and ``high``,
    a 95% interval drawn as error bars, and ``n_training_rows`` for the tick labels). Amounts sit
    at evenly spaced positions, so close amounts (0, 50, 55) stay readable; rows with an empty
    ``n_benign`` are references (the untrained base model), drawn as dotted lines. One run takes
    each panel's colour; several take one colour and line style each; the :data:`UNSAFE_REFUSED`
    contrast is a grey dashed line, as it is not a run.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    colors = [viz.METRIC_COLORS["over-refusal"], viz.METRIC_COLORS["safety"], viz.METRIC_COLORS["reasoning"]]
    points, refs = data[data["n_benign"].notna()], data[data["n_benign"].isna()]
    amounts = sorted(set(points["n_benign"]))
    where = {n: i for i, n in enumerate(amounts)}
    run_names = [r for r in dict.fromkeys(points["run"]) if r != UNSAFE_REFUSED]
    if UNSAFE_REFUSED in set(points["run"]):
        run_names.append(UNSAFE_REFUSED)
    n_runs = len(run_names) - (UNSAFE_REFUSED in run_names)
    styles = ["-", "--", ":", "-."]
    fig, axes = plt.subplots(1, 3, figsize=(18, 5.8))
    for ax, panel, color in zip(axes, CURVE_PANELS, colors):
        d = points[points["panel"] == panel]
        for i, run in enumerate(run_names):
            rd = d[d["run"] == run].sort_values("n_benign")
            if rd.empty:
                continue
            xs, ys = [where[n] for n in rd["n_benign"]], rd["value"].to_numpy()
            err = None
            if {"low", "high"} <= set(rd.columns) and rd[["low", "high"]].notna().all().all():
                err = [(ys - rd["low"].to_numpy()).clip(min=0), (rd["high"].to_numpy() - ys).clip(min=0)]
            style = {"color": color if n_runs == 1 else viz.DATASET_COLORS[i % len(viz.DATASET_COLORS)],
                     "marker": "osD^v"[i % 5], "markersize": 10 - i % 4, "lw": 2.5,
                     "linestyle": styles[i % len(styles)]}
            if run == UNSAFE_REFUSED:
                style = {"color": "0.55", "marker": "s", "markersize": 7, "lw": 1.5, "linestyle": "--"}
            ax.errorbar(xs, ys, yerr=err, capsize=4, alpha=0.9, **style,
                        label=run + (", with 95% interval" if err is not None else ""))
            for x, y in zip(xs, ys):
                ax.annotate(f"{y:.0f}", (x, y), xytext=(7, 4), textcoords="offset points", fontsize=10)
        if d.empty:
            ax.text(0.5, 0.5, "not measured at the curve points", ha="center", va="center",
                    transform=ax.transAxes, fontsize=12, color="0.4")
        for ref in refs[refs["panel"] == panel].itertuples(index=False):
            ax.axhline(ref.value, color="0.3", ls=":", lw=1.5, label=f"{ref.run}: {ref.value:.0f}")
        ax.set_title(panel, fontsize=15)
        ax.set_xlabel("benign samples added to the selected set (1K in the paper)", fontsize=12)
        ax.set_xticks(range(len(amounts)), _tick_labels(points, amounts))
        ax.set_xlim(-0.5, len(amounts) - 0.5)
        ax.set_ylim(-5, 110)
        if (len(run_names) > 1 or len(refs)) and ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=10, title=None, loc="best")
        sns.despine(ax=ax)
    if title:
        fig.suptitle(title, fontsize=16)
    viz.add_caption(fig, caption, width=170)
    fig.tight_layout()
    return fig


def figure4_curve(rows: Iterable[dict], title: str = "") -> FigureResult:
    """Figure 4 of one run as notebook 08 draws it, from its curve rows (:func:`curve_points`)."""
    data = curve_points(rows)
    caption = ("Figure 4 (style of the paper's): the paper (Sec. 4.3) mixes 915 benign look-alikes into the 1K "
               "to lower over-refusal while keeping safety; its Figure 4 values could not be read, so none "
               "are drawn. Dotted: the untrained base model; error bars: 95% intervals.")
    return FigureResult("fig4_benign_mix_curve", _draw_curves(data, caption, title), data, caption)


def figure4(runs: Iterable[RunMetrics]) -> FigureResult:
    """Figure 4: over-refusal, safety and reasoning against the number of benign samples."""
    runs = list(runs)
    data, notes = figure4_data(runs)
    shown = set(data["run"]) if not data.empty else set()
    demo_runs = [r.name for r in runs if r.name in shown and any(m and m.get("demo") for m in (r.safety, r.reasoning))]
    caption = ("Figure 4 (style of the paper's): over-refusal (XSTest safe prompts judged full or partial refusal), "
               "average safety and average reasoning against the number of benign samples mixed into training. "
               "Data: 08_overrefusal/benign_mix_curve.csv of " +
               (", ".join(f"run {r}" for r in dict.fromkeys(data["run"])) or "no run") +
               ". The paper's Figure 4 values were not readable, so no paper numbers are shown.")
    if demo_runs:
        caption += (f" Demo runs ({', '.join(demo_runs)}) use a tiny student and stand-in judges: their values show "
                    "the pipeline at work, not STAR-1's effect.")
    if data.empty:
        return FigureResult("figure4_benign_mix", None, data, caption, notes)
    return FigureResult("figure4_benign_mix", _draw_curves(data, caption), data, caption, notes)


# ---------------------------------------------------------------------------------------------
# Table 1 comparison
# ---------------------------------------------------------------------------------------------

def comparison_table(runs: Iterable[RunMetrics]) -> tuple[pd.DataFrame, list[str]]:
    """Every evaluated run beside the paper's Table 1 rows for its base model.

    One row per run (``source`` = ``your run``) followed by the paper's Instruct, R1-Distilled and
    STAR-1 rows of its family (``source`` = ``paper``). Values in percent; NaN where not measured.
    """
    rows, notes = [], []
    evaluated = [r for r in runs if r.evaluated]
    if not evaluated:
        notes.append("no evaluated run found (no 06_safety/metrics.json or 07_reasoning/metrics.json); "
                     "run notebooks 06 and 07 to compare your models with Table 1.")
    for r in evaluated:
        notes.extend(f"run {r.name}: {n}" for n in r.notes if "benign_mix_curve" not in n)
        notes.extend(f"run {r.name}: {n}, so it is not directly comparable with the paper's." for n in r.partial_averages())
        fam = r.family
        rows.append({"run": r.name, "source": "your run", "model": r.model or "?", "paper_family": fam or "",
                     "n_safety": r.n("safety"), "n_reasoning": r.n("reasoning"), **r.values()})
        if fam is None:
            notes.append(f"run {r.name}: no paper row (model {r.model!r} is not one of Table 1's base models "
                         "and its metrics name no paper_family).")
            continue
        for variant, vals in paper.table1_rows(fam, TABLE_COLS).iterrows():
            rows.append({"run": r.name, "source": "paper", "model": f"{paper.model_of(fam, variant)} ({variant})",
                         "paper_family": fam, "n_safety": 1033, "n_reasoning": 12994,
                         **{c: float(vals[c]) for c in TABLE_COLS}})
    cols = ["run", "source", "model", "paper_family", "n_safety", "n_reasoning"] + TABLE_COLS
    return pd.DataFrame(rows, columns=cols), notes


def style_comparison(table: pd.DataFrame):
    """The comparison as a pandas Styler: one decimal, your runs in bold, averages shaded."""
    shown = table.set_index(["run", "source", "model"]).drop(columns=["paper_family"])
    styler = shown.style.format("{:.1f}", subset=TABLE_COLS, na_rep="–")
    styler = styler.format("{:,.0f}", subset=["n_safety", "n_reasoning"], na_rep="–")
    avgs = [paper.AVG_SAFETY, paper.AVG_REASONING]
    styler = styler.background_gradient(cmap="Blues", subset=avgs, vmin=0, vmax=100)

    def bold_runs(row):
        return ["font-weight: bold" if row.name[1] == "your run" else "" for _ in row]

    styler = styler.apply(bold_runs, axis=1)
    return styler.set_caption("Your runs beside the paper's Table 1 rows for the same base model "
                              f"(paper: {paper.CITATION}). Values in %; n = prompts evaluated "
                              "(the paper: 1,033 safety, 12,994 reasoning).")


# ---------------------------------------------------------------------------------------------
# The committed top-level figures and their fingerprints
# ---------------------------------------------------------------------------------------------

FINGERPRINTS = "fingerprints.json"


def top_level_dir() -> Path:
    """The committed figures folder (``figures/``; ``STAR1_FIGURES_DIR`` overrides it, e.g. in tests)."""
    value = os.environ.get("STAR1_FIGURES_DIR", "").strip()
    return Path(value).expanduser() if value else project_root() / "figures"


def _code_sha256() -> str:
    """Hash of the drawing code of the paper-number figures (a change makes them stale)."""
    funcs = (viz.set_style, viz.save_figure, viz.add_caption, _draw_categories, _draw_gains,
             category_shares, figure2_release, figure3_paper, paper.figure3_gains)
    text = "\n".join(inspect.getsource(f) for f in funcs)
    text += json.dumps([viz.METRIC_COLORS, list(viz.DATASET_COLORS), FIGURE3_CAPTION], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _data_sha256(result: FigureResult) -> str:
    text = result.data.to_csv(index=False, float_format="%.6f") + "\n" + result.caption
    return hashlib.sha256(text.encode()).hexdigest()


def paper_figures(draw: bool = True) -> list[FigureResult]:
    """The figures that need nothing but the paper's numbers and the released data.

    Draw them inside ``matplotlib.rc_context`` after ``viz.set_style()`` (as
    :func:`write_paper_figures` does) so that their bytes do not depend on the caller's style.
    """
    return [figure2_release(draw), figure3_paper(draw)]


def _versions() -> dict[str, str]:
    import matplotlib
    import seaborn

    return {"matplotlib": matplotlib.__version__, "seaborn": seaborn.__version__}


def read_fingerprints(out_dir: str | Path | None = None) -> dict:
    path = Path(out_dir or top_level_dir()) / FINGERPRINTS
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def write_paper_figures(out_dir: str | Path | None = None, force: bool = False,
                        formats: Iterable[str] = ("png", "pdf")) -> dict[str, str]:
    """Write the paper-number figures to the top-level ``figures/`` when stale; returns name -> status.

    A figure is rewritten only when its plotted data, its caption or its drawing code changed (or
    a file is missing or was edited), so rerunning the notebook leaves the committed bytes alone
    on any machine. ``fingerprints.json`` records the data and code hashes and each file's SHA-256.
    """
    import matplotlib.pyplot as plt

    out_dir = Path(out_dir or top_level_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    with plt.rc_context():  # the committed bytes never depend on the caller's style
        viz.set_style()
        return _write_paper_figures(out_dir, force, formats)


def _write_paper_figures(out_dir: Path, force: bool, formats: Iterable[str]) -> dict[str, str]:
    import matplotlib.pyplot as plt

    prints = read_fingerprints(out_dir)
    code = _code_sha256()
    status = {}
    for result, draw in zip(paper_figures(draw=False), (figure2_release, figure3_paper)):
        if result.data.empty:
            status[result.name] = "not drawn (committed files kept): " + "; ".join(result.notes)
            continue
        data = _data_sha256(result)
        old = prints.get(result.name, {})
        files_ok = bool(old.get("files")) and all(
            (out_dir / f).is_file() and sha256_file(out_dir / f) == h for f, h in old["files"].items())
        if not force and files_ok and old.get("data_sha256") == data and old.get("code_sha256") == code:
            status[result.name] = "up to date"
            continue
        fig = draw().fig
        paths = viz.save_figure(fig, out_dir / result.name, formats=formats)
        plt.close(fig)
        prints[result.name] = {"data_sha256": data, "code_sha256": code,
                               "files": {p.name: sha256_file(p) for p in paths},
                               "caption": result.caption, **_versions()}
        status[result.name] = "written"
    with atomic_write(out_dir / FINGERPRINTS) as f:
        f.write(json.dumps(prints, indent=2, sort_keys=True) + "\n")
    return status


def stale_paper_figures(out_dir: str | Path | None = None, read_bytes=None) -> list[str]:
    """Why the committed paper-number figures are stale (empty list: they are current).

    Checks, per figure, that ``fingerprints.json`` matches the data and drawing code of today and
    that every recorded file exists with its recorded SHA-256. A figure whose data cannot be had
    here (the released STAR-1 offline without a mirror) is not judged. ``read_bytes(name)`` reads a
    file of the folder (default: the working tree; tests pass one that reads the git HEAD, so the
    check is about the *committed* files). Fix: ``python -m star1_utils.report.figures`` and commit figures/.
    """
    out_dir = Path(out_dir or top_level_dir())
    if read_bytes is None:
        def read_bytes(name: str) -> bytes | None:
            p = out_dir / name
            return p.read_bytes() if p.is_file() else None
    raw = read_bytes(FINGERPRINTS)
    try:
        prints = json.loads(raw.decode("utf-8")) if raw else {}
    except ValueError:
        prints = {}
    code = _code_sha256()
    reasons = []
    for result in paper_figures(draw=False):
        if result.data.empty:
            continue
        old = prints.get(result.name)
        if not old:
            reasons.append(f"{result.name}: not in {out_dir / FINGERPRINTS}")
            continue
        if old.get("data_sha256") != _data_sha256(result):
            reasons.append(f"{result.name}: its data changed since it was drawn")
        if old.get("code_sha256") != code:
            reasons.append(f"{result.name}: its drawing code changed since it was drawn")
        for f, h in (old.get("files") or {}).items():
            content = read_bytes(f)
            if content is None:
                reasons.append(f"{result.name}: {f} is missing")
            elif hashlib.sha256(content).hexdigest() != h:
                reasons.append(f"{result.name}: {f} differs from the recorded bytes")
    return reasons


if __name__ == "__main__":  # python -m star1_utils.report.figures [--force]: refresh the committed figures
    import sys

    for name, state in write_paper_figures(force="--force" in sys.argv[1:]).items():
        print(f"{name}: {state}")
