"""The paper's policy and prompt texts, loaded as verified data.

The texts live in the STAR-1 repository's ``prompt.py`` (and ``benchmark/safe_benchmark/eval.py``
for the refusal judge) at commit ``b4933359``. They are never pasted into this project: offline
they come from the mirror's ``star1/reference_prompts.json``; online, from the two source files at
the pinned commit, whose module-level string constants are read with ``ast`` (no code runs).
Either way every text is checked against the SHA-256 below, so a changed byte is an error.

Exposed: ``CATEGORIES`` (the 8 names, in the paper's order), ``POLICY_BY_CATEGORY``, the prompt
templates by name (``template("COT_PROMPT_TEMPLATE")``), and ``policies_for(categories)``, which
assembles an item's policy block the way the reference does.
"""

from __future__ import annotations

import ast
import json
from functools import lru_cache
from pathlib import Path

from star1_utils.run.resources import Resource, ResourceError, fetch, sha256_file  # noqa: F401
from star1_utils.run.resources import available

REFERENCE_REPO = "UCSC-VLAA/STAR-1"
REFERENCE_COMMIT = "b49333598887845f148ed1b4d2576dc2bff7581a"
_RAW = f"https://raw.githubusercontent.com/{REFERENCE_REPO}/{REFERENCE_COMMIT}"

#: The mirror's JSON bundle of all texts (written from the two files above).
PROMPTS_BUNDLE = Resource(
    name="reference_prompts",
    mirror_path="star1/reference_prompts.json",
    sha256="4b118c8dd3b6ac9f02bf8fa44842382aafe6db49017048bb297a296181fa1e2f",
)
#: The source files at the pinned commit (verified text by text, see TEXT_SHA256).
PROMPT_PY = Resource(name="star1_prompt_py", mirror_path="star1/src/prompt.py", sha256=None,
                     url=f"{_RAW}/prompt.py")
EVAL_PY = Resource(name="star1_eval_py", mirror_path="star1/src/eval.py", sha256=None,
                   url=f"{_RAW}/benchmark/safe_benchmark/eval.py")

#: SHA-256 of the UTF-8 bytes of each text, as the module-level constant evaluates.
TEXT_SHA256: dict[str, str] = {
    "CATEGORY_DEFINITION": "e3edc2e67a6553c12d48320a2e9ee9597c7c2116e0b5ff9a3e57cbe371ab9103",
    "POLICY_HARASSMENT": "4381ea96f61efdc9f77d722344f1ea54e9b64c44d384a76b771d46ae26aa311b",
    "POLICY_SEXUAL": "277827fe6943811d19ea22c2433265b1672c50536a5825635d924d6b11c17adc",
    "POLICY_VIOLENCE": "20c9dd0024f97228c4b50e2ec4dc3d8ed44ea79f865d3cdac953a2dc60ea2b41",
    "POLICY_SELF_HARM": "1e25161d02c9dff65d226121413fd28091a754d38a11528da166e67963869489",
    "POLICY_ILLICIT": "d42a49eed8a4b8df8e6ec2eaa8685283ac16ba3f3c9ee46a2e19f1b10d10484a",
    "POLICY_MISINFORMATION": "3993e8368bdad194357aa4d2ef10214bfc8bdff248261a6e4bba9032be75ca03",
    "POLICY_PRIVACY": "0ee2ff3abc577aacd3d399c6f0005bc5f44edb23ef539f27a60ed5e79fdfc948",
    "POLICY_INTERLECTUAL": "618be5e164eb617d2af61e9e552da814804df56ff0b6d34b143a6771526e7bfa",
    "CLASSIFICATION_PROMPT_TEMPLATE": "71f6fffc5a025fba9186acf9fb85b9f4dabc6a59cf91f508292cc83471db8f4f",
    "COT_PROMPT_TEMPLATE": "986dabb01f63bb7f0ff1b56b224d32b8cb46c5a7ce3ee33e60ccb82279d0066f",
    "SCORER_PROMPT_TEMPLATE": "22b8bbcb0c7ad703de782348b4a713b4802a0e4b78d6363a5a946787b7238213",
    "SCORER_FORMAT_EXAMPLE": "86472c03957fd510f1bb1eb32c655d03031433ba1e731f52bf197a61391d9939",
    "REWRITE_PROMPT_TEMPLATE": "e54dcb5d76c5c04d3839ff05c54749fbd9f0c3f9c637cb68d01164292b5243fe",
    "OVERREFUSAL_SCORER_PROMPT_TEMPLATE": "e272be17fbdb8e16637375b50997bd5e6fe682122742459496ca34af182b8106",
    "OVERREFUSAL_SCORER_FORMAT_EXAMPLE": "e821c22267930139a1770a48993f5b1cc6bbf7ad92b7d7ca4cfaa137b141eea5",
    "REFUSAL_EVAL_PROMPT": "53c52f2b8953d39bd9a5e770c4bb4a384ed56d52864b4e8d184ae22aac524e98",
}

