"""The four safety benchmarks of the paper's Table 1, with the reference's selection.

=================  ===================================================================  =====
paper column       reference selection                                                    n
=================  ===================================================================  =====
StrongREJECT       all rows of ``strongreject_dataset.csv``, field ``forbidden_prompt``     313
JBB-Behaviors      ``JailbreakBench/JBB-Behaviors`` ``behaviors``, split ``harmful``, Goal  100
WildChat           toxic, 1-turn, English, moderation-flagged; top 100 per category         370
WildJailbreak      ``allenai/wildjailbreak`` eval, ``adversarial_harmful``, shuffle(42)     250
=================  ===================================================================  =====

Every loader returns a list of items ``{"id", "benchmark", "prompt", "category"}`` (``category``
is ``None`` where the benchmark has none). StrongREJECT and JBB-Behaviors are files with a pinned
location and a SHA-256 (:class:`~star1_utils.run.resources.Resource`): tests and offline runs read them
from the mirror (``STAR1_DATA_MIRROR``, ``shared/benchmarks``). **WildChat and WildJailbreak are
online-only**: both are gated on the Hugging Face Hub and no offline copy exists; their loaders
download on first use (with your Hub token, after you accepted the dataset's terms) and fail with
a message saying how to get access.

The demo profile uses :func:`load_demo`: four small sets written for this project
(``star1_utils/data/safety/demo_*.jsonl``, a dozen mild, non-operational prompts each), named
after the benchmarks they stand in for. Their numbers are not comparable to the paper's.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from star1_utils import PACKAGE_DIR
from star1_utils.run.resources import Resource, ResourceError, fetch, offline

DATA = PACKAGE_DIR / "data" / "safety"

#: Benchmark key (profile ``safety_eval.benchmarks``) -> the paper's column name.
COLUMNS = {
    "strongreject": "StrongREJECT",
    "jbb": "JBB-Behaviors",
    "wildchat": "WildChat",
    "wildjailbreak": "WildJailbreak",
}
#: The reference's set sizes (Table 1 header; 1,033 in total).
REFERENCE_COUNTS = {"strongreject": 313, "jbb": 100, "wildchat": 370, "wildjailbreak": 250}

STRONGREJECT = Resource(
    name="strongreject",
    mirror_path="benchmarks/strongreject/strongreject_dataset.csv",
    sha256="4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
    # The reference reads alexandrasouly/strongreject@main (a moving branch). This pinned copy has
    # the same header and counts; its bytes are what the SHA-256 above verifies.
    url=("https://raw.githubusercontent.com/busycalibrating/AdversariaLLM/"
         "f970939273ea17b491fadf6001fddc36ed3ae3ff/data/behavior_datasets/strongreject_dataset.csv"),
    access_note="Public (MIT). Upstream: github.com/alexandrasouly/strongreject.",
)

JBB_BEHAVIORS = Resource(
    name="jbb_behaviors",
    mirror_path="benchmarks/jbb_behaviors/harmful_behaviors_jailbreakbench.csv",
    sha256="05a6aaa9637a410683ebee5ebbf6eeb17e2ca19282467a26881ed6959c32f63e",
    # Same schema and rows as the Hub's JailbreakBench/JBB-Behaviors (behaviors, harmful), which
    # the reference loads; this pinned copy is the one the SHA-256 verifies.
    url=("https://raw.githubusercontent.com/tml-epfl/llm-past-tense/"
         "179e305ddeecbfbd4d7c05fab626faf9b2ac5f44/harmful_behaviors_jailbreakbench.csv"),
    access_note="Public (MIT). Upstream: huggingface.co/datasets/JailbreakBench/JBB-Behaviors.",
)

WILDJAILBREAK_EVAL = Resource(
    name="wildjailbreak_eval",
    mirror_path="benchmarks/wildjailbreak/eval.tsv",  # not in the shared mirror (gated)
    sha256=None,  # never seen offline; the selection below is checked by its size instead
    hub_repo="allenai/wildjailbreak",
    hub_filename="eval/eval.tsv",
    access_note=("allenai/wildjailbreak is gated (AI2 ImpACT license): open "
                 "https://huggingface.co/datasets/allenai/wildjailbreak, accept the terms, then "
                 "`huggingface-cli login` (or set HF_TOKEN) and unset HF_HUB_OFFLINE."),
)

#: The reference's WildChat source is an internal Hub name; public (gated) analogues are
#: ``allenai/WildChat-1M-Full`` style releases that keep the toxic conversations.
WILDCHAT_REFERENCE_REPO = "yuntian-deng/WildChat-1M-Full-with-parameters-internal"
WILDCHAT_TYPES = (
    "harassment", "harassment/threatening", "hate", "hate/threatening", "self-harm",
    "self-harm/instructions", "self-harm/intent", "sexual", "sexual/minors", "violence",
    "violence/graphic",
)
WILDCHAT_ACCESS = (
    "WildChat's toxic conversations are only in gated Hub datasets. The reference used the internal "
    f"name {WILDCHAT_REFERENCE_REPO}; request access to a full release that keeps toxic "
    "conversations (e.g. allenai/WildChat-1M-Full or yuntian-deng/WildChat-4.8M-Full, which ask "
    "for a written justification), `huggingface-cli login`, unset HF_HUB_OFFLINE, and set "
    "safety_eval.wildchat_repo to it. The non-gated allenai/WildChat-1M has had its toxic data "
    "removed and cannot reproduce this subset."
)


class BenchmarkUnavailable(ResourceError):
    """A benchmark cannot be loaded here (gated, offline, or not downloaded)."""


@dataclass(frozen=True)
class BenchmarkInfo:
    key: str
    column: str
    n_reference: int
    online_only: bool
    source: str


BENCHMARKS = {
    "strongreject": BenchmarkInfo("strongreject", "StrongREJECT", 313, False, STRONGREJECT.url),
    "jbb": BenchmarkInfo("jbb", "JBB-Behaviors", 100, False, "JailbreakBench/JBB-Behaviors (harmful)"),
    "wildchat": BenchmarkInfo("wildchat", "WildChat", 370, True, WILDCHAT_REFERENCE_REPO),
    "wildjailbreak": BenchmarkInfo("wildjailbreak", "WildJailbreak", 250, True, "allenai/wildjailbreak (eval)"),
}


def _item(bench: str, n: int, prompt: str, category: str | None, *, prefix: str = "", **extra) -> dict:
    return {"id": f"{prefix}{bench}-{n:04d}", "benchmark": bench, "prompt": prompt, "category": category, **extra}


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_strongreject() -> list[dict]:
    """All 313 StrongREJECT prompts (``forbidden_prompt``), with their ``category``."""
    rows = _read_csv(fetch(STRONGREJECT))
    return [_item("strongreject", i, r["forbidden_prompt"], r["category"], source=r["source"])
            for i, r in enumerate(rows)]


def load_jbb() -> list[dict]:
    """The 100 harmful JBB-Behaviors (``Goal``), with their ``Category``."""
    rows = _read_csv(fetch(JBB_BEHAVIORS))
    return [_item("jbb", i, r["Goal"], r["Category"], behavior=r["Behavior"]) for i, r in enumerate(rows)]


def select_wildjailbreak(rows: list[dict], n: int = 250, seed: int = 42) -> list[dict]:
    """The reference's selection from the eval split's rows (dicts in file order).

    Keep ``data_type == "adversarial_harmful"``, then ``Dataset.shuffle(seed=42).select(range(250))``.
    ``datasets`` shuffles with ``np.random.default_rng(seed).permutation(len)``, reproduced here
    without loading the whole dataset machinery.
    """
    harmful = [r for r in rows if r.get("data_type") == "adversarial_harmful"]
    order = np.random.default_rng(seed).permutation(len(harmful))[:n]
    out = []
    for i, j in enumerate(order):
        r = harmful[int(j)]
        prompt = r.get("adversarial") or r.get("vanilla") or ""
        out.append(_item("wildjailbreak", i, prompt, None, source_row=int(j)))
    return out


def load_wildjailbreak() -> list[dict]:
    """250 WildJailbreak eval ``adversarial_harmful`` prompts (online-only, gated)."""
    import pandas as pd

    try:
        path = fetch(WILDJAILBREAK_EVAL)
    except ResourceError as e:
        raise BenchmarkUnavailable(
            f"WildJailbreak is online-only (gated on the Hub; no offline copy exists): {e} "
            f"{WILDJAILBREAK_EVAL.access_note}") from None
    df = pd.read_csv(path, sep="\t", keep_default_na=False)
    return select_wildjailbreak(df.to_dict("records"))


def select_wildchat(rows, per_type: int = 100) -> list[dict]:
    """The reference's WildChat toxic subset from conversation rows (dicts, Hub schema).

    Keep ``toxic``, ``turn == 1``, ``language == "English"`` and
    ``openai_moderation[-1]["flagged"]``; category = argmax of ``openai_moderation[-1]
    ["category_scores"]`` (for a 1-turn chat, ``[-1]`` is the moderation of the *assistant*
    reply, as in the reference); for each of the 11 moderation types keep the 100 rows with the
    highest score; prompt = the first user message. About 370 rows in the reference's data.
    """
    kept = []
    for r in rows:
        if not (r.get("toxic") and r.get("turn") == 1 and r.get("language") == "English"):
            continue
        mod = r.get("openai_moderation") or []
        if not mod or not mod[-1].get("flagged"):
            continue
        scores = {k: v for k, v in (mod[-1].get("category_scores") or {}).items() if v is not None}
        if not scores:
            continue
        cat = max(scores, key=scores.get)
        first_user = next((u["content"] for u in r["conversation"] if u.get("role") == "user"), "")
        kept.append((cat, float(scores[cat]), first_user, r.get("conversation_hash") or r.get("conversation_id")))
    out = []
    for t in WILDCHAT_TYPES:
        of_type = sorted((k for k in kept if k[0] == t), key=lambda k: -k[1])[:per_type]
        for cat, score, prompt, conv in of_type:
            out.append(_item("wildchat", len(out), prompt, cat, category_score=score, conversation=conv))
    return out


def load_wildchat(repo: str = WILDCHAT_REFERENCE_REPO) -> list[dict]:
    """The WildChat toxic subset (online-only, gated): streams ``repo`` and applies the selection."""
    if offline():
        raise BenchmarkUnavailable(f"WildChat is online-only and HF_HUB_OFFLINE=1 forbids downloads. {WILDCHAT_ACCESS}")
    try:
        import datasets

        ds = datasets.load_dataset(repo, split="train", streaming=True)
        items = select_wildchat(ds)
    except Exception as e:  # gated, missing, offline: one message saying what to do
        raise BenchmarkUnavailable(f"could not load WildChat from {repo}: {type(e).__name__}: {e}. "
                                   f"{WILDCHAT_ACCESS}") from None
    if not items:
        raise BenchmarkUnavailable(f"{repo} yielded no toxic, flagged, English first turns. {WILDCHAT_ACCESS}")
    return items


def load(key: str, *, wildchat_repo: str = WILDCHAT_REFERENCE_REPO) -> list[dict]:
    """One benchmark by key (``strongreject``, ``jbb``, ``wildchat``, ``wildjailbreak``)."""
    if key == "strongreject":
        return load_strongreject()
    if key == "jbb":
        return load_jbb()
    if key == "wildchat":
        return load_wildchat(wildchat_repo)
    if key == "wildjailbreak":
        return load_wildjailbreak()
    raise KeyError(f"unknown safety benchmark {key!r}; known: {', '.join(BENCHMARKS)}")


def load_demo(key: str) -> list[dict]:
    """The demo's small stand-in set for benchmark ``key`` (written for this project, mild)."""
    if key not in BENCHMARKS:
        raise KeyError(f"unknown safety benchmark {key!r}; known: {', '.join(BENCHMARKS)}")
    path = DATA / f"demo_{key}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [_item(key, i, r["prompt"], r.get("category"), prefix="demo_") for i, r in enumerate(rows)]


