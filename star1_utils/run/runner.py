"""Run the notebooks in order, headlessly, with papermill.

``python -m star1_utils run --profile demo [--notebooks 00,01] [--run-dir DIR] [-p KEY=VALUE ...] [--resume]``
executes each notebook into ``RUN_DIR/notebooks/``, prints one line per notebook with its time,
stops at the first failure naming the notebook, the cell and the error, and ends with a summary
table. ``--resume`` skips a stage whose manifest is current (same configuration, same inputs,
outputs intact).
"""

from __future__ import annotations

import ast
import difflib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from star1_utils import project_root
from star1_utils.run.artifacts import (FAILURES, LOCK_TOKEN_ENV, MANIFEST, RunFolderBusy, atomic_path, failure_count,
                                       lock_run_folder, manifest_is_current, read_manifest, unlock_run_folder,
                                       write_json)
from star1_utils.run.config import ProfileError, load_profile, looks_like_a_key
from star1_utils.run.notebook import RUNNER_PID_ENV, resolve_run_dir
from star1_utils.run.stages import STAGES, StageSpec


@dataclass
class NotebookResult:
    spec: StageSpec
    status: str  # "ok", "ok, N failed", "skipped (current)", "FAILED", "not run"
    seconds: float = 0.0
    output: Path | None = None
    error: str = ""


def parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["limit=5", "teacher_model=x"]`` -> ``{"limit": 5, "teacher_model": "x"}`` (values read as YAML)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"-p expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return out


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def select(keys: str | None) -> list[StageSpec]:
    """The stages to run, in order: all notebooks present, or those named (``"00,01"``)."""
    present = [s for s in STAGES if (notebooks_dir() / f"{s.notebook}.ipynb").is_file()]
    if not keys:
        return present
    wanted = [k.strip() for k in keys.split(",") if k.strip()]
    by_key = {s.key: s for s in present}
    missing = [k for k in wanted if k not in by_key]
    if missing:
        raise ValueError(f"no notebook for stage(s) {', '.join(missing)} in {notebooks_dir()}")
    return [by_key[k] for k in sorted(wanted)]


#: Parameters every notebook takes (the standard block of each parameters cell).
STANDARD_PARAMS = ("profile", "run_dir", "limit", "overrides")


def notebook_parameters(spec: StageSpec) -> set[str]:
    """The names a notebook's ``parameters`` cell assigns: the parameters papermill can set."""
    nb = json.loads((notebooks_dir() / f"{spec.notebook}.ipynb").read_text())
    cell = next((c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])), None)
    if cell is None:
        return set(STANDARD_PARAMS)
    source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    return {target.id for node in ast.parse(source).body if isinstance(node, ast.Assign)
            for target in node.targets if isinstance(target, ast.Name)}


def check_params(params: dict[str, Any], specs: list[StageSpec]) -> dict[str, set[str]]:
    """Refuse, before any kernel starts, a parameter no selected notebook takes (a misspelt role
    setting would otherwise run on the profile's endpoint) and a key passed as ``*_api_key_env``
    (the value is never printed). Returns each notebook's parameters."""
    taken = {s.key: notebook_parameters(s) for s in specs}
    known = set().union(*taken.values()) if taken else set()
    for name in params:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"unknown notebook parameter {name!r}: none of notebooks "
                             f"{', '.join(taken)} takes it{hint}")
    for name, value in params.items():
        if name.endswith("_api_key_env") and value:
            if not isinstance(value, str) or looks_like_a_key(value):
                raise ValueError(f"{name} takes the NAME of the environment variable holding the key, not the "
                                 "key itself (the value is not shown or written anywhere)")
            if value not in os.environ:
                raise ValueError(f"{name}={value}: the environment variable {value} is not set "
                                 f"(export {value}=... in this shell first)")
    return taken


