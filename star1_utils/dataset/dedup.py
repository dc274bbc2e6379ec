"""Deduplication and decontamination filters of STAR-1 Section 2.1, exact and memory-bounded.

The reference (``data_making/data_collection/{decontaminate,utils}.py``) uses
five kinds of filter. This module implements each with the same decision rule, without ever
building an n x n (or test x train) similarity matrix:

* word n-gram self dedup (:func:`ngram_self_flags`) and n-gram overlap with a test side
  (:func:`ngram_cross_flags`). Texts are normalised (lower case, stripped, whitespace collapsed,
  punctuation kept); a text with fewer than ``n`` words has no n-grams and is never flagged.
* TF-IDF cosine against a test side (:func:`tfidf_cross_filter`): the vectorizer is fitted on
  test + train of this call (as the reference does), a train row is dropped when its cosine to
  any test row is ``>=`` the threshold.
* the greedy self-filter (:func:`greedy_self_filter`): keep the first row in row order, drop a
  later row whose cosine to any already **kept** row is ``>=`` the threshold ("leader clustering").
  Rows are processed block by block: each block is compared with the rows kept so far and with
  the earlier rows of the block, then decided in order. Memory is O(block x n), never O(n^2).
* embedding cosine against a test side (:func:`cross_max_similarity`).

Exactness. Sparse TF-IDF products are computed in float64 exactly as the reference's
``cosine_similarity`` (scipy sums each pair's terms in the same order, so a block product gives
the same bits as the full product). Dense vectors are multiplied in float32 for speed with a
slack below the threshold, and every candidate pair is re-checked in float64, so a pair sitting
exactly at the threshold is removed as with ``>=``.

Row order. The reference re-orders rows through ``list(set(range(n)) - removed)`` after every
filter (CPython hash order once most rows are removed) and keeps whichever document
``set.pop()`` returns in the self n-gram dedup. By default we keep ascending row order and the
earliest document (a documented deviation); ``reference_compat=True`` replays both behaviours
with CPython's own sets (:func:`reference_row_order`, :func:`ngram_self_flags`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

#: Float32 dot products of unit vectors are accurate to about 1e-6 for 384 dims; candidate pairs
#: within this slack below the threshold are re-checked in float64.
FLOAT32_SLACK = 1e-4


# --------------------------------------------------------------------------------------------
# n-gram primitives (decontaminate.py)
# --------------------------------------------------------------------------------------------

def normalize_string(text: str) -> str:
    """``lower().strip()``, then whitespace runs collapsed to one space. Punctuation is kept."""
    return " ".join(text.lower().strip().split())


def word_ngrams(text: str, n: int) -> list[str]:
    """All contiguous windows of ``n`` words of the (already normalised) text.

    A text with fewer than ``n`` words has none, so no n-gram filter can ever flag it.
    """
    words = text.split()
    return [" ".join(words[i:i + n]) for i in range(len(words) - n + 1)]


@dataclass
class Flags:
    """Result of a flagging filter: which rows are removed and, for each, one row that caused it."""

    removed: np.ndarray  # bool mask over the input rows
    partner: dict[int, int] = field(default_factory=dict)  # removed row -> a matching row (other side)
    similarity: dict[int, float] = field(default_factory=dict)  # removed row -> its similarity

    @property
    def n_removed(self) -> int:
        return int(self.removed.sum())

    def kept(self) -> np.ndarray:
        return np.flatnonzero(~self.removed)


def ngram_self_flags(texts: Sequence[str], n: int, reference_compat: bool = False) -> Flags:
    """Self n-gram dedup: for every word n-gram shared by several texts, all but one are flagged.

    Default: the earliest text of each group is spared, so the earliest text of every connected
    group of overlapping texts survives. ``reference_compat=True`` replays the reference exactly:
    CPython ``set.pop()`` on the group's id set spares the id in the lowest hash slot (not the
    earliest: ``{9, 16}.pop() == 16``), and with three or more overlapping texts every copy can be
    removed. Flags are unioned over all n-grams in both modes.
    """
    removed = np.zeros(len(texts), dtype=bool)
    partner: dict[int, int] = {}
    if not reference_compat:
        first: dict[str, int] = {}
        for j, text in enumerate(texts):
            for g in word_ngrams(normalize_string(text), n):
                owner = first.setdefault(g, j)
                if owner != j and not removed[j]:
                    removed[j] = True
                    partner[j] = owner
        return Flags(removed, partner)
    lookup: dict[str, set[int]] = defaultdict(set)
    for j, text in enumerate(texts):
        for g in word_ngrams(normalize_string(text), n):
            lookup[g].add(j)
    for ids in lookup.values():
        if len(ids) > 1:
            spared = ids.pop()
            for j in ids:
                if not removed[j]:
                    removed[j] = True
                    partner[j] = spared
    return Flags(removed, partner)


class NgramIndex:
    """The n-grams of a growing "test side" (test sets, then every kept source appended)."""

    def __init__(self, n: int, texts: Iterable[str] = ()) -> None:
        self.n = n
        self.owner: dict[str, int] = {}
        self.size = 0
        self.add(texts)

    def add(self, texts: Iterable[str]) -> None:
        for text in texts:
            for g in word_ngrams(normalize_string(text), self.n):
                self.owner.setdefault(g, self.size)
            self.size += 1

    def flags(self, texts: Sequence[str]) -> Flags:
        """Flag every text owning at least one n-gram of the index (partner: the first owner)."""
        removed = np.zeros(len(texts), dtype=bool)
        partner: dict[int, int] = {}
        for j, text in enumerate(texts):
            for g in word_ngrams(normalize_string(text), self.n):
                owner = self.owner.get(g)
                if owner is not None:
                    removed[j] = True
                    partner[j] = owner
                    break
        return Flags(removed, partner)


def ngram_cross_flags(train: Sequence[str], test: Sequence[str], n: int = 8) -> Flags:
    """Flag every train text sharing at least one word n-gram with any test text."""
    return NgramIndex(n, test).flags(train)


# --------------------------------------------------------------------------------------------
# similarity blocks
# --------------------------------------------------------------------------------------------

def _is_sparse(x) -> bool:
    return sp.issparse(x)


def _as_rows(vectors):
    if _is_sparse(vectors):
        x = sp.csr_matrix(vectors, dtype=np.float64)
        x.sort_indices()
        return x
    x = np.asarray(vectors)
    if x.ndim != 2:
        raise ValueError(f"vectors must be a 2-D array or sparse matrix, got shape {x.shape}")
    return x


def _exact_pairs64(a64: np.ndarray, b64: np.ndarray, ri: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Float64 dot products of selected row pairs (the re-check of float32 candidates)."""
    out = np.empty(len(ri), dtype=np.float64)
    step = 65536
    for s in range(0, len(ri), step):
        out[s:s + step] = np.einsum("ij,ij->i", a64[ri[s:s + step]], b64[ci[s:s + step]])
    return out