#: The 8 safety categories, spelt exactly as in the reference (spaces around "/").
CATEGORIES: tuple[str, ...] = (
    "Harassment / Hate / Discrimination",
    "Sexual / Adult",
    "Violence / Physical Harm",
    "Self-Harm",
    "Illicit / Criminal Behavior",
    "Misinformation / Disinformation",
    "Privacy / Personal Data",
    "Intellectual Property",
)
#: The label the classifier gives an instruction that fits none of the 8 categories.
OTHER = "Other"

#: Category -> name of its policy constant in ``prompt.py`` (the reference's ``policy_map``;
#: "INTERLECTUAL" is the reference's spelling).
POLICY_NAME_BY_CATEGORY: dict[str, str] = dict(zip(CATEGORIES, (
    "POLICY_HARASSMENT", "POLICY_SEXUAL", "POLICY_VIOLENCE", "POLICY_SELF_HARM",
    "POLICY_ILLICIT", "POLICY_MISINFORMATION", "POLICY_PRIVACY", "POLICY_INTERLECTUAL",
)))

#: Short names for plots and tables.
SHORT_NAMES: dict[str, str] = dict(zip(CATEGORIES, (
    "Harassment", "Sexual", "Violence", "Self-harm", "Illicit", "Misinformation", "Privacy", "IP",
)))


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _module_strings(source: str, filename: str) -> dict[str, str]:
    """Module-level ``NAME = <string expression>`` assignments, evaluated without running code.

    Later assignments override earlier ones, as Python would (``prompt.py`` defines
    ``COT_PROMPT_TEMPLATE`` twice). Handles literals, implicit and ``+`` concatenation, and
    references to earlier string constants.
    """
    tree = ast.parse(source, filename=filename)
    env: dict[str, str] = {}

    def value(node: ast.AST) -> str:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return value(node.left) + value(node.right)
        if isinstance(node, ast.Name) and node.id in env:
            return env[node.id]
        raise ValueError("not a string constant")

    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                env[node.targets[0].id] = value(node.value)
            except ValueError:
                continue
    return env


def _check(texts: dict[str, str], origin: str) -> dict[str, str]:
    missing = sorted(set(TEXT_SHA256) - set(texts))
    if missing:
        raise ResourceError(f"reference texts from {origin} lack {', '.join(missing)}")
    for name, expected in TEXT_SHA256.items():
        actual = _sha(texts[name])
        if actual != expected:
            raise ResourceError(
                f"reference text {name} from {origin} failed verification: expected sha256 "
                f"{expected}, got {actual}"
            )
    return {name: texts[name] for name in TEXT_SHA256}


@lru_cache(maxsize=1)
def load_texts() -> dict[str, str]:
    """All reference texts by constant name, verified. Mirror bundle first, else the repository."""

    if available(PROMPTS_BUNDLE):
        path = fetch(PROMPTS_BUNDLE)
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return _check(data["texts"], str(path))
    texts: dict[str, str] = {}
    for res in (PROMPT_PY, EVAL_PY):
        path = fetch(res)
        texts.update(_module_strings(Path(path).read_text(encoding="utf-8"), res.url))
    return _check(texts, f"{REFERENCE_REPO}@{REFERENCE_COMMIT[:7]}")


def template(name: str) -> str:
    """One reference text by its constant name, e.g. ``template("COT_PROMPT_TEMPLATE")``."""
    texts = load_texts()
    if name not in texts:
        raise KeyError(f"unknown reference text {name!r}; known: {', '.join(texts)}")
    return texts[name]


def policy(category: str) -> str:
    """The policy text for one of the 8 categories."""
    if category not in POLICY_NAME_BY_CATEGORY:
        raise KeyError(f"{category!r} is not one of the 8 STAR-1 categories: {list(CATEGORIES)}")
    return template(POLICY_NAME_BY_CATEGORY[category])


def policies_for(categories: list[str]) -> str:
    """The item's policy block, as the reference assembles it.

    The policies of the item's own categories, in the label order the classifier gave, joined
    by ``"\\n---\\n"``. "Other" has no policy; the reference crashes on it (KeyError), so items
    labelled "Other" are excluded before reasoning generation and this raises for them.
    """
    if not categories:
        raise ValueError("an item needs at least one category to assemble its policies")
    return "\n---\n".join(policy(c) for c in categories)


def __getattr__(name: str):  # module-level lazy attributes: POLICY_BY_CATEGORY, TEMPLATES
    if name == "POLICY_BY_CATEGORY":
        return {c: policy(c) for c in CATEGORIES}
    if name == "TEMPLATES":
        return {k: v for k, v in load_texts().items() if not k.startswith("POLICY_")}
    raise AttributeError(name)