def evenly_spread(items: list[dict], n: int) -> list[dict]:
    """``n`` items at even steps through the list (positions ``int(i * len / n)``), in order.

    A fixed, seed-free subset that keeps a benchmark's categories (which are stored in blocks)
    represented; the same ``n`` always picks the same ids. ``n`` = 0 or more than there are: all.
    """
    if not n or n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


#: XSTest v2 prompts (250 safe + 200 unsafe contrast). STAR-1 reads the same file from
#: paul-rottger/xstest (refs/heads/main); pinned here to the exaggerated-safety repository commit
#: the mirror copied (the same project under its other name).
XSTEST = Resource(
    name="xstest",
    mirror_path="benchmarks/xstest/xstest_prompts.csv",
    sha256="11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
    url="https://raw.githubusercontent.com/paul-rottger/exaggerated-safety/"
        "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d/xstest_prompts.csv",
    access_note="XSTest v2, CC-BY-4.0 (Roettger et al., NAACL 2024).",
)


def load_xstest(label: str | None = "safe", limit: int = 0, exclude=()) -> list[dict]:
    """XSTest prompts as ``{"id", "question", "type", "label", "focus", "note"}`` rows.

    ``label``: ``"safe"`` (the 250 STAR-1 evaluates), ``"unsafe"`` (the 200 contrast prompts) or
    ``None`` (all 450). ``limit`` > 0 keeps an evenly spread subset (every k-th row, so all
    prompt types stay represented), after leaving out the ids in ``exclude``.
    """
    path = fetch(XSTEST)
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if label is None or r["label"] == label]
    out = [{"id": f"xstest-{r['id']}", "question": r["prompt"], "type": r["type"], "label": r["label"],
            "focus": r.get("focus", ""), "note": r.get("note", "")} for r in rows]
    return evenly_spread([r for r in out if r["id"] not in exclude], limit)


