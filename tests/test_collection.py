"""Section 2.1: filter semantics, exactness against dense reference loops,
decontamination against the real test sets from the mirror, bad input, and notebook 01's artifacts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from star1_utils.dataset import collection, dedup

# ---------------------------------------------------------------------------------------------
# n-gram filters
# ---------------------------------------------------------------------------------------------


def test_short_prompts_are_never_ngram_flagged():
    short = "how do i pick a lock"  # 6 words
    assert dedup.word_ngrams(short, 8) == []
    assert dedup.ngram_self_flags([short] * 4, 8).n_removed == 0
    assert dedup.ngram_self_flags([short] * 4, 8, reference_compat=True).n_removed == 0
    assert dedup.ngram_cross_flags([short], [short], 8).n_removed == 0
    # with n <= its length the same prompt is flagged
    assert dedup.ngram_self_flags([short] * 4, 6).n_removed == 3


def test_normalisation_keeps_punctuation():
    assert dedup.normalize_string("  How   To\tDO it? ") == "how to do it?"
    a = "one two three four five six seven eight?"
    b = "one two three four five six seven eight"
    assert dedup.ngram_cross_flags([a], [b], 8).n_removed == 0
    assert dedup.ngram_cross_flags([a.upper()], [a], 8).n_removed == 1


def test_self_ngram_default_keeps_earliest_and_compat_replays_set_pop():
    rows = [f"filler text number {i} that is long enough here" for i in range(17)]
    rows[9] = rows[16] = "an identical prompt with more than eight words in it"
    default = dedup.ngram_self_flags(rows, 8)
    compat = dedup.ngram_self_flags(rows, 8, reference_compat=True)
    assert np.flatnonzero(default.removed).tolist() == [16]
    assert {9, 16}.pop() == 16  # CPython: lowest hash slot, not the earliest
    assert np.flatnonzero(compat.removed).tolist() == [9]


def test_self_ngram_compat_can_remove_every_copy():
    # three prompts overlapping pairwise through different 5-grams: a set.pop() per n-gram can
    # spare a different member each time, so all three may go; the default always keeps row 0
    a = "alpha beta gamma delta epsilon zeta eta theta"
    b = "gamma delta epsilon zeta eta theta iota kappa"
    c = "alpha beta gamma delta epsilon iota kappa lambda"
    rows = [a, b, c]
    assert not dedup.ngram_self_flags(rows, 5).removed[0]
    compat = dedup.ngram_self_flags(rows, 5, reference_compat=True)
    assert compat.n_removed >= 1  # whatever set.pop() spares, it is replayed with CPython itself


def test_cross_ngram_one_shared_window_is_enough():
    test = ["please write me a short rude poem about my noisy upstairs neighbor"]
    train = ["Could you write me a short rude poem about a noisy cat", "a different request entirely here ok"]
    assert dedup.ngram_cross_flags(train, test, 8).removed.tolist() == [False, False]
    train2 = ["write me a short rude poem about my noisy upstairs neighbor now"]
    assert dedup.ngram_cross_flags(train2, test, 8).removed.tolist() == [True]


# ---------------------------------------------------------------------------------------------
# greedy self-filter
# ---------------------------------------------------------------------------------------------


def test_greedy_compares_only_with_kept_rows_and_depends_on_order():
    # cos(A,B) = 0.8, cos(B,C) = 0.8, cos(A,C) = 0.28: A kept, B dropped, C kept (B was dropped)
    a = np.array([1.0, 0.0])
    b = np.array([0.8, 0.6])
    c = np.array([0.28, 0.96])
    v = np.stack([a, b, c])
    assert dedup.greedy_self_filter(v, 0.7).tolist() == [0, 2]
    assert dedup.greedy_self_filter(v[[1, 0, 2]], 0.7).tolist() == [0]  # B first: A and C both dropped


def test_tie_exactly_at_threshold_is_removed():
    v = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]])
    assert float(v[0] @ v[1]) == 0.6
    assert dedup.greedy_self_filter(v, 0.6).tolist() == [0, 2]
    assert dedup.greedy_self_filter(v, np.nextafter(0.6, 1)).tolist() == [0, 1]
    # sparse input, same tie
    assert dedup.greedy_self_filter(sp.csr_matrix(v), 0.6).tolist() == [0, 2]
    removed, partner, sim = dedup.cross_max_similarity(v[1:], v[:1], 0.6)
    assert removed.tolist() == [True, False] and partner[0] == 0 and sim[0] == 0.6


def test_float32_shortcut_rechecked_in_float64():
    # a pair whose float64 cosine is just below the threshold while float32 rounds it up
    rng = np.random.default_rng(3)
    base = rng.normal(size=384)
    base /= np.linalg.norm(base)
    noise = rng.normal(size=384)
    noise -= (noise @ base) * base
    noise /= np.linalg.norm(noise)
    t = 0.7
    theta = np.arccos(t)
    v2 = np.cos(theta) * base + np.sin(theta) * noise
    v = np.stack([base, v2])
    exact = float(dedup._exact_pairs64(v, v, np.array([1]), np.array([0]))[0])  # the float64 re-check value
    assert abs(float(v.astype(np.float32)[0] @ v.astype(np.float32)[1]) - exact) < dedup.FLOAT32_SLACK
    assert dedup.greedy_self_filter(v, exact).tolist() == [0]  # at the threshold: removed
    # one ulp above: float32 cannot tell the difference, the float64 re-check keeps row 1
    assert dedup.greedy_self_filter(v, np.nextafter(exact, 2)).tolist() == [0, 1]
    assert dedup.greedy_self_filter(v, t - 1e-3).tolist() == [0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dense_vectors_identical_to_dense_reference_loop(seed):
    rng = np.random.default_rng(seed)
    n, d = 900, 24
    e = rng.normal(size=(n, d))
    dup = rng.random(n) < 0.4
    src = (rng.random(n) * np.arange(n)).astype(int)
    e[dup] = e[src[dup]] + rng.uniform(0.3, 1.0, size=(dup.sum(), 1)) * rng.normal(size=(dup.sum(), d))
    e = dedup.normalize_rows(e)
    ref = dedup.dense_reference_greedy(e @ e.T, 0.7)
    for block in (1, 37, 4096):
        assert np.array_equal(dedup.greedy_self_filter(e, 0.7, block_size=block), ref)


def _random_texts(n, seed):
    rng = np.random.default_rng(seed)
    stop = "how can i to the a of and in for my someone".split()
    vocab = [f"w{i}" for i in range(400)]
    out = []
    for _ in range(n):
        if out and rng.random() < 0.35:
            words = out[rng.integers(len(out))].split()
            words[rng.integers(len(words))] = vocab[rng.integers(len(vocab))]
        else:
            words = [stop[rng.integers(len(stop))] if rng.random() < 0.4 else vocab[min(int(rng.zipf(1.3)), 399)]
                     for _ in range(rng.integers(3, 16))]
        out.append(" ".join(words))
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_sparse_tfidf_identical_to_dense_reference_loop(seed):
    from sklearn.metrics.pairwise import cosine_similarity

    texts = _random_texts(1200, seed)
    x = dedup.tfidf_vectors(texts)
    sim = cosine_similarity(x)  # what the reference builds (float64, dense)
    ref = dedup.dense_reference_greedy(sim, 0.6)
    for block in (50, 4096):
        assert np.array_equal(dedup.greedy_self_filter(x, 0.6, block_size=block), ref)
    # and every neighbour pair with its exact similarity
    ri, ci, vals = dedup.sparse_pairs(x, x, 0.6, lower=True)
    ii, kk = np.nonzero(np.tril(sim, -1) >= 0.6)
    key = np.argsort(ri * len(texts) + ci)
    assert np.array_equal(ri[key], ii) and np.array_equal(ci[key], kk)
    assert np.array_equal(vals[key], (x @ x.T).toarray()[ii, kk])


def test_tfidf_cross_filter_matches_dense():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.metrics.pairwise import cosine_similarity

    texts = _random_texts(700, 5)
    test, train = texts[:200], texts[200:]
    x = TfidfVectorizer().fit_transform(test + train)
    sim = cosine_similarity(x[:200], x[200:])
    want = np.any(sim >= 0.6, axis=0)
    got = dedup.tfidf_cross_filter(train, test, 0.6, block_size=64)
    assert np.array_equal(got.removed, want)
    for j, s in got.similarity.items():
        assert s == pytest.approx(sim[:, j].max(), abs=1e-12)


def test_reference_row_order_replays_cpython_sets():
    assert dedup.reference_row_order(10, [3]) == [0, 1, 2, 4, 5, 6, 7, 8, 9]
    n = 200_000
    removed = np.arange(n)[np.arange(n) % 4 != 0]  # 75 % removed
    order = dedup.reference_row_order(n, removed)
    assert sorted(order) == list(range(0, n, 4))
    assert order != sorted(order)  # hash order once most rows are removed
    mask = np.zeros(n, bool)
    mask[removed] = True
    assert dedup.kept_order(n, mask).tolist() == list(range(0, n, 4))


# ---------------------------------------------------------------------------------------------
# test sets from the mirror
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_tests(mirror):
    return collection.load_test_sets(["StrongREJECT", "JBBBehaviours", "XSTest"])


def test_real_test_sets_have_reference_sizes(real_tests):
    assert {k: len(v) for k, v in real_tests.items()} == {"StrongREJECT": 313, "JBBBehaviours": 100, "XSTest": 250}
    assert sum(s.expected for s in collection.PAPER_TEST_SETS) == 2355


def test_decontamination_against_real_test_sets(real_tests):
    sr = real_tests["StrongREJECT"]
    jbb = real_tests["JBBBehaviours"]
    xs = real_tests["XSTest"]
    test = sr + jbb + xs
    long_sr = next(q for q in sr if len(q.split()) >= 12)
    reworded = " ".join(reversed(jbb[0].split()))  # same words, no shared 8-gram
    short_xs = next(q for q in xs if len(q.split()) < 8)
    train = [long_sr, "  " + long_sr.upper() + "  ", reworded, short_xs,
             "Write a short poem about autumn leaves falling in a quiet park."]
    ng = dedup.ngram_cross_flags(train, test, 8)
    assert ng.removed.tolist() == [True, True, False, False, False]
    tf = dedup.tfidf_cross_filter(train, test, 0.6)
    assert tf.removed.tolist() == [True, True, True, True, False]
    assert tf.similarity[2] >= 0.6 and test[tf.partner[2]] == jbb[0]


def test_harmbench_source_from_mirror(mirror):
    spec = next(s for s in collection.PAPER_SOURCES if s.name == "HarmBench")
    src = collection.load_paper_source(spec)
    assert len(src.questions) == 300 and src.filtered_out == 100  # contextual behaviours dropped


def test_paper_sources_in_reference_order_and_offline_is_clear(monkeypatch):
    names = [s.name for s in collection.PAPER_SOURCES]
    assert names[:3] == ["GPTFuzz", "SimpleSafetyTests", "MaliciousInstruct"] and names[-1] == "wildjailbreak"
    assert len(names) == 18
    assert [s.ngram for s in collection.PAPER_SOURCES][-3:] == [6, 5, 5]
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(collection.SourceUnavailable, match="sources cannot be loaded.*silently"):
        collection.load_paper_sources(["SimpleSafetyTests", "AttaQ"])
    with pytest.raises(collection.SourceUnavailable, match="wildjailbreak"):
        collection.load_test_sets(["wildjailbreak"])


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def test_bad_input_names_source_file_and_row(tmp_path):
    spec = next(s for s in collection.DEMO_SOURCES if s.name == "QACollection")
    f = tmp_path / "qa_collection.jsonl"
    _jsonl(f, [{"id": "a", "question": "ok question", "is_safe": False}, {"id": "b", "is_safe": False}])
    with pytest.raises(collection.CollectionInputError, match=r"QACollection: .*qa_collection.jsonl: row 2: missing"):
        collection.load_demo_source(spec, tmp_path)
    _jsonl(f, [{"id": "a", "question": 5, "is_safe": False}])
    with pytest.raises(collection.CollectionInputError, match="row 1: question is int"):
        collection.load_demo_source(spec, tmp_path)
    _jsonl(f, [{"id": "a", "question": "x", "is_safe": False}, {"id": "a", "question": "y", "is_safe": False}])
    with pytest.raises(collection.CollectionInputError, match="row 2: duplicate id 'a' .first seen in row 1"):
        collection.load_demo_source(spec, tmp_path)
    _jsonl(f, [{"id": "a", "question": "kept", "is_safe": False}, {"id": "b", "question": " \t", "is_safe": False},
               {"id": "c", "question": "benign", "is_safe": True}])
    src = collection.load_demo_source(spec, tmp_path)
    assert src.questions == ["kept"] and src.filtered_out == 1
    assert src.dropped_empty == [{"source": "QACollection", "file": str(f), "row": 2}]


# ---------------------------------------------------------------------------------------------
# the demo corpus and the pipeline
# ---------------------------------------------------------------------------------------------


def test_demo_corpus_shape():
    sources = [collection.load_demo_source(s) for s in collection.DEMO_SOURCES]
    assert len(sources) >= 6
    assert sum(len(s.questions) for s in sources) >= 300
    qs, _ = collection.load_demo_test()
    assert len(qs) >= 10


def test_pipeline_without_embeddings_every_step_counted():
    sources = [collection.load_demo_source(s) for s in collection.DEMO_SOURCES]
    qs, _ = collection.load_demo_test()
    res = collection.run_filters(sources, {"demo_test": qs}, embed_fn=None, log=lambda _m: None)
    tot = collection.funnel_total(res.funnel)
    for a, b in [("non_empty", "self_ngram"), ("self_ngram", "ngram_vs_test"),
                 ("ngram_vs_test", "tfidf_vs_test"), ("tfidf_vs_test", "tfidf_self")]:
        assert tot[a] > tot[b], (a, b, tot)
    assert len(res.rows) == tot["embedding_vs_test"] == tot["tfidf_self"]
    assert [r["id"] for r in res.rows] == [str(i) for i in range(len(res.rows))]
    assert tot["loaded"] - tot["non_empty"] == len(res.dropped_empty) == 2
    compat = collection.run_filters(sources, {"demo_test": qs}, reference_compat=True, embed_fn=None,
                                    log=lambda _m: None)
    assert len(compat.rows) == len(res.rows)  # few rows removed: CPython keeps ascending order here


def test_embedding_cache_by_content_hash(tmp_path):
    texts = ["How could someone spread a false rumor about a classmate?", "How do I bake bread?"]
    e1, cached1 = collection.embed(texts, "sentence-transformers/all-MiniLM-L6-v2", tmp_path, progress=False)
    e2, cached2 = collection.embed(texts, "sentence-transformers/all-MiniLM-L6-v2", tmp_path, progress=False)
    assert (cached1, cached2) == (False, True) and np.allclose(e1, e2)
    assert e1.shape == (2, 384) and np.allclose(np.linalg.norm(e1, axis=1), 1)
    assert len(list(tmp_path.glob("*.npy"))) == 1


def test_notebook_01_artifacts(tmp_path):
    from star1_utils.run import artifacts
    from star1_utils.run.runner import run

    lines: list[str] = []
    results = run(profile="demo", notebooks="00,01", run_dir=str(tmp_path), echo=lines.append)
    assert [r.status for r in results] == ["ok", "ok"], "\n".join(lines)
    nb01 = results[1]
    assert nb01.seconds <= 90, f"notebook 01 took {nb01.seconds:.0f} s (budget 60 s on an idle CPU)"
    rows = artifacts.read_jsonl(tmp_path / "01_collection" / "collected.jsonl", required=["id", "question", "source"])
    assert [r["id"] for r in rows] == [str(i) for i in range(len(rows))]
    assert {r["source"] for r in rows} == {s.name for s in collection.DEMO_SOURCES}
    m = json.loads((tmp_path / "01_collection" / "manifest.json").read_text())
    assert m["status"] == "complete" and m["counts"]["out"] == len(rows)
    assert m["counts"]["empty_dropped"] == 2 and len(m["dropped_empty"]) == 2
    steps = [k for k, _ in collection.STEPS]
    counts = [m["counts"][f"after_{k}"] for k in steps]
    assert all(a > b for a, b in zip(counts, counts[1:])), counts
    removed = artifacts.read_jsonl(tmp_path / "01_collection" / "removed.jsonl")
    assert {r["step"] for r in removed} == set(steps[2:])
    assert (tmp_path / "figures" / "01_collection_funnel.png").is_file()


def test_hexphi_reader_in_reference_mode_reads_as_the_hub_csv_reader(tmp_path):
    """collection.reference_compat: a HEx-PHI file is read as pandas (the Hub's CSV reader,
    collect_data.py:146-157) reads it: whitespace-only lines skipped, the first line last, and a
    field pandas reads as missing (NA, null) stops the run naming the file and row; the suite's
    default keeps every line as a string."""
    import pandas as pd

    path = tmp_path / "category_1.csv"
    path.write_text('First prompt\nsecond\n   \n"quoted, comma"\n\nlast\n')
    df = pd.read_csv(path)  # what load_dataset(..., streaming=True) yields row by row
    reference = df.iloc[:, 0].tolist() + [df.columns[0]]
    recs, _ = collection._records_headerless_csv(path, header_last=True)
    assert [r.value for r in recs] == reference
    ours, _ = collection._records_headerless_csv(path)
    assert [r.value for r in ours] == ["First prompt", "second", "   ", "quoted, comma", "", "last"]
    path.write_text("First prompt\nsecond\nNA\nnull\n")
    recs, _ = collection._records_headerless_csv(path, header_last=True)
    assert pd.read_csv(path).iloc[:, 0].isna().tolist() == [False, True, True]
    with pytest.raises(collection.CollectionInputError, match=r"category_1.csv: row 3: missing question"):
        collection.validate(recs, "HExPHI", keep_empty=True)


def _reference_embedding_functions(encodings: dict[str, np.ndarray], tmp_path):
    """The reference's two embedding filters (data_collection/utils.py), compiled from its source
    with a stand-in SentenceTransformer whose encode returns the given float32 vectors."""
    import ast
    import os
    from pathlib import Path

    from sentence_transformers import util

    class FakeModel:
        def __init__(self, name):
            pass

        def encode(self, texts):
            return np.stack([encodings[t] for t in texts])

    class FakeDs:
        def select(self, ids):
            return sorted(ids)

    src = Path(__file__).resolve().parents[2] / "shared/reference/star1-code/data_making/data_collection/utils.py"
    if not src.is_file():
        pytest.skip(f"the reference code is not available at {src}")
    tree = ast.parse(src.read_text())
    ns = {"np": np, "util": util, "SentenceTransformer": FakeModel, "os": os, "tqdm": lambda x, **k: x,
          "print": lambda *a, **k: None}
    for name in ("self_sentence_embedding_similarity", "sentence_embedding_similarity"):
        node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
        exec(compile(ast.Module(body=[node], type_ignores=[]), str(src), "exec"), ns)
    cache = str(tmp_path / "sim.npy")
    return (lambda qs, t: ns["self_sentence_embedding_similarity"](qs, FakeDs(), t, cache_file=cache),
            lambda train, test, t: ns["sentence_embedding_similarity"](train, test, FakeDs(), t))


def _near_threshold_pairs(n_pairs: int, threshold: float, seed: int = 0) -> np.ndarray:
    """Float32 vectors in pairs whose cosine lies within a few 1e-7 of ``threshold``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_pairs):
        u = rng.normal(size=384)
        u /= np.linalg.norm(u)
        w = rng.normal(size=384)
        w -= (w @ u) * u
        w /= np.linalg.norm(w)
        c = threshold + rng.uniform(-3e-7, 3e-7)
        v = c * u + np.sqrt(1 - c * c) * w
        scale = rng.uniform(0.5, 2.0, size=2)  # raw encoder vectors are not unit
        out += [u * scale[0], v * scale[1]]
    return np.asarray(out, dtype=np.float32)


def test_embedding_filters_in_reference_mode_decide_as_the_reference_does(tmp_path):
    """collection.reference_compat: the float32 util.cos_sim and float32 comparison of the
    reference (utils.py:16-17, :57-62) on pairs within 3e-7 of the threshold, where the suite's
    default float64 re-check decides many of them the other way."""
    t = 0.7
    emb = _near_threshold_pairs(300, t)
    texts = [f"q{i}" for i in range(len(emb))]
    ref_self, ref_cross = _reference_embedding_functions(dict(zip(texts, emb)), tmp_path)
    theirs = ref_self(texts, t)
    ours = dedup.reference_embedding_self_filter(emb, t, block_size=64).kept.tolist()
    assert ours == theirs
    default = dedup.greedy_self_filter(dedup.normalize_rows(emb), t, block_size=64).tolist()
    assert default != theirs  # the difference the switch exists for
    train, test = texts[1::2], texts[0::2]
    theirs = ref_cross(train, test, t)
    f = dedup.reference_embedding_cross_filter(emb[1::2], emb[0::2], t, block_size=64)
    assert np.flatnonzero(~f.removed).tolist() == theirs
