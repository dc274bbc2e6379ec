"""Run artifacts: atomic JSONL files and the stage manifest of each run folder.

Each stage reads the previous stage's artifact and writes its own under ``run_dir``. Files are
written atomically (temp file + rename) so an interrupted run never leaves half a file, and each
stage writes ``manifest.json`` last: parameters, input and output SHA-256, row counts, time taken,
library versions and model ids. A stage whose manifest matches its inputs and configuration is
"current" and is not redone (``Stage.is_current``; ``python -m star1_utils run --resume``).
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from star1_utils.run.config import track_reads, untracked
from star1_utils.run.resources import sha256_file

MANIFEST = "manifest.json"
FAILURES = "failures.jsonl"


class ArtifactError(ValueError):
    """A malformed artifact; the message names the file and line."""


class InputChanged(RuntimeError):
    """An input of a stage changed between the moment the stage read it and the moment it finished."""


class RunFolderBusy(RuntimeError):
    """Another process holds the run folder's lock."""


# Files the suite writes are readable by everyone, as files written with open() under the usual
# umask (mkstemp alone makes them 0600).
FILE_MODE = 0o644
LOCK = ".star1.lock"
LOCK_TOKEN_ENV = "STAR1_RUN_LOCK_TOKEN"  # the runner passes its lock to the kernels it starts
_HELD: dict[str, Any] = {}  # run folder -> open lock file of this process

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
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """A temp path beside ``path`` for a library that writes files itself (a figure, a notebook):
    renamed over ``path`` only when the block succeeds and the file is not empty, so a full disk
    leaves the previous file (or none), never a truncated one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")
    try:
        yield tmp
        if not tmp.is_file() or tmp.stat().st_size == 0:
            raise OSError(f"{path}: nothing was written (is the disk full?)")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _lock_holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"pid {info['pid']} on {info['host']} ({info['what']}, since {info['since']})"
    except (OSError, ValueError, KeyError):
        return "another process"


def lock_run_folder(run_dir: str | Path, what: str) -> str:
    """Take the run folder's lock for this process (re-entrant); returns its token.

    One writer per run folder: a second runner, or a notebook's stage in JupyterLab while a runner
    works in the same folder, is refused in one line naming the holder. The lock is an ``flock``, so
    the system releases it when its process dies: a stale lock file from a killed process is taken
    over. A kernel the runner started inherits the runner's token and writes under its lock.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    key = str(run_dir.resolve())
    path = run_dir / LOCK
    if key in _HELD:
        return _HELD[key][1]
    token = os.environ.get(LOCK_TOKEN_ENV, "")
    if token and path.is_file():
        try:
            if json.loads(path.read_text(encoding="utf-8")).get("token") == token:
                return token  # the runner that started this kernel holds the folder for us
        except (OSError, ValueError):
            pass
    f = open(path, "a+", encoding="utf-8")
    try:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        raise RunFolderBusy(f"run folder {run_dir} is in use by {_lock_holder(path)}: wait for it to "
                            "finish, or use another --run-dir") from None
    token = uuid.uuid4().hex
    f.seek(0)
    f.truncate()
    json.dump({"pid": os.getpid(), "host": socket.gethostname(), "what": what, "token": token,
               "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}, f)
    f.flush()
    os.chmod(path, FILE_MODE)
    _HELD[key] = (f, token)
    return token


def unlock_run_folder(run_dir: str | Path) -> None:
    """Release this process's lock on the run folder (no-op when it holds none)."""
    held = _HELD.pop(str(Path(run_dir).resolve()), None)
    if held:
        fcntl.flock(held[0].fileno(), fcntl.LOCK_UN)
        held[0].close()


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


_TYPE_NAMES = {str: "a string", list: "a list", int: "a number", float: "a number", dict: "an object",
               bool: "true or false"}


def check_field(path: str | Path, lineno: int, row: dict, key: str, kind: type | None,
                may_be_empty: bool = False) -> None:
    """``row[key]`` is present, of type ``kind`` (when given) and not empty (unless ``may_be_empty``);
    else one line naming file, row and field."""
    if key not in row:
        raise ArtifactError(f"{path}: row {lineno}: missing field {key!r}")
    value = row[key]
    if kind is None:
        return
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ArtifactError(f"{path}: row {lineno}: field {key!r} must be {_TYPE_NAMES.get(kind, kind.__name__)}, "
                            f"not {json.dumps(value)[:40]}")
    if not may_be_empty and kind in (str, list, dict) and not (value.strip() if isinstance(value, str) else value):
        raise ArtifactError(f"{path}: row {lineno}: field {key!r} is empty")


def read_jsonl(path: str | Path, required: Iterable[str] | dict[str, type | None] = (),
               unique: str = "", may_be_empty: Iterable[str] = ()) -> list[dict]:
    """Read a JSONL file, checking each row: ``required`` fields must be present (a dict of
    ``field -> type`` also checks the type and that a string or list is not empty, except the
    fields in ``may_be_empty``), and ``unique`` names a field no two rows share. Every error is one
    line naming file, row and field."""
    empty_ok = set(may_be_empty)
    kinds = dict(required) if isinstance(required, dict) else dict.fromkeys(required)
    rows, seen = [], {}
    for lineno, row in enumerate(iter_jsonl(path), 1):
        for key, kind in kinds.items():
            check_field(path, lineno, row, key, kind, key in empty_ok)
        if unique:
            value = row.get(unique)
            if value in seen:
                raise ArtifactError(f"{path}: rows {seen[value]} and {lineno} have the same {unique} {value!r} "
                                    f"({unique}s must be unique)")
            if isinstance(value, (str, int)):
                seen[value] = lineno
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


def config_sha256_now(m: dict, cfg: Any) -> str | None:
    """The hash, under ``cfg``, of the settings a manifest says its stage read (``None`` when the
    manifest predates read tracking or names a setting that no longer exists)."""
    if cfg is None or "config_reads" not in m:
        return None

    try:
        with untracked():
            return cfg.section_sha256(*m["config_reads"])
    except (KeyError, TypeError):
        return ""


def manifest_is_current(stage_dir: str | Path, config_sha256: str, cfg: Any = None) -> tuple[bool, str]:
    """Whether a stage's recorded run still holds: same configuration, same inputs, outputs intact.

    With the loaded profile ``cfg``, "same configuration" means the same values of exactly the
    settings the stage read last time (its manifest's ``config_reads``); otherwise the hash of
    its declared sections. Returns ``(current, reason)``; the reason says what changed.
    """
    stage_dir = Path(stage_dir)
    m = read_manifest(stage_dir)
    if m is None:
        return False, "no manifest"
    if m.get("status") != "complete":
        return False, f"last run status {m.get('status')!r}"
    now = config_sha256_now(m, cfg)
    if (now if now is not None else config_sha256) != m.get("config_sha256"):
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


def check_upstream(run_dir: str | Path, path: str | Path) -> None:
    """Refuse an input that lies in a stage folder of this run unless that stage finished and
    its manifest lists the file with these very bytes (a crashed or hand-edited stage is named)."""
    run_dir, path = Path(run_dir).resolve(), Path(path).resolve()
    stage_dir = path.parent
    if stage_dir.parent != run_dir or stage_dir.name in ("cache", "notebooks"):
        return  # a file of the user's (data_path) or of the run's caches: no stage vouches for it
    m = read_manifest(stage_dir)
    shown = f"{stage_dir.name}/{path.name}"
    if m is None or m.get("status") != "complete":
        raise ArtifactError(f"{shown}: stage {stage_dir.name} has no complete manifest (its notebook did not "
                            f"finish): run notebook {m.get('notebook') if m else stage_dir.name} first")
    rel = _rel(path, run_dir)
    if rel not in (m.get("outputs") or {}):
        raise ArtifactError(f"{shown}: not among the outputs recorded in {stage_dir.name}/{MANIFEST}: "
                            f"run notebook {m.get('notebook') or stage_dir.name} again")
    if m["outputs"][rel] != sha256_file(path):
        raise ArtifactError(f"{shown} changed after stage {stage_dir.name} finished: run notebook "
                            f"{m.get('notebook') or stage_dir.name} again (or restore the file)")


def change_note(run_dir: str | Path, previous: dict | None, current: dict) -> str:
    """What a re-run of a stage changed, in one line for the notebook and the runner's log ("" when
    nothing is worth saying: a first run, or the same settings giving the same files).

    Other settings that leave every output byte-identical say so (no later stage is stale); changed
    outputs name the stages that read them, which ``--resume`` will now run again (their recorded
    input no longer matches).
    """
    if not previous or previous.get("status") != "complete":
        return ""
    before = previous.get("outputs") or {}
    changed = sorted(rel for rel, digest in current["outputs"].items() if before.get(rel) != digest)
    other_settings = previous.get("config_sha256") != current.get("config_sha256")
    stage = current["stage"]
    if not changed:
        return (f"{stage}: re-run with other settings, and its outputs are byte-identical to the last run's: "
                "no later stage is stale") if other_settings else ""
    readers = sorted(p.parent.name for p in Path(run_dir).glob(f"*/{MANIFEST}")
                     if p.parent.name != stage and set((read_manifest(p.parent) or {}).get("inputs") or {}) & set(changed))
    why = "with other settings" if other_settings else "with the same settings"
    stale = (f"now stale: {', '.join(readers)} (python -m star1_utils run --resume runs them again)"
             if readers else "no finished stage reads them yet")
    return f"{stage}: re-run {why} changed {len(changed)} output(s) ({', '.join(changed[:3])}); {stale}"


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
    read_hashes: dict[str, str] = field(default_factory=dict)  # input (relative to run_dir) -> SHA-256 when read
    profile: Any = None  # the loaded Profile; with it the manifest records the settings the stage read
    config_reads: set[str] | None = None  # filled by config.track_reads while the stage runs

    @property
    def dir(self) -> Path:
        return self.run_dir / self.name

    def path(self, name: str) -> Path:
        """A file inside the stage folder."""
        return self.dir / name

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.profile is not None:
            self.config_reads = track_reads(self.profile)
            previous = read_manifest(self.dir)
            if previous and config_sha256_now(previous, self.profile) == previous.get("config_sha256"):
                # outputs this run may reuse were made with these settings too: they stay covered
                self.config_reads.update(previous["config_reads"])

    def is_current(self) -> bool:
        return manifest_is_current(self.dir, self.config_sha256, self.profile)[0]

    def why_not_current(self) -> str:
        return manifest_is_current(self.dir, self.config_sha256, self.profile)[1]

    def read_input(self, path: str | Path, required: Iterable[str] | dict[str, type | None] = (),
                   unique: str = "id", may_be_empty: Iterable[str] = ()) -> list[dict]:
        """Read an upstream artifact as this stage's input (see :func:`read_jsonl` for the checks).

        The file's stage must have finished (a complete manifest listing this very file), and its
        hash is taken now, when it is read: :meth:`finish` refuses to record outputs made from an
        input that changed in the meantime.
        """
        self.record_input(path)
        return read_jsonl(path, required, unique=unique, may_be_empty=may_be_empty)

    def record_input(self, path: str | Path) -> None:
        """Hash an input as it is read (any file: a model, a figure's data) and check its stage."""
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"{path}: no such file (did the previous stage run?)")
        check_upstream(self.run_dir, path)
        self.read_hashes[_rel(path, self.run_dir)] = sha256_file(path)

    def _check_inputs_unchanged(self) -> None:
        for rel, digest in self.read_hashes.items():
            p = Path(rel) if Path(rel).is_absolute() else self.run_dir / rel
            if not p.is_file() or sha256_file(p) != digest:
                raise InputChanged(f"{rel} changed while stage {self.name} ran (another runner or notebook "
                                   "wrote it): no manifest written; run this stage again")

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
        """Write ``manifest.json`` last, recording everything needed to decide "current?" later.

        Raises :class:`InputChanged` (and writes nothing) when an input read by :meth:`read_input`
        changed since it was read. Releases the run folder's lock this process took.
        """
        root = self.run_dir
        self._check_inputs_unchanged()
        manifest = {
            "stage": self.name,
            "notebook": self.notebook,
            "status": "complete",
            "config_sha256": self.config_sha256,
            "params": self.params,
            "inputs": {**self.read_hashes, **{_rel(Path(p), root): self.read_hashes.get(_rel(Path(p), root))
                                              or sha256_file(p) for p in inputs}},
            "outputs": {_rel(Path(p), root): sha256_file(p) for p in outputs if Path(p).is_file()},
            "counts": counts or {},
            "models": models or {},
            "usage": usage or {},
            "started_at": datetime.fromtimestamp(self.started, timezone.utc).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - self.started, 3),
            "versions": library_versions(),
            "platform": {"system": platform.system(), "machine": platform.machine(), "argv0": Path(sys.argv[0]).name},
        }
        if self.config_reads is not None:
            manifest["config_reads"] = sorted(self.config_reads)
            with untracked():
                manifest["config_sha256"] = self.profile.section_sha256(*manifest["config_reads"])
        if extra:
            manifest.update(extra)
        path = self.path(MANIFEST)
        note = change_note(self.run_dir, read_manifest(self.dir), manifest)
        if note:
            manifest["change_note"] = note  # the runner's log repeats it (runner.run)
        write_json(path, manifest)
        unlock_run_folder(self.run_dir)
        if note:
            print(note)
        return path

    def record_failures(self, failures: Iterable[dict]) -> Path:
        """Write this run's failure records (each with the item's ``id`` and a ``reason``).

        They are retried on the next run; the file is rewritten each run so it lists only the
        items that are still failing.
        """
        path = self.path(FAILURES)
        write_jsonl(path, failures)
        return path