def _sparse_pair_dots(a, b, ri: np.ndarray, ci: np.ndarray) -> np.ndarray:
    """Exact float64 dot products of row pairs (a_ri . b_ci) of canonical CSR matrices.

    The terms each pair shares are summed one by one in ascending term order starting from 0.0,
    which is what scipy's sparse product (and so the reference's ``cosine_similarity``) does, so
    the result has the same bits as the full product.
    """
    out = np.zeros(len(ri), dtype=np.float64)
    step = 262144
    for s in range(0, len(ri), step):
        p = a[ri[s:s + step]].multiply(b[ci[s:s + step]]).tocsr()
        p.sort_indices()
        lengths = np.diff(p.indptr)
        acc = np.zeros(len(lengths), dtype=np.float64)
        for k in range(int(lengths.max(initial=0))):
            rows = np.flatnonzero(lengths > k)
            acc[rows] += p.data[p.indptr[rows] + k]
        out[s:s + step] = acc
    return out


def _split_cutoff(a, b) -> tuple[np.ndarray, float]:
    """Pick the document-frequency cutoff that splits terms into rare and frequent (see below)."""
    v = a.shape[1]
    dfa = np.bincount(a.indices, minlength=v).astype(np.float64)
    dfb = np.bincount(b.indices, minlength=v).astype(np.float64)
    df = dfa + dfb
    best = None
    for c in sorted({int(x) for x in np.unique(np.quantile(df[df > 0], [0.9, 0.99, 0.999, 0.9999]))} |
                    {16, 64, 256, 1024, 4096, 16384}):
        frequent = df > c
        cost_rare = float((dfa * dfb)[~frequent].sum())
        # rows whose frequent part alone could reach a high similarity must be compared exactly
        fa = np.sqrt(np.asarray(a.multiply(a).tocsr()[:, np.flatnonzero(frequent)].sum(axis=1)).ravel())
        fb = np.sqrt(np.asarray(b.multiply(b).tocsr()[:, np.flatnonzero(frequent)].sum(axis=1)).ravel())
        cost_h = float((fa > 0.5).sum()) * float((fb > 0.5).sum()) * 4.0
        cost = cost_rare + cost_h
        if best is None or cost < best[0]:
            best = (cost, frequent)
    return best[1], 0.0


