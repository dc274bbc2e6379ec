"""What the machine offers: library versions, CPU, GPU, data mirror. Reported by notebook 00."""

from __future__ import annotations

import os
import platform

from star1_utils.run.artifacts import library_versions
from star1_utils.run.resources import MIRROR_ENV, mirror_root, offline


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


def progress_wanted(progress: bool) -> bool:
    """``progress`` unless the environment says ``STAR1_PROGRESS=0`` (set by the demo profile: in a
    saved notebook every frame of a bar is kept, and the demo's bars finish in a second anyway)."""
    return bool(progress) and os.environ.get("STAR1_PROGRESS", "1") != "0"


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