def _failure_text(exc: Exception, executed: Path) -> str:
    """One line naming the cell (its index in the source notebook and first line) and the error.

    Papermill's executed copy holds extra cells (the injected parameters and two error markers),
    so the failing cell is found by its error output and its index counted without them.
    """
    ename = getattr(exc, "ename", type(exc).__name__)
    evalue = str(getattr(exc, "evalue", exc)).strip().splitlines()
    where = "a cell"
    try:
        import nbformat

        cells = nbformat.read(str(executed), as_version=4).cells
        added = {"injected-parameters", "papermill-error-cell-tag"}
        failing = next(i for i, c in enumerate(cells) if c.cell_type == "code"
                       and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        src_index = failing - sum(1 for c in cells[:failing] if added & set(c.metadata.get("tags", [])))
        first = next((line for line in cells[failing].source.splitlines() if line.strip()), "")
        where = f"cell {src_index} ({first[:60]!r})"
    except Exception:  # no executed copy or no error output: keep papermill's own index
        index = getattr(exc, "cell_index", None)
        if index is not None:
            where = f"cell {index}"
    return f"{where}: {ename}: {evalue[0] if evalue else ''}"


def run(
    profile: str = "demo",
    notebooks: str | None = None,
    run_dir: str = "",
    params: dict[str, Any] | None = None,
    resume: bool = False,
    kernel_name: str = "python3",
    echo=print,
) -> list[NotebookResult]:
    """Execute the selected notebooks in order; returns one result per notebook.

    The run folder is locked for the whole run (a second runner is refused, naming this one's pid);
    the kernels started here write under that lock and die with this process.
    """
    params = dict(params or {})
    rd = resolve_run_dir(profile, run_dir)
    overrides = params.get("overrides") or {}
    role_params = {k: v for k, v in params.items() if k not in {"overrides", "limit", "profile", "run_dir"}}
    cfg = load_profile(profile, overrides=overrides, limit=params.get("limit", 0), **role_params)
    specs = select(notebooks)
    taken = check_params(params, specs)
    token = lock_run_folder(rd, f"python -m star1_utils run --profile {profile}")
    saved = {k: os.environ.get(k) for k in (LOCK_TOKEN_ENV, RUNNER_PID_ENV)}
    os.environ.update({LOCK_TOKEN_ENV: token, RUNNER_PID_ENV: str(os.getpid())})
    try:
        return _run_locked(cfg, profile, rd, specs, taken, params, resume, kernel_name, echo)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        unlock_run_folder(rd)


def _run_locked(cfg, profile, rd: Path, specs: list[StageSpec], taken: dict[str, set[str]],
                params: dict[str, Any], resume: bool, kernel_name: str, echo) -> list[NotebookResult]:
    import papermill as pm

    out_dir = rd / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    results = [NotebookResult(s, "not run") for s in specs]
    nb_params = {**params, "profile": str(profile), "run_dir": str(rd)}
    echo(f"STAR-1 suite: profile {cfg.name!r}, run folder {rd}, {len(specs)} notebook(s)")
    for res in results:
        spec = res.spec
        src = notebooks_dir() / f"{spec.notebook}.ipynb"
        dst = out_dir / f"{spec.notebook}.ipynb"
        res.output = dst
        if resume and spec.sections is not None:
            current, _why = manifest_is_current(rd / spec.stage_dir, cfg.section_sha256(*spec.sections), cfg)
            if current and dst.is_file():
                res.status = "skipped (current)"
                echo(f"  {spec.notebook:<30} skipped: manifest is current")
                continue
        t0 = time.time()
        try:
            own = {k: v for k, v in nb_params.items() if k in taken[spec.key]}  # no "unknown parameter" noise
            # a kernel papermill starts shows no widgets and is no JupyterLab notebook, even when this
            # runner runs inside one (notebook 08's sub runs): it writes plain progress lines
            session = os.environ.pop("JPY_SESSION_NAME", None)
            with atomic_path(dst) as tmp:  # a full disk leaves no invalid executed notebook
                try:
                    pm.execute_notebook(
                        str(src), str(tmp), parameters=own, kernel_name=kernel_name,
                        cwd=str(notebooks_dir()), progress_bar=False, log_output=False,
                        # The kernel's start-up warning about unencrypted local TCP is noise on every run.
                        extra_arguments=["--IPKernelApp.log_level=ERROR"],
                    )
                except pm.PapermillExecutionError as exc:  # a cell failed: keep the copy with its traceback
                    failure = exc
                else:
                    failure = None
                finally:
                    if session is not None:
                        os.environ["JPY_SESSION_NAME"] = session
            if failure is not None:
                raise failure
        except Exception as exc:  # papermill raises PapermillExecutionError with cell details
            res.seconds = time.time() - t0
            res.status = "FAILED"
            res.error = _failure_text(exc, dst)
            echo(f"  {spec.notebook:<30} FAILED after {res.seconds:6.1f} s")
            echo(f"FAILED: notebook {spec.notebook}.ipynb, {res.error}")
            if dst.is_file() and dst.stat().st_mtime >= t0:
                echo(f"        executed copy with the traceback: {dst}")
            else:
                echo("        no executed copy was written")
            if mark_failed(rd / spec.stage_dir, t0, res.error):
                echo(f"        {spec.stage_dir}/{MANIFEST} marked failed: --resume runs the stage again")
            break
        res.seconds = time.time() - t0
        failed = failure_count(rd / spec.stage_dir)
        res.status = f"ok, {failed} failed" if failed else "ok"
        echo(f"  {spec.notebook:<30} ok     {res.seconds:6.1f} s"
             + (f"  ({failed} failed item(s) in {spec.stage_dir}/{FAILURES}: --resume retries them)" if failed else ""))
        note = (_manifest_written_since(rd / spec.stage_dir, t0) or {}).get("change_note")
        if note:
            echo(f"        {note}")
    echo(summary_table(results))
    return results


def run_sub_run(profile: str, sub_run_dir, keys: str, overrides: dict, limit: int, params: dict | None = None,
                  echo=print) -> list:
    """Execute notebooks ``keys`` (e.g. ``"05,06,07"``) with papermill into ``sub_run_dir``: one
    point of notebook 08's benign-mix curve, trained and evaluated in a run folder of its own.

    Stages whose manifest is current are skipped (the runner's ``--resume``), so re-running
    notebook 08 after a failure does not train a finished curve point again.
    """
    # only what the sub run's notebooks take: 08's rewriter settings mean nothing to 05-07
    taken = set().union(*(notebook_parameters(s) for s in select(keys)))
    p = {k: v for k, v in (params or {}).items() if v not in ("", 0, None) and k in taken}
    p.update(overrides=dict(overrides), limit=int(limit))
    results = run(profile=profile, notebooks=keys, run_dir=str(sub_run_dir), params=p, resume=True, echo=echo)
    failed = [r for r in results if r.status == "FAILED"]
    if failed:
        r = failed[0]
        raise RuntimeError(f"sub run {sub_run_dir}: notebook {r.spec.notebook} failed: {r.error} "
                           f"(executed copy: {r.output})")
    return results


def _manifest_written_since(stage_dir: Path, since: float) -> dict | None:
    """The stage's manifest if the notebook run that started at ``since`` wrote it, else None."""
    path = stage_dir / MANIFEST
    return read_manifest(stage_dir) if path.is_file() and path.stat().st_mtime >= since else None


def mark_failed(stage_dir: Path, since: float, error: str) -> bool:
    """A manifest the failed notebook wrote before a later cell failed (its checks, an exercise)
    is marked ``failed``, so ``--resume`` does not take the stage for done. Returns whether it was."""
    m = _manifest_written_since(stage_dir, since)
    if not m:
        return False
    write_json(stage_dir / MANIFEST, {**m, "status": "failed", "failure": error})
    return True


def summary_table(results: list[NotebookResult]) -> str:
    lines = ["", f"{'notebook':<30} {'status':<18} {'seconds':>8}  produces", "-" * 100]
    for r in results:
        secs = f"{r.seconds:8.1f}" if r.seconds else f"{'':>8}"
        lines.append(f"{r.spec.notebook:<30} {r.status:<18} {secs}  {r.spec.produces}")
    total = sum(r.seconds for r in results)
    lines.append("-" * 100)
    lines.append(f"{'total':<30} {'':<18} {total:8.1f}")
    return "\n".join(lines)


def main(args) -> int:
    # a relative --run-dir is relative to where the command runs, as for every CLI
    run_dir = str(Path(args.run_dir).resolve()) if args.run_dir else ""
    try:
        params = parse_params(args.param or [])
        results = run(profile=args.profile, notebooks=args.notebooks, run_dir=run_dir,
                      params=params, resume=args.resume)
    except (ProfileError, ValueError, RunFolderBusy) as e:
        print(f"error: {e}")
        return 2
    if any(r.status == "FAILED" for r in results):
        return 1
    rd = resolve_run_dir(args.profile, run_dir)
    print(f"\nResults are in {rd} (executed notebooks in {rd / 'notebooks'}).")
    return 0
