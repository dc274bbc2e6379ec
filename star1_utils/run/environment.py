"""What the machine offers: library versions, CPU, GPU, data mirror. Reported by notebook 00."""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

from star1_utils.run.artifacts import library_versions
from star1_utils.run.resources import MIRROR_ENV, mirror_root, offline
from star1_utils import project_root


def report() -> dict:
    """A dictionary describing the environment a run happens in."""
    info: dict = {
        "python": platform.python_version(),
        "platform": f"{platform.system()} {platform.machine()}",
        "cpu_count": os.cpu_count(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "(unset)"),
        "data_mirror": str(mirror_root()) if mirror_root() else f"(unset: {MIRROR_ENV})",
        "offline": offline(),
        "versions": library_versions(),
    }
    try:
        import torch

        info["gpu_available"] = bool(torch.cuda.is_available())
        info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    except Exception as e:  # torch missing or broken: say so, do not crash the overview
        info["gpu_available"] = False
        info["gpus"] = []
        info["torch_error"] = f"{type(e).__name__}: {e}"
    return info


def quiet_model_libraries() -> None:
    """Keep notebook outputs readable: no "Loading weights" / "Writing model shards" bars, and on a
    machine without CUDA no DeepSpeed warning that it "was unable to detect" a GPU (it picks the CPU
    anyway). Call it before importing transformers, trl or deepspeed."""
    import torch

    if not torch.cuda.is_available():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


# --------------------------------------------------------------------------- pins

#: The libraries whose versions the first cell of every notebook prints (the pins themselves are
#: read from pyproject.toml, or from the installed suite's metadata: never listed twice).
SHOWN = ("torch", "transformers", "trl", "peft", "accelerate", "datasets", "deepspeed", "vllm")
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;,]+)")


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(pyproject: str | Path | None = None) -> dict[str, str]:
    """The exact pins of the suite's dependencies (``name==version``), by normalised name: from the
    project's ``pyproject.toml`` when it is there (a checkout), else from the installed suite's
    metadata (a wheel)."""

    path = Path(pyproject) if pyproject else project_root() / "pyproject.toml"
    if path.is_file():
        import tomllib

        requirements = tomllib.loads(path.read_text(encoding="utf-8"))["project"]["dependencies"]
    else:
        from importlib.metadata import PackageNotFoundError, requires

        try:
            requirements = [r for r in requires("star1-notebooks") or [] if "extra ==" not in r]
        except PackageNotFoundError:
            requirements = []
    found = (_PIN.match(r) for r in requirements)
    return {_normal(m.group(1)): m.group(2) for m in found if m}


def installed_versions(names) -> dict[str, str | None]:
    """The installed version of each distribution (``None`` when it is not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out


def pin_mismatches(installed: dict[str, str | None] | None = None,
                   pinned: dict[str, str] | None = None) -> list[tuple[str, str | None, str]]:
    """``(name, installed, pinned)`` for every pin the installed version differs from. A local
    build tag does not count (``2.13.0+cpu`` and ``2.13.0+cu128`` are both ``2.13.0``)."""
    pinned = pins() if pinned is None else pinned
    installed = installed_versions(pinned) if installed is None else installed
    out = []
    for name, want in pinned.items():
        have = installed.get(name)
        if have is None or have.split("+")[0] != want:
            out.append((name, have, want))
    return out


def pin_warning(mismatches: list[tuple[str, str | None, str]]) -> str:
    """One line naming every mismatch, or ``""`` when there is none."""
    if not mismatches:
        return ""
    said = ", ".join(f"{n} {have or 'missing'} (pinned {want})" for n, have, want in mismatches)
    return (f"WARNING: {len(mismatches)} installed version(s) differ from the pins in pyproject.toml:"
            f" {said}; results may differ from the README's (make setup installs the pins)")


def check(echo=print, installed: dict[str, str | None] | None = None) -> None:
    """The first cell of every notebook: one line of the versions that shape results, and one
    warning line when the installed versions differ from the pins. Returns nothing, so a notebook
    cell that ends with it shows the line once."""
    pinned = pins()
    have = installed_versions(sorted(set(pinned) | set(SHOWN)))
    if installed:
        have.update(installed)
    shown = [f"python {platform.python_version()}"]
    shown += [f"{n} {have[n]}" for n in SHOWN if have.get(n)]
    lines = [" | ".join(shown)]
    warning = pin_warning(pin_mismatches(have, pinned))
    if warning:
        lines.append(warning)
    for line in lines:
        echo(line)
