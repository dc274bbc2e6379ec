"""Benchmark of the exact greedy self-filters: time and peak memory at 41K and 250K rows.

Seeded synthetic corpus of short instructions (8-30 words: 45 % frequent function words, the rest
from a Zipf vocabulary of 60K words; 30 % of rows are edited copies of an earlier row) and, for
the embedding filter, random 384-d unit vectors with the same near-duplicate structure
(embeddings are given, not computed). Each measurement runs in a fresh subprocess so that its
peak RSS is its own. At ~5K rows it also runs a straightforward dense implementation of the
reference loop (full n x n matrix, then the column-wise loop) and checks the kept sets match.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_dedup.py [--sizes 5000,41000,250000]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def synth_corpus(n: int, seed: int = 0, dup_frac: float = 0.3) -> list[str]:
    rng = np.random.default_rng(seed)
    stop = np.array("how can i to the a of and in for my someone with without on is it what do you way best".split())
    vocab = np.array([f"w{i}" for i in range(60000)])
    p = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    cdf = np.cumsum(p / p.sum())
    lens = rng.integers(8, 31, size=n)
    tot = int(lens.sum())
    isstop = rng.random(tot) < 0.45
    words = np.where(isstop, stop[rng.integers(len(stop), size=tot)],
                     vocab[np.minimum(np.searchsorted(cdf, rng.random(tot)), len(vocab) - 1)])
    texts: list[str] = []
    pos = 0
    for k in range(n):
        length = lens[k]
        w = list(words[pos:pos + length])
        pos += length
        if texts and rng.random() < dup_frac:
            base = texts[rng.integers(len(texts))].split()
            for _ in range(max(1, len(base) // 5)):
                base[rng.integers(len(base))] = w[rng.integers(length)]
            texts.append(" ".join(base))
        else:
            texts.append(" ".join(w))
    return texts


def synth_embeddings(n: int, seed: int = 0, dim: int = 384, dup_frac: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed + 1)
    e = rng.normal(size=(n, dim)).astype(np.float32)
    dup = np.flatnonzero(rng.random(n) < dup_frac)
    dup = dup[dup > 0]
    src = (rng.random(len(dup)) * dup).astype(np.int64)
    noise = rng.uniform(0.3, 1.2, size=(len(dup), 1)).astype(np.float32)
    for s in range(0, len(dup), 8192):  # chunks keep the temporary small
        d, o, z = dup[s:s + 8192], src[s:s + 8192], noise[s:s + 8192]
        # a near-duplicate: an earlier row plus noise (cosine to it mostly 0.55-0.95)
        e[d] = e[o] / np.linalg.norm(e[o], axis=1, keepdims=True) * np.sqrt(dim) + z * rng.normal(size=(len(d), dim)).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    return e


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def child(kind: str, n: int) -> dict:
    from star1_utils.dataset import dedup

    if kind == "tfidf":
        texts = synth_corpus(n)
        t0 = time.time()
        x = dedup.tfidf_vectors(texts)
        kept = dedup.greedy_self_filter(x, 0.6)
        secs = time.time() - t0
    elif kind == "embedding":
        e = synth_embeddings(n)
        t0 = time.time()
        kept = dedup.greedy_self_filter(e, 0.7)
        secs = time.time() - t0
    elif kind in ("dense_tfidf", "dense_embedding"):
        if kind == "dense_tfidf":
            x = dedup.tfidf_vectors(synth_corpus(n))
            t0 = time.time()
            sim = (x @ x.T).toarray()  # what cosine_similarity(TfidfVectorizer().fit_transform(all)) builds
            t = 0.6
        else:
            x = synth_embeddings(n)
            t0 = time.time()
            e64 = x.astype(np.float64)
            sim = e64 @ e64.T  # the full n x n matrix (the reference: util.cos_sim)
            t = 0.7
        kept = dedup.dense_reference_greedy(sim, t)
        secs = time.time() - t0
        ours = dedup.greedy_self_filter(x, t)
        return {"kind": kind, "n": n, "seconds": round(secs, 2), "peak_rss_gb": round(peak_rss_gb(), 3),
                "kept": int(len(kept)), "identical": bool(np.array_equal(kept, ours)),
                "matrix_gb": round(sim.nbytes / 1024 ** 3, 3)}
    else:
        raise ValueError(kind)
    return {"kind": kind, "n": n, "seconds": round(secs, 2), "peak_rss_gb": round(peak_rss_gb(), 3),
            "kept": int(len(kept))}


def measure(kind: str, n: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", kind, str(n)], capture_output=True, text=True)
    if out.returncode != 0:
        return {"kind": kind, "n": n, "error": out.stderr.strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="5000,41000,250000")
    ap.add_argument("--child", nargs=2)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]))))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{'filter':<34} {'rows':>8} {'seconds':>9} {'peak RSS GB':>12} {'kept':>8}  note", flush=True)
    for n in sizes:
        rows = [measure("tfidf", n), measure("embedding", n)]
        if n <= 8000:
            rows += [measure("dense_tfidf", n), measure("dense_embedding", n)]
        for r in rows:
            if "error" in r:
                print(f"{r['kind']:<34} {n:>8} failed: {r['error']}", flush=True)
                continue
            note = ""
            name = {"tfidf": "ours: TF-IDF greedy >= 0.6", "embedding": "ours: embedding greedy >= 0.7",
                    "dense_tfidf": "dense reference loop, TF-IDF", "dense_embedding": "dense reference loop, embedding"}[r["kind"]]
            if "identical" in r:
                note = f"n x n matrix {r['matrix_gb']} GB; kept sets identical to ours: {r['identical']}"
            print(f"{name:<34} {n:>8} {r['seconds']:>9.2f} {r['peak_rss_gb']:>12.3f} {r['kept']:>8}  {note}", flush=True)
        fast = [r for r in rows[:2] if "error" not in r]
        if len(fast) == 2:
            print(f"{'  TF-IDF + embedding total':<34} {n:>8} {fast[0]['seconds'] + fast[1]['seconds']:>9.2f} "
                  f"{max(r['peak_rss_gb'] for r in fast):>12.3f}", flush=True)


if __name__ == "__main__":
    main()
