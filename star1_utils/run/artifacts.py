"""Run artifacts: atomic JSONL files and the stage manifest of each run folder.

Each stage reads the previous stage's artifact and writes its own under ``run_dir``. Files are
written atomically (temp file + rename) so an interrupted run never leaves half a file, and each
stage writes ``manifest.json`` last: parameters, input and output SHA-256, row counts, time taken,
library versions and model ids. A stage whose manifest matches its inputs and configuration is
"current" and is not redone (``Stage.is_current``; ``python -m star1_utils run --resume``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from star1_utils.run.resources import sha256_file

MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"


class ArtifactError(ValueError):
    """A malformed artifact; the message names the file and line."""


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temp file beside ``path`` and rename it over ``path`` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode, encoding=encoding if "b" not in mode else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    """Write rows as JSON Lines atomically (UTF-8, non-ASCII kept). Returns the row count."""
    n = 0
    with atomic_write(path) as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield rows of a JSONL file; a bad line raises ``ArtifactError`` naming file and line.

    Blank lines are skipped. Every row must be a JSON object.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"{path}: no such file (did the previous stage run?)")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ArtifactError(f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise ArtifactError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield row


def read_jsonl(path: str | Path, required: Iterable[str] = ()) -> list[dict]:
    """Read a JSONL file; ``required`` fields must be present in every row (error names file, line, field)."""
    required = tuple(required)
    rows = []
    for lineno, row in enumerate(iter_jsonl(path), 1):
        for key in required:
            if key not in row:
                raise ArtifactError(f"{path}: row {lineno}: missing field {key!r}")
        rows.append(row)
    return rows


def write_json(path: str | Path, data: Any) -> None:
    """Write JSON atomically, indented for people to read."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=2, ensure_ascii=False, sort_keys=False, default=str)
        f.write("\n")


def library_versions(extra: Iterable[str] = ()) -> dict[str, str]:
    """Versions of the libraries that shape results (missing ones are left out)."""
    from importlib.metadata import PackageNotFoundError, version

    names = ["star1-notebooks", "torch", "transformers", "trl", "peft", "accelerate", "datasets",
             "deepspeed", "openai", "sentence-transformers", "scikit-learn", "numpy", "pandas",
             "papermill", "math-verify", "vllm", *extra]
    out = {"python": platform.python_version()}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def read_manifest(stage_dir: str | Path) -> dict | None:
    """The stage's manifest, or ``None`` when it has none (or it is unreadable)."""
    path = Path(stage_dir) / MANIFEST
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def failure_count(stage_dir: str | Path) -> int:
    """How many items the stage's last run recorded as failed (``failures.jsonl``; 0 when none)."""
    path = Path(stage_dir) / FAILURES
    if not path.is_file():
        return 0
    with open(path, encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def manifest_is_current(stage_dir: str | Path, config_sha256: str) -> tuple[bool, str]:
    """Whether a stage's recorded run still holds: same configuration, same inputs, outputs intact.

    Returns ``(current, reason)``; the reason says what changed when it is not current.
    """
    stage_dir = Path(stage_dir)
    m = read_manifest(stage_dir)
    if m is None:
        return False, "no manifest"
    if m.get("status") != "complete":
        return False, f"last run status {m.get('status')!r}"
    if m.get("config_sha256") != config_sha256:
        return False, "configuration changed"
    failed = failure_count(stage_dir)
    if failed:
        # the failure records promise a retry: a stage with failed items is not done
        return False, f"{failed} failed item(s) in {FAILURES} to retry"
    for kind in ("inputs", "outputs"):
        for rel, digest in (m.get(kind) or {}).items():
            p = Path(rel) if Path(rel).is_absolute() else stage_dir.parent / rel
            if not p.is_file():
                return False, f"{kind[:-1]} {rel} is missing"
            if sha256_file(p) != digest:
                return False, f"{kind[:-1]} {rel} changed"
    return True, "current"


@dataclass
class Stage:
    """One stage of a run: its folder, its configuration identity, and its manifest.

    Typical use in a notebook::

        stage = Stage(run_dir, "02_classification", notebook="02_category_classification",
                      config_sha256=cfg.section_sha256("classification", "roles"))
        if stage.is_current(): ...           # skip the expensive part
        ...
        stage.finish(inputs=[collected], outputs=[classified], counts={"in": n_in, "out": n_out})
    """

    run_dir: Path
    name: str
    notebook: str = ""
    config_sha256: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)

    @property
    def dir(self) -> Path:
        return self.run_dir / self.name

    def path(self, name: str) -> Path:
        """A file inside the stage folder."""
        return self.dir / name

    def is_current(self) -> bool:
        return manifest_is_current(self.dir, self.config_sha256)[0]

    def why_not_current(self) -> str:
        return manifest_is_current(self.dir, self.config_sha256)[1]

    def finish(
        self,
        *,
        inputs: Iterable[str | Path] = (),
        outputs: Iterable[str | Path] = (),
        counts: dict[str, Any] | None = None,
        models: dict[str, str] | None = None,
        usage: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Path:
        """Write ``manifest.json`` last, recording everything needed to decide "current?" later."""
        root = self.run_dir
        manifest = {
            "stage": self.name,
            "notebook": self.notebook,
            "status": "complete",
            "config_sha256": self.config_sha256,
            "params": self.params,
            "inputs": {_rel(Path(p), root): sha256_file(p) for p in inputs},
            "outputs": {_rel(Path(p), root): sha256_file(p) for p in outputs if Path(p).is_file()},
            "counts": counts or {},
            "models": models or {},
            "usage": usage or {},
            "started_at": datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - self.started, 3),
            "versions": library_versions(),
            "platform": {"system": platform.system(), "machine": platform.machine(), "argv0": Path(sys.argv[0]).name},
        }
        if extra:
            manifest.update(extra)
        path = self.path(MANIFEST)
        write_json(path, manifest)
        return path

    def record_failures(self, failures: Iterable[dict]) -> Path:
        """Write this run's failure records (each with the item's ``id`` and a ``reason``).

        They are retried on the next run; the file is rewritten each run so it lists only the
        items that are still failing.
        """
        path = self.path(FAILURES)
        write_jsonl(path, failures)
        return path
