"""Section 2.3 of the paper: the accuracy filter and the diversity selection of the 1K (notebook 04).

STAR-1 keeps an item only when its three scorer grades are all 10 and none of its categories is
"Other" (:func:`accuracy_filter`), then removes items one at a time until ``target_size`` remain
(:func:`select_diverse`). Each step scores every remaining item with

    P(source) x sum over the item's categories of P(category)

where ``P(source)`` is the share of remaining items from that source and ``P(category)`` is the
number of remaining items whose list contains the category divided by the total number of labels
of the remaining items (multi-label items count once per category). The item with the highest
score goes; ties go to the earliest position. No quotas, no seed: the result is deterministic
(reference: ``data_making/data_selection/scorer.py:L208-L236``).

The reference rescans every item each step, O(n^2): about 20-30 minutes at 41K.
:func:`select_diverse` returns the identical selection in O((n - k) x G): the score only depends
on the item's group ``(source, category list)``, so it keeps one queue of positions per group and
scores the G groups per step (vectorised), with the **same floating-point expression** as the
reference (left-to-right sum of the per-category probabilities, then the product), so ties break
bit-exactly as they do there. :func:`reference_select_diverse` is a direct port of the reference
loop, kept for tests and the benchmark (``benchmarks/bench_selection.py``).

:func:`replay` runs filter and selection on released, already-scored data: STAR-41K from the Hub
when online (:data:`STAR_41K`), or the released STAR-1 from the mirror (:data:`STAR_1`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from star1_utils.dataset.policies import CATEGORIES, OTHER
from star1_utils.dataset.release import STAR1_RELEASE
from star1_utils.run.resources import Resource, fetch

#: The scorer's three criteria (the keys of ``score``), in the reference's order.
SCORE_KEYS: tuple[str, ...] = (
    "Content_Safety_Compliance",
    "Relevancy_and_No_Redundant_Content",
    "Accuracy_of_Thinking_Process",
)

#: The released STAR-1 (1,000 rows, all scores 10), as shipped in the reference repository.
STAR_1 = STAR1_RELEASE
#: STAR-41K on the Hugging Face Hub: every scored item (the reference's ``data_with_score.json``).
#: Its hash and file name are not pinned here (no copy was reachable offline to verify them; the
#: Hub's push_to_hub layout is assumed): check the repository's file list once online and pass
#: your own Resource with a ``sha256`` to pin it.
STAR_41K = Resource(
    name="star41k",
    mirror_path="star1/STAR-41K.parquet",
    sha256=None,
    hub_repo="UCSC-VLAA/STAR-41K",
    hub_filename="data/train-00000-of-00001.parquet",
    access_note="public dataset UCSC-VLAA/STAR-41K on the Hugging Face Hub",
)


# --------------------------------------------------------------------------- accuracy filter

def is_all_ten(record: dict, reference: bool = False) -> bool:
    """True when the three scores are present and all equal 10.

    ``reference=True`` (``selection.lenient_scores = false``) applies the reference's test to the
    score as the scorer wrote it (``scoring.parse_score_reference``): every value of the dict
    equals 10, whatever its keys (``scorer.py:195-198``; ``10.0`` passes, so does ``{}``).
    The two agree on every default-mode score, which always holds the three integer grades.
    """
    score = record.get("score")
    if not isinstance(score, dict):
        return False
    if reference:
        return all(v == 10 for v in score.values())
    return all(k in score for k in SCORE_KEYS) and all(score[k] == 10 for k in SCORE_KEYS)


def accuracy_filter(records: Iterable[dict], reference: bool = False) -> list[dict]:
    """The reference's "ensuring accuracy" step (``all_10.json``): order preserved.

    Keep an item iff "Other" is not among its categories and all three scores are 10
    (``reference``: see :func:`is_all_ten`).
    """
    return [r for r in records if OTHER not in (r.get("category") or []) and is_all_ten(r, reference)]


# --------------------------------------------------------------------------- diversity selection

def _check(records: Sequence[dict]) -> None:
    for n, r in enumerate(records):
        if not isinstance(r.get("category"), list) or not r["category"]:
            raise ValueError(f"record {n} (id {r.get('id')!r}) needs a non-empty category list")
        if "source" not in r:
            raise ValueError(f"record {n} (id {r.get('id')!r}) has no source")


class _Groups:
    """The records indexed by group ``(source, category list)``, the only thing a score depends on.

    ``members[g]``: the group's positions, ascending. ``g_src`` / ``g_combo``: each group's source
    and category-list index. ``combo_cats``: (C, width) category indices per category list, padded
    with ``n_cat`` (a slot that always holds 0.0). ``combo_unique``: each list's distinct categories.
    """

    def __init__(self, records: Sequence[dict]):
        src_ix: dict[Any, int] = {}
        cat_ix: dict[str, int] = {c: i for i, c in enumerate(CATEGORIES)}
        combo_ix: dict[tuple, int] = {}
        group_ix: dict[tuple[int, int], int] = {}
        self.members: list[list[int]] = []
        for pos, r in enumerate(records):
            s = src_ix.setdefault(r["source"], len(src_ix))
            cats = tuple(r["category"])
            for c in cats:
                cat_ix.setdefault(c, len(cat_ix))
            k = combo_ix.setdefault(cats, len(combo_ix))
            g = group_ix.setdefault((s, k), len(group_ix))
            if g == len(self.members):
                self.members.append([])
            self.members[g].append(pos)

        self.n_src = len(src_ix)
        self.n_cat = n_cat = len(cat_ix)
        combos = list(combo_ix)
        self.width = max(len(c) for c in combos)
        # x + 0.0 == x exactly, so the padded left-to-right sum equals the reference's sum([...]).
        self.combo_cats = np.full((len(combos), self.width), n_cat, dtype=np.int64)
        for k, cats in enumerate(combos):
            self.combo_cats[k, : len(cats)] = [cat_ix[c] for c in cats]
        self.combo_unique = [np.array(sorted({cat_ix[c] for c in cats}), dtype=np.int64) for cats in combos]
        G = len(self.members)
        self.g_src = np.empty(G, dtype=np.int64)
        self.g_combo = np.empty(G, dtype=np.int64)
        for (s, k), g in group_ix.items():
            self.g_src[g], self.g_combo[g] = s, k

    def counts(self) -> tuple[np.ndarray, np.ndarray]:
        """(items per source, items per category) over all records: the reference's ``source_num``
        and ``cat_num`` (a multi-label item counts once per distinct category)."""
        src_count = np.zeros(self.n_src, dtype=np.int64)
        cat_count = np.zeros(self.n_cat, dtype=np.int64)
        for g in range(len(self.members)):
            src_count[self.g_src[g]] += len(self.members[g])
            cat_count[self.combo_unique[self.g_combo[g]]] += len(self.members[g])
        return src_count, cat_count


def select_diverse_indices(records: Sequence[dict], target_size: int = 1000) -> list[int]:
    """Positions (ascending) of the items :func:`select_diverse` keeps."""
    n = len(records)
    if n <= target_size:
        return list(range(n))
    _check(records)
    if target_size < 0:
        raise ValueError("target_size must be >= 0")

    groups = _Groups(records)
    members, g_src, g_combo = groups.members, groups.g_src, groups.g_combo
    combo_cats, combo_unique, n_cat, width = groups.combo_cats, groups.combo_unique, groups.n_cat, groups.width
    src_count, cat_count = groups.counts()
    sum_count = int(cat_count.sum())

    G = len(members)
    ptr = [0] * G
    head = np.array([m[0] for m in members], dtype=np.int64)  # earliest remaining position
    NONE = np.iinfo(np.int64).max
    dead = np.zeros(G, dtype=bool)
    removed = np.zeros(n, dtype=bool)
    cat_prob = np.zeros(n_cat + 1, dtype=np.float64)
    remaining = n

    while remaining > target_size:
        # The reference's expressions, per group: cat_num[c] / sum_count, count(s) / len(data),
        # source_prob * sum([category_prob[c] for c in cats]). IEEE division and products of the
        # same operands give the same doubles in numpy as in Python.
        np.divide(cat_count, sum_count, out=cat_prob[:n_cat])
        src_prob = src_count / remaining
        csum = cat_prob[combo_cats[:, 0]]
        for j in range(1, width):
            csum = csum + cat_prob[combo_cats[:, j]]
        score = src_prob[g_src] * csum[g_combo]
        score[dead] = -np.inf
        best = score.max()
        ties = np.flatnonzero(score == best)
        g = int(ties[0]) if len(ties) == 1 else int(ties[np.argmin(head[ties])])
        # Remove the group's earliest remaining item (the earliest position among the ties).
        pos = members[g][ptr[g]]
        removed[pos] = True
        ptr[g] += 1
        if ptr[g] < len(members[g]):
            head[g] = members[g][ptr[g]]
        else:
            head[g] = NONE
            dead[g] = True
        src_count[g_src[g]] -= 1
        uniq = combo_unique[g_combo[g]]
        cat_count[uniq] -= 1
        sum_count -= len(uniq)
        remaining -= 1
    return np.flatnonzero(~removed).tolist()


def select_diverse(records: Sequence[dict], target_size: int = 1000) -> list[dict]:
    """The reference's "ensuring diversity" selection (``star1_high.json``), fast and identical.

    records: items with ``source`` and a non-empty ``category`` list, in the order the reference
    would hold them (the all-10 file's order). Returns the ``target_size`` kept records in their
    original order (all of them when there are not more than ``target_size``).
    """
    records = list(records)
    return [records[i] for i in select_diverse_indices(records, target_size)]


def reference_select_diverse(records: Sequence[dict], target_size: int = 1000) -> list[dict]:
    """A direct port of the reference loop (O(n^2)): for tests and the benchmark only.

    Every step recounts categories and sources over all remaining items and removes
    ``data[item_prob.index(max(item_prob))]``.
    """
    data = list(records)
    cats_all = list(CATEGORIES) + sorted({c for r in data for c in r["category"]} - set(CATEGORIES))
    while len(data) > target_size:
        cat_num = {c: 0 for c in cats_all}
        source_num: dict[Any, int] = {}
        for item in data:
            for c in cats_all:
                if c in item["category"]:
                    cat_num[c] += 1
            source_num[item["source"]] = source_num.get(item["source"], 0) + 1
        sum_count = sum(cat_num.values())
        category_prob = {c: cat_num[c] / sum_count for c in cats_all}
        source_prob = {s: source_num[s] / len(data) for s in source_num}
        item_prob = [source_prob[item["source"]] * sum([category_prob[c] for c in item["category"]])
                     for item in data]
        data.pop(item_prob.index(max(item_prob)))
    return data


def greedy_trace(records: Sequence[dict], target_size: int) -> list[dict]:
    """Step-by-step account of the removal on a small example (for teaching; O(n^2)).

    One entry per step: ``{"step", "scores": {id: score}, "removed": id, "P_source", "P_category"}``.
    """
    data = list(records)
    steps = []
    while len(data) > target_size:
        cats_all = sorted({c for r in data for c in r["category"]})
        cat_num = {c: sum(1 for r in data if c in r["category"]) for c in cats_all}
        sum_count = sum(cat_num.values())
        category_prob = {c: cat_num[c] / sum_count for c in cats_all}
        sources = sorted({r["source"] for r in data})
        source_prob = {s: sum(1 for r in data if r["source"] == s) / len(data) for s in sources}
        item_prob = [source_prob[r["source"]] * sum([category_prob[c] for c in r["category"]]) for r in data]
        i = item_prob.index(max(item_prob))
        steps.append({"step": len(steps) + 1, "scores": {r["id"]: p for r, p in zip(data, item_prob)},
                      "removed": data[i]["id"], "P_source": source_prob, "P_category": category_prob})
        data.pop(i)
    return steps


# --------------------------------------------------------------------------- replay on released data

def load_released(resource: Resource = STAR_1) -> list[dict]:
    """Rows of a released, already-scored file (JSON list or JSON lines), verified via ``fetch``."""
    path = Path(fetch(resource))
    if path.suffix == ".parquet":
        import pandas as pd

        def plain(v):
            if hasattr(v, "tolist"):
                v = v.tolist()
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items() if x is not None}
            return v

        return [{k: plain(v) for k, v in row.items()} for row in pd.read_parquet(path).to_dict("records")]
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def replay(records: Sequence[dict] | None = None, target_size: int = 1000,
           resource: Resource = STAR_1) -> dict:
    """Filter and select on released scored data: ``{"scored", "all_10", "selected"}`` lists.

    With ``records=None`` the rows come from ``resource`` (the released STAR-1 by default;
    :data:`STAR_41K` online reproduces STAR-1 from the full scored set).
    """
    rows = list(records) if records is not None else load_released(resource)
    all_10 = accuracy_filter(rows)
    return {"scored": rows, "all_10": all_10, "selected": select_diverse(all_10, target_size)}


def composition(records: Iterable[dict]) -> dict:
    """Counts by source, by category label and by number of labels (for tables and Figure 2)."""
    from collections import Counter

    recs = list(records)
    return {
        "n": len(recs),
        "sources": dict(Counter(r["source"] for r in recs).most_common()),
        "categories": dict(Counter(c for r in recs for c in r["category"]).most_common()),
        "labels_per_item": dict(sorted(Counter(len(r["category"]) for r in recs).items())),
    }