def _rare_candidates(ra, rb, na: np.ndarray, nb: np.ndarray, threshold: float, block_size: int,
                     lower: bool, eps: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Candidates (1) of :func:`sparse_pairs`: pairs sharing a rare term whose bound
    ``r_i . r_k + |f_i| |f_k|`` reaches the threshold, block by block."""
    cand_i: list[np.ndarray] = []
    cand_k: list[np.ndarray] = []
    rbt = rb.T.tocsr()
    rows_per_block = max(1, min(block_size, int(2 ** 25 // max(1, rb.nnz // max(1, rb.shape[0]) * 64))))
    for s in range(0, ra.shape[0], rows_per_block):
        e = min(ra.shape[0], s + rows_per_block)
        c = (ra[s:e] @ rbt).tocoo()
        i = c.row.astype(np.int64) + s
        k = c.col.astype(np.int64)
        ok = c.data + na[i] * nb[k] >= threshold - eps
        if lower:
            ok &= k < i
        cand_i.append(i[ok])
        cand_k.append(k[ok])
    return cand_i, cand_k


def _frequent_candidates(fa, fb, na: np.ndarray, nb: np.ndarray, threshold: float, block_size: int,
                         lower: bool, eps: float) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Candidates (2) of :func:`sparse_pairs`: pairs whose frequent parts alone reach the threshold.

    Only rows with ``|f| >= t`` can; taken in descending ``|f|``, each block of ``a`` rows is
    compared with the ``b`` rows whose norm can still reach ``t`` (none: the scan stops).
    """
    cand_i: list[np.ndarray] = []
    cand_k: list[np.ndarray] = []
    ha = np.flatnonzero(na >= threshold - eps)
    hb = np.flatnonzero(nb >= threshold - eps)
    if not (len(ha) and len(hb)):
        return cand_i, cand_k
    hb = hb[np.argsort(-nb[hb], kind="stable")]
    fbh_t = fb[hb].T.tocsr()
    ha = ha[np.argsort(-na[ha], kind="stable")]
    step = max(1, min(block_size, int(2 ** 25 // max(1, len(hb)))))
    for s in range(0, len(ha), step):
        rows = ha[s:s + step]
        need = threshold / max(na[rows[0]], 1e-300) - eps
        p = int(np.searchsorted(-nb[hb], -need, side="right"))
        if p == 0:
            break
        c = (fa[rows] @ fbh_t[:, :p]).tocoo()
        i = rows[c.row]
        k = hb[c.col]
        ok = c.data >= threshold - eps
        if lower:
            ok &= k < i
        cand_i.append(i[ok])
        cand_k.append(k[ok])
    return cand_i, cand_k


def sparse_pairs(a, b, threshold: float, block_size: int = 4096, lower: bool = False):
    """All pairs (i, k) with ``a_i . b_k >= threshold`` for row-normalised sparse matrices.

    Exact and fast for TF-IDF, whose cost is dominated by a few very frequent words ("how",
    "to"). Terms are split into rare and frequent; with r/f the rare/frequent parts of a row,
    ``a_i . b_k = r_i . r_k + f_i . f_k <= r_i . r_k + |f_i| |f_k|`` (Cauchy-Schwarz). Candidates
    are (1) pairs sharing a rare term whose bound reaches the threshold, and (2) pairs whose
    frequent parts alone reach it (only rows with a large frequent part can). Every candidate's
    similarity is then computed exactly (:func:`_sparse_pair_dots`). ``lower=True`` (a is b)
    keeps pairs with k < i only. Memory is bounded by the block size.
    """
    a = _as_rows(a)
    b = a if (lower and b is None) else _as_rows(b)
    if a.shape[0] == 0 or b.shape[0] == 0:
        z = np.empty(0, dtype=np.int64)
        return z, z, np.empty(0)
    frequent, _ = _split_cutoff(a, b)
    fcols = np.flatnonzero(frequent)
    rcols = np.flatnonzero(~frequent)
    ra, rb = a[:, rcols].tocsr(), b[:, rcols].tocsr()
    fa, fb = a[:, fcols].tocsr(), b[:, fcols].tocsr()
    na = np.sqrt(np.asarray(fa.multiply(fa).sum(axis=1)).ravel())
    nb = np.sqrt(np.asarray(fb.multiply(fb).sum(axis=1)).ravel())
    eps = 1e-9
    cand_i, cand_k = _rare_candidates(ra, rb, na, nb, threshold, block_size, lower, eps)
    more_i, more_k = _frequent_candidates(fa, fb, na, nb, threshold, block_size, lower, eps)
    cand_i += more_i
    cand_k += more_k
    ri = np.concatenate(cand_i) if cand_i else np.empty(0, dtype=np.int64)
    ci = np.concatenate(cand_k) if cand_k else np.empty(0, dtype=np.int64)
    if len(ri) == 0:
        return ri, ci, np.empty(0)
    key = np.unique(ri * np.int64(b.shape[0]) + ci)  # a pair can be a candidate of both kinds
    ri, ci = key // b.shape[0], key % b.shape[0]
    exact = _sparse_pair_dots(a, b, ri, ci)
    keep = exact >= threshold
    return ri[keep], ci[keep], exact[keep]


def dense_pairs(a, b, threshold: float, block_size: int = 4096, lower: bool = False):
    """All pairs (i, k) with ``a_i . b_k >= threshold`` for dense rows, block by block.

    Float32 products with a slack of :data:`FLOAT32_SLACK` find candidates; each candidate is
    re-checked in float64, so a pair exactly at the threshold counts as ``>=``. With
    ``lower=True`` (b is a) only k < i is computed (the lower triangle).
    """
    a64 = np.asarray(a, dtype=np.float64)
    b64 = a64 if lower else np.asarray(b, dtype=np.float64)
    a32 = np.ascontiguousarray(a64, dtype=np.float32)
    b32 = a32 if lower else np.ascontiguousarray(b64, dtype=np.float32)
    n, m = a64.shape[0], b64.shape[0]
    out_i, out_k, out_v = [], [], []
    rows = max(1, min(block_size, 1024))
    cols = max(1, int(2 ** 24 // rows))  # at most 64 MB of float32 per product
    for s in range(0, n, rows):
        e = min(n, s + rows)
        hi = e if lower else m
        for c0 in range(0, hi, cols):
            c1 = min(hi, c0 + cols)
            sim = a32[s:e] @ b32[c0:c1].T
            ri, ci = np.nonzero(sim >= threshold - FLOAT32_SLACK)
            if len(ri) == 0:
                continue
            ri = ri.astype(np.int64) + s
            ci = ci.astype(np.int64) + c0
            if lower:
                keep = ci < ri
                ri, ci = ri[keep], ci[keep]
            exact = _exact_pairs64(a64, b64, ri, ci)
            keep = exact >= threshold
            out_i.append(ri[keep])
            out_k.append(ci[keep])
            out_v.append(exact[keep])
    if not out_i:
        z = np.empty(0, dtype=np.int64)
        return z, z, np.empty(0)
    return np.concatenate(out_i), np.concatenate(out_k), np.concatenate(out_v)


def pairs_above(a, b, threshold: float, block_size: int = 4096, lower: bool = False):
    """Thresholded neighbour pairs ``(i, k, sim)``, sparse or dense (see the two functions above)."""
    if _is_sparse(a):
        return sparse_pairs(a, a if lower else b, threshold, block_size, lower=lower)
    return dense_pairs(a, a if lower else b, threshold, block_size, lower=lower)


# --------------------------------------------------------------------------------------------
# greedy self-filter
# --------------------------------------------------------------------------------------------

@dataclass
class GreedyResult:
    kept: np.ndarray  # ascending row indices
    partner: dict[int, int]  # removed row -> the earliest kept row it matched
    similarity: dict[int, float]  # removed row -> that similarity


def greedy_self_filter(vectors, threshold: float, block_size: int = 4096, *, explain: bool = False):
    """Greedy leader clustering: keep the first row; drop a later row whose cosine to any already
    kept row is ``>= threshold``. Returns the kept row indices in ascending order.

    ``vectors``: a row-normalised sparse matrix (TF-IDF) or a dense float array of unit rows;
    the similarity of two rows is their dot product. First the thresholded neighbour lists
    ("row j is >= t-similar to earlier row i") are computed block by block (:func:`pairs_above`,
    memory O(block_size x n), never n x n); then one pass in row order decides each row from the
    decisions already made for its earlier neighbours. This gives exactly the reference loop's
    kept set. ``explain=True`` returns a :class:`GreedyResult` naming, for every removed row, the
    earliest kept row it matched and their similarity.
    """
    x = _as_rows(vectors)
    n = x.shape[0]
    if not _is_sparse(x):
        return _dense_greedy(x, threshold, block_size, explain)
    ri, ci, vals = pairs_above(x, None, threshold, block_size, lower=True)
    return greedy_from_pairs(n, ri, ci, vals, explain=explain)


def _first_kept_hits(blk: np.ndarray, s: int, buf: np.ndarray, buf_idx: np.ndarray, k: int, x64: np.ndarray,
                     threshold: float, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a block starting at row ``s``: the earliest kept row before the block that it
    matches (-1: none) and their float64 similarity. ``buf[:k]`` holds the kept rows, ``buf_idx`` their indices."""
    lo = threshold - FLOAT32_SLACK
    hit = np.full(len(blk), -1, dtype=np.int64)
    hit_sim = np.zeros(len(blk))
    for c0 in range(0, k, cols):
        c1 = min(k, c0 + cols)
        sim = blk @ buf[c0:c1].T
        ri, ci = np.nonzero(sim >= lo)
        if len(ri) == 0:
            continue
        gi = buf_idx[c0 + ci]
        exact = _exact_pairs64(x64, x64, ri + s, gi)
        ok = exact >= threshold
        ri, gi, exact = ri[ok], gi[ok], exact[ok]
        order = np.lexsort((gi, ri))
        ri, gi, exact = ri[order], gi[order], exact[order]
        first = np.ones(len(ri), dtype=bool)
        first[1:] = ri[1:] != ri[:-1]
        for r, g, v in zip(ri[first].tolist(), gi[first].tolist(), exact[first].tolist()):
            if hit[r] < 0 or g < hit[r]:
                hit[r], hit_sim[r] = g, v
    return hit, hit_sim


def _inner_pairs(blk: np.ndarray, s: int, x64: np.ndarray, threshold: float) -> dict[int, list[tuple[int, float]]]:
    """Pairs inside a block starting at row ``s`` (lower triangle), re-checked in float64:
    block row -> [(earlier block row, similarity)] in ascending earlier row."""
    sim = blk @ blk.T
    ri, ci = np.nonzero(np.tril(sim >= threshold - FLOAT32_SLACK, -1))
    inner: dict[int, list[tuple[int, float]]] = {}
    if len(ri):
        exact = _exact_pairs64(x64, x64, ri + s, ci + s)
        ok = exact >= threshold
        for r, c, v in zip(ri[ok].tolist(), ci[ok].tolist(), exact[ok].tolist()):
            inner.setdefault(r, []).append((c, v))
    return inner


def _dense_greedy(x, threshold: float, block_size: int, explain: bool):
    """Dense greedy filter comparing each block only with the rows kept so far (and itself).

    Kept rows are appended to a contiguous float32 buffer, so removed rows are never multiplied
    again and no per-block copy of the kept set is made. Candidates (float32 >= t - slack) are
    re-checked in float64.
    """
    x64 = np.asarray(x, dtype=np.float64)
    x32 = np.ascontiguousarray(x64, dtype=np.float32)
    n, d = x32.shape
    buf = np.empty((n, d), dtype=np.float32)
    buf_idx = np.empty(n, dtype=np.int64)
    k = 0
    kept_mask = np.zeros(n, dtype=bool)
    partner: dict[int, int] = {}
    simil: dict[int, float] = {}
    rows = max(1, min(block_size, 1024))
    cols = max(1, int(2 ** 24 // rows))
    for s in range(0, n, rows):
        e = min(n, s + rows)
        blk = x32[s:e]
        hit, hit_sim = _first_kept_hits(blk, s, buf, buf_idx, k, x64, threshold, cols)
        inner = _inner_pairs(blk, s, x64, threshold)
        # decide the block's rows in order: a row goes when it matches a row kept before the
        # block, or one kept earlier in this block
        for r in range(e - s):
            j = s + r
            if hit[r] >= 0:
                if explain:
                    partner[j], simil[j] = int(hit[r]), float(hit_sim[r])
                continue
            match = [(c, v) for c, v in inner.get(r, ()) if kept_mask[s + c]]
            if match:
                if explain:
                    c, v = min(match)
                    partner[j], simil[j] = s + c, v
                continue
            kept_mask[j] = True
            buf[k] = blk[r]
            buf_idx[k] = j
            k += 1
    kept = np.flatnonzero(kept_mask)
    if explain:
        return GreedyResult(kept, partner, simil)
    return kept


def greedy_from_pairs(n: int, ri: np.ndarray, ci: np.ndarray, vals: np.ndarray | None = None,
                      explain: bool = False):
    """The greedy decision over a neighbour list: pairs (row, earlier row) with sim >= t."""
    keep_edge = ci < ri
    ri, ci = ri[keep_edge], ci[keep_edge]
    vals = np.zeros(len(ri)) if vals is None else vals[keep_edge]
    order = np.lexsort((ci, ri))
    ri, ci, vals = ri[order], ci[order], vals[order]
    bounds = np.searchsorted(ri, np.arange(n + 1))
    kept_mask = np.ones(n, dtype=bool)
    partner: dict[int, int] = {}
    simil: dict[int, float] = {}
    has_edges = np.flatnonzero(bounds[1:] > bounds[:-1])
    ci_list = ci.tolist()
    for j in has_edges.tolist():  # rows without earlier neighbours are kept
        for t in range(bounds[j], bounds[j + 1]):
            if kept_mask[ci_list[t]]:
                kept_mask[j] = False
                if explain:
                    partner[j] = ci_list[t]
                    simil[j] = float(vals[t])
                break
    kept = np.flatnonzero(kept_mask)
    if explain:
        return GreedyResult(kept, partner, simil)
    return kept


def dense_reference_greedy(sim: np.ndarray, threshold: float) -> np.ndarray:
    """The reference loop over a full dense similarity matrix (``utils.py``), for tests/benchmarks.

    ``kept = [0]; for j in 1..n-1: if any(sim[kept, j] >= t): drop j else keep j``.
    """
    n = sim.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    kept = [0]
    for j in range(1, n):
        if np.any(sim[np.array(kept), j] >= threshold):
            continue
        kept.append(j)
    return np.array(kept, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# cross-set filters
# --------------------------------------------------------------------------------------------

def cross_max_similarity(train, test, threshold: float, block_size: int = 4096):
    """For every train row, its highest similarity ``>= threshold`` to any test row, block-wise.

    Returns ``(removed_mask, partner_index_in_test, similarity)``; partner is -1 and similarity
    NaN for rows without a match. Never builds the test x train matrix.
    """
    a = _as_rows(train)
    b = _as_rows(test)
    n = a.shape[0]
    removed = np.zeros(n, dtype=bool)
    partner = np.full(n, -1, dtype=np.int64)
    best = np.full(n, np.nan)
    if n == 0 or b.shape[0] == 0:
        return removed, partner, best
    ri, ci, vals = pairs_above(a, b, threshold, block_size)
    if len(ri):
        order = np.lexsort((ci, -vals, ri))
        ri, ci, vals = ri[order], ci[order], vals[order]
        first = np.ones(len(ri), dtype=bool)
        first[1:] = ri[1:] != ri[:-1]
        rows = ri[first]
        removed[rows] = True
        partner[rows] = ci[first]
        best[rows] = vals[first]
    return removed, partner, best


def tfidf_vectors(texts: Sequence[str]):
    """sklearn ``TfidfVectorizer()`` defaults, rows re-normalised as ``cosine_similarity`` does."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    x = TfidfVectorizer().fit_transform(list(texts))
    x = normalize(x)
    x = sp.csr_matrix(x, dtype=np.float64)
    x.sort_indices()
    return x


def tfidf_cross_filter(train: Sequence[str], test: Sequence[str], threshold: float = 0.6,
                       block_size: int = 4096) -> Flags:
    """Drop train row j when ``max_i cos_tfidf(test_i, train_j) >= threshold``.

    As in the reference, the vectorizer is fitted on test + train of this call (the IDF differs
    from call to call).
    """
    removed = np.zeros(len(train), dtype=bool)
    if len(train) == 0 or len(test) == 0:
        return Flags(removed)
    x = tfidf_vectors(list(test) + list(train))
    t = len(test)
    removed, partner, best = cross_max_similarity(x[t:], x[:t], threshold, block_size)
    rows = np.flatnonzero(removed)
    return Flags(removed, {int(j): int(partner[j]) for j in rows}, {int(j): float(best[j]) for j in rows})


def embedding_cross_filter(train_emb: np.ndarray, test_emb: np.ndarray, threshold: float = 0.7,
                           block_size: int = 4096) -> Flags:
    """Drop train row j when its embedding cosine to any test row is ``>= threshold``."""
    removed, partner, best = cross_max_similarity(train_emb, test_emb, threshold, block_size)
    rows = np.flatnonzero(removed)
    return Flags(removed, {int(j): int(partner[j]) for j in rows}, {int(j): float(best[j]) for j in rows})


def cos_sim32_pairs(a: np.ndarray, b: np.ndarray | None, threshold: float, block_size: int = 4096):
    """Pairs at ``>= threshold`` as the reference finds them: ``sentence_transformers.util.cos_sim``
    on the raw float32 embeddings (each row normalised in float32, one float32 matrix product), then
    ``cosine_scores >= threshold`` on that float32 matrix (data_collection/utils.py:16-17, :57-62).

    ``b`` None: the self-similarity, as ``cosine_scores[accepted, j]`` reads it (the earlier row's
    row of the matrix): pairs ``(later, earlier, sim)``. Otherwise ``a`` = train, ``b`` = test, read
    as ``cos_sim(test, train)``: pairs ``(train row, test row, sim)``. Blocks of rows, never the
    whole matrix; the products are torch's, as the reference's.
    """
    import torch

    def unit(x):
        return torch.nn.functional.normalize(torch.as_tensor(np.ascontiguousarray(x, dtype=np.float32)), p=2, dim=1)

    t = np.float32(threshold)
    rows_of = unit(a) if b is None else unit(b)  # the matrix's rows: earlier rows, or the test rows
    cols = unit(a)
    step = max(1, min(block_size, int(2 ** 24 // max(1, cols.shape[0]))))
    out_r, out_c, out_v = [], [], []
    for s in range(0, rows_of.shape[0], step):
        sim = torch.mm(rows_of[s:s + step], cols.transpose(0, 1)).numpy()
        ri, cj = np.nonzero(sim >= t)
        vals = sim[ri, cj].astype(np.float64)
        ri = ri.astype(np.int64) + s
        if b is None:  # row ri (earlier) matched by column cj (later)
            keep = cj > ri
            out_r.append(cj[keep].astype(np.int64))
            out_c.append(ri[keep])
            out_v.append(vals[keep])
        else:  # row ri is a test row, column cj a train row
            out_r.append(cj.astype(np.int64))
            out_c.append(ri)
            out_v.append(vals)
    if not out_r:
        z = np.empty(0, dtype=np.int64)
        return z, z, np.empty(0)
    return np.concatenate(out_r), np.concatenate(out_c), np.concatenate(out_v)


def reference_embedding_self_filter(emb: np.ndarray, threshold: float, block_size: int = 4096):
    """The greedy embedding self-filter on the reference's float32 similarities
    (:func:`cos_sim32_pairs`); a :class:`GreedyResult`."""
    ri, ci, vals = cos_sim32_pairs(emb, None, threshold, block_size)
    return greedy_from_pairs(len(emb), ri, ci, vals, explain=True)


def reference_embedding_cross_filter(train_emb: np.ndarray, test_emb: np.ndarray, threshold: float = 0.7,
                                     block_size: int = 4096) -> Flags:
    """Drop train row j when any float32 ``cos_sim(test, train)[:, j] >= threshold``; its partner is
    the first such test row (``np.argmax(... >= threshold)``, utils.py:66)."""
    removed = np.zeros(len(train_emb), dtype=bool)
    if len(train_emb) == 0 or len(test_emb) == 0:
        return Flags(removed)
    ri, ci, vals = cos_sim32_pairs(train_emb, test_emb, threshold, block_size)
    partner: dict[int, int] = {}
    best: dict[int, float] = {}
    for r, c, v in sorted(zip(ri.tolist(), ci.tolist(), vals.tolist())):
        if r not in partner:
            partner[r], best[r] = c, v
    removed[list(partner)] = True
    return Flags(removed, partner, best)


def normalize_rows(x: np.ndarray) -> np.ndarray:
    """Unit rows in float64 (zero rows stay zero), as ``util.cos_sim`` normalises embeddings."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return x / norms


# --------------------------------------------------------------------------------------------
# row order
# --------------------------------------------------------------------------------------------

def reference_row_order(n: int, removed: Iterable[int]) -> list[int]:
    """The reference's row order after a filter: ``list(set(range(n)) - set(removed))``.

    Ascending while the result set keeps a large hash table; once most rows are removed CPython
    rebuilds a smaller table and the order becomes hash-slot order. Replayed with CPython itself.
    """
    return list(set(range(n)) - set(int(i) for i in removed))


def kept_order(n: int, removed_mask: np.ndarray, reference_compat: bool = False) -> np.ndarray:
    """Indices of the kept rows in the order the next step sees them."""
    if reference_compat:
        return np.array(reference_row_order(n, np.flatnonzero(removed_mask)), dtype=np.int64)
    return np.flatnonzero(~np.asarray(removed_mask, dtype=bool))
