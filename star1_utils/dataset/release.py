"""The released STAR-1 dataset (1,000 rows with GPT-4o labels and scores) as one verified resource.

Notebooks 02 (classifier agreement), 04 (replay of the selection), 05 (formatting examples) and 09
(Figure 2) all read it; the bytes are pinned by SHA-256 to ``data/STAR-1.json`` of the paper's
repository at commit ``b4933359`` (the same rows as the Hub dataset ``UCSC-VLAA/STAR-1``).
"""

from __future__ import annotations

import json
from pathlib import Path

from star1_utils.dataset.policies import REFERENCE_COMMIT, REFERENCE_REPO
from star1_utils.run.resources import Resource, fetch

STAR1_RELEASE = Resource(
    name="star1_release",
    mirror_path="star1/STAR-1.json",
    sha256="cfff9b23307914ecf8a94a1d5526f71f7144fcfc5f651741bea1ac41b3184db4",
    url=f"https://raw.githubusercontent.com/{REFERENCE_REPO}/{REFERENCE_COMMIT}/data/STAR-1.json",
    access_note="It is public: data/STAR-1.json in the UCSC-VLAA/STAR-1 repository (also the Hub dataset UCSC-VLAA/STAR-1).",
)


def load_star1_release() -> list[dict]:
    """The 1,000 released rows (``id``, ``question``, ``response``, ``category``, ``source``, ``score``)."""
    return json.loads(Path(fetch(STAR1_RELEASE)).read_text(encoding="utf-8"))