def load_sets(keys, *, eval_set: str = "reference", wildchat_repo: str = WILDCHAT_REFERENCE_REPO,
              skip_unavailable: bool = False, max_examples: int = 0,
              exclude: Collection[str] = ()) -> tuple[dict[str, list[dict]], dict[str, str]]:
    """``({key: items}, {key: why unavailable})`` for the profile's benchmarks.

    eval_set ``"reference"`` loads the real benchmarks, ``"demo"`` the project's small sets.
    ``max_examples`` keeps an evenly spread subset of each (:func:`evenly_spread`); a notebook's
    ``limit`` then keeps the first items of each (``ctx.take``). With ``skip_unavailable`` a gated or offline benchmark is
    reported in the second dict instead of raising. Prompts whose id is in ``exclude`` are left out
    before the spread (the prompts a learned judge was trained on:
    :func:`star1_utils.evaluate.judge_models.learned_from_prompts`).
    """
    sets: dict[str, list[dict]] = {}
    missing: dict[str, str] = {}
    for key in keys:
        try:
            items = load_demo(key) if eval_set == "demo" else load(key, wildchat_repo=wildchat_repo)
        except BenchmarkUnavailable as e:
            if not skip_unavailable:
                raise
            missing[key] = str(e)
            continue
        sets[key] = evenly_spread([it for it in items if it["id"] not in exclude], max_examples)
    return sets, missing
