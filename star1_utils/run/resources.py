"""External data as verified resources.

A :class:`Resource` has a canonical location (a URL at a pinned revision, or a Hugging Face Hub
file at a pinned revision), the path it has inside a local mirror, and its SHA-256. ``fetch``
reads it from ``STAR1_DATA_MIRROR`` when that is set, otherwise downloads it once into a cache,
and verifies the hash either way. Tests and CI set ``STAR1_DATA_MIRROR=../shared`` and never
touch the network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from star1_utils import project_root

MIRROR_ENV = "STAR1_DATA_MIRROR"
CACHE_ENV = "STAR1_CACHE_DIR"


class ResourceError(RuntimeError):
    """A resource could not be obtained or failed verification."""


@dataclass(frozen=True)
class Resource:
    """One external file.

    name: short id used in messages and cache paths (e.g. ``"strongreject"``).
    mirror_path: path relative to the mirror root (``STAR1_DATA_MIRROR``).
    sha256: expected hash of the file's bytes; ``None`` only when the caller verifies the
        content itself (e.g. per-text hashes of texts extracted from a source file).
    url: direct download URL at a pinned revision (used when ``hub_repo`` is empty).
    hub_repo / hub_filename / hub_revision / hub_repo_type: a Hugging Face Hub file; downloaded
        with ``huggingface_hub`` so gated repositories work with the user's token.
    access_note: what to do when the resource is gated or unreachable.
    """

    name: str
    mirror_path: str
    sha256: str | None
    url: str = ""
    hub_repo: str = ""
    hub_filename: str = ""
    hub_revision: str = "main"
    hub_repo_type: str = "dataset"
    access_note: str = ""


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


#: A file every data mirror holds: a ``shared/`` folder beside the checkout that has it is the mirror.
MIRROR_MARKER = "star1/reference_prompts.json"


def mirror_root() -> Path | None:
    """The data mirror: ``STAR1_DATA_MIRROR`` when set, else a ``shared/`` folder beside the
    checkout that holds the mirror's files (the rule the Makefile applies), else ``None``
    (download). The same rule for every entry point: the runner, papermill, JupyterLab, tests."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if value:
        return Path(value).expanduser().resolve()
    beside = project_root().parent / "shared"
    return beside.resolve() if (beside / MIRROR_MARKER).is_file() else None


def cache_root() -> Path:
    """Where downloaded resources are kept (``STAR1_CACHE_DIR`` or ``~/.cache/star1``)."""
    value = os.environ.get(CACHE_ENV, "").strip()
    return Path(value).expanduser() if value else Path.home() / ".cache" / "star1"


def verify(resource: Resource, path: Path, origin: str) -> Path:
    """Check ``path`` against the resource's SHA-256; raise naming both hashes on mismatch."""
    if resource.sha256 is None:
        return path
    actual = sha256_file(path)
    if actual != resource.sha256:
        raise ResourceError(
            f"resource {resource.name!r} from {origin} ({path}) failed verification: "
            f"expected sha256 {resource.sha256}, got {actual}. The file is corrupted or a "
            f"different version; restore it or delete it to download again."
        )
    return path


def _download(resource: Resource, dest: Path) -> None:
    if resource.hub_repo:
        try:
            from huggingface_hub import hf_hub_download
        except ImportError as e:  # pragma: no cover - huggingface_hub comes with transformers
            raise ResourceError(f"huggingface_hub is needed to download {resource.name!r}") from e
        try:
            got = hf_hub_download(
                repo_id=resource.hub_repo,
                filename=resource.hub_filename,
                revision=resource.hub_revision,
                repo_type=resource.hub_repo_type,
            )
        except Exception as e:  # gated, offline, missing: one clear message
            hint = f" {resource.access_note}" if resource.access_note else ""
            raise ResourceError(
                f"could not download resource {resource.name!r} from the Hugging Face Hub "
                f"({resource.hub_repo}/{resource.hub_filename} @ {resource.hub_revision}): "
                f"{type(e).__name__}: {e}.{hint} Offline? Set {MIRROR_ENV} to a mirror holding "
                f"{resource.mirror_path}."
            ) from e
        shutil.copyfile(got, dest)
        return
    if not resource.url:
        raise ResourceError(f"resource {resource.name!r} has no download location; set {MIRROR_ENV}.")
    try:
        with urllib.request.urlopen(resource.url, timeout=60) as r, open(dest, "wb") as f:
            shutil.copyfileobj(r, f)
    except Exception as e:
        hint = f" {resource.access_note}" if resource.access_note else ""
        raise ResourceError(
            f"could not download resource {resource.name!r} from {resource.url}: "
            f"{type(e).__name__}: {e}.{hint} Offline? Set {MIRROR_ENV} to a mirror holding "
            f"{resource.mirror_path}."
        ) from e


def offline() -> bool:
    """True when downloads are forbidden (``HF_HUB_OFFLINE=1``, as in tests and CI)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in {"1", "true", "yes"}


def fetch(resource: Resource) -> Path:
    """Return a verified local path for ``resource``.

    Order: the mirror (when ``STAR1_DATA_MIRROR`` is set and holds the file), then the cache,
    then a download into the cache. A file that fails verification is an error, never a
    silent re-download, so a corrupted mirror is noticed.
    """
    root = mirror_root()
    if root is not None:
        path = root / resource.mirror_path
        if path.is_file():
            return verify(resource, path, f"mirror {root}")
    cached = cache_root() / resource.name / Path(resource.mirror_path).name
    if cached.is_file():
        return verify(resource, cached, "cache")
    if offline():
        where = f"the mirror {root} does not hold {resource.mirror_path}" if root else f"{MIRROR_ENV} is not set"
        raise ResourceError(
            f"resource {resource.name!r} is not available offline: {where}, it is not cached, and "
            f"HF_HUB_OFFLINE=1 forbids downloads. Set {MIRROR_ENV} to a mirror holding "
            f"{resource.mirror_path}, or go online."
        )
    cached.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".download-")
    os.close(fd)
    try:
        _download(resource, Path(tmp))
        verify(resource, Path(tmp), resource.url or resource.hub_repo)
        os.replace(tmp, cached)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return cached


def available(resource: Resource) -> bool:
    """True when ``fetch`` would succeed without the network (mirror or cache holds it)."""
    root = mirror_root()
    if root is not None and (root / resource.mirror_path).is_file():
        return True
    return (cache_root() / resource.name / Path(resource.mirror_path).name).is_file()
