"""JupyterLab as the learner's home: the kernel the notebooks run in, and Lab's settings.

``make setup`` calls :func:`install` once per environment (``python -m star1_utils lab-setup``):

- the kernel ``python3`` in this environment (``sys.prefix``), which every notebook names, loads
  the out-of-order helper (run/cell_order.py) when it starts, so that a cell run before the cell
  that sets its inputs says which cell that is;
- JupyterLab's settings for this environment turn off the news and update checks: they ask the
  learner a question over the first outputs, and they need a network the suite never assumes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from star1_utils.run.cell_order import EXTENSION

KERNEL_NAME = "python3"
KERNEL_DISPLAY_NAME = "Python 3 (STAR-1 .venv)"
#: JupyterLab's settings overrides for this environment (share/jupyter/lab/settings/overrides.json).
LAB_SETTINGS = {"@jupyterlab/apputils-extension:notification": {"fetchNews": "false", "checkForUpdates": False}}


def install_kernel(prefix: str | Path = sys.prefix) -> Path:
    """Install this environment's ``python3`` kernel, loading :data:`EXTENSION` at start; returns
    the kernel spec's folder."""
    from ipykernel.kernelspec import install

    folder = Path(install(kernel_name=KERNEL_NAME, display_name=KERNEL_DISPLAY_NAME, prefix=str(prefix)))
    spec_path = folder / "kernel.json"
    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    ext = f"--ext={EXTENSION}"
    if ext not in spec["argv"]:
        spec["argv"].append(ext)
    spec_path.write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return folder


def write_lab_settings(prefix: str | Path = sys.prefix) -> Path:
    """Merge :data:`LAB_SETTINGS` into the environment's JupyterLab overrides; returns the file."""
    path = Path(prefix) / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    settings = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for plugin, values in LAB_SETTINGS.items():
        settings.setdefault(plugin, {}).update(values)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    return path


def install(prefix: str | Path = sys.prefix) -> list[Path]:
    """The kernel and the settings (what ``make setup`` runs); returns what it wrote."""
    return [install_kernel(prefix) / "kernel.json", write_lab_settings(prefix)]
