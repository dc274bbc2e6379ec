"""Progress a learner sees on every long step: a widget in JupyterLab, plain lines everywhere else.

Scoring 244 items, training 39 updates or generating 600 answers takes seconds in the demo and
minutes in the miniature; a silent cell for ten minutes reads as a hang. Every long step of the
suite asks :func:`bar` for its progress, which picks one of three forms:

- ``widget``: a tqdm widget (ipywidgets) that redraws in place, in a notebook a person is looking
  at. A Jupyter server names the notebook of every kernel it starts (``JPY_SESSION_NAME``);
  papermill and nbclient do not, which is how the two are told apart;
- ``lines``: one plain line at most every :data:`LINE_INTERVAL_S` seconds while a step runs and
  one when it ends: readable in papermill's ``--log-output``, in a terminal, in CI logs,
  and short in a saved notebook (a text bar would keep every frame);
- ``off``: nothing.

``STAR1_PROGRESS`` chooses (``widget``, ``lines``, or ``0``/``off``); unset, the form follows from
where the code runs. A profile's ``progress_bars: false`` sets it to ``off``.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from tqdm import tqdm

#: Where the choice is made by hand: ``widget``, ``lines``, ``off`` (``0`` too); unset: by place.
PROGRESS_ENV = "STAR1_PROGRESS"
#: Seconds between two plain lines of one step (the last line is always written).
LINE_INTERVAL_S = 30.0
#: A step that ends sooner writes only its last line (no "0/244" line for a one-second step).
LINE_DELAY_S = 1.0
#: What a plain line says: ``scoring: 120/244 items (49%) 00:41<00:43, 2.90items/s``.
LINE_FORMAT = "{desc}: {n_fmt}/{total_fmt} {unit} ({percentage:.0f}%) {elapsed}<{remaining}, {rate_fmt}{postfix}"


def _in_kernel() -> bool:
    """Whether this code runs in an IPython kernel (a notebook), not a script or a terminal."""
    shell = sys.modules.get("IPython")
    if shell is None:
        return False
    ip = shell.get_ipython()
    return ip is not None and type(ip).__name__ == "ZMQInteractiveShell"


def _has_widgets() -> bool:
    try:
        import ipywidgets  # noqa: F401  (optional: the `lab` extra installs it)
    except ImportError:
        return False
    return True


def mode() -> str:
    """``widget``, ``lines`` or ``off``: what :func:`bar` draws here (see the module's docstring)."""
    chosen = os.environ.get(PROGRESS_ENV, "").strip().lower()
    if chosen in ("0", "off", "false", "no"):
        return "off"
    # asked for by hand, or unset where a Jupyter server started the kernel (it sets
    # JPY_SESSION_NAME; papermill does not); a widget needs a kernel (a notebook) and ipywidgets
    asked = chosen == "widget" or (chosen != "lines" and bool(os.environ.get("JPY_SESSION_NAME")))
    return "widget" if asked and _in_kernel() and _has_widgets() else "lines"


def wanted(progress: bool = True) -> bool:
    """``progress`` unless :func:`mode` is ``off``."""
    return bool(progress) and mode() != "off"


class LineBar(tqdm):
    """A tqdm bar written as whole lines (every :data:`LINE_INTERVAL_S` seconds and at the end), never ``\\r``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._last_line = None
        kwargs.setdefault("delay", LINE_DELAY_S)
        kwargs.setdefault("mininterval", LINE_INTERVAL_S)
        kwargs.setdefault("maxinterval", LINE_INTERVAL_S)
        kwargs.setdefault("bar_format", LINE_FORMAT)
        super().__init__(*args, **kwargs)

    def display(self, msg: str | None = None, pos: int | None = None) -> None:  # noqa: ARG002
        if msg == "":  # tqdm clears its line on close(leave=False): nothing to clear here
            return
        line = (msg if msg is not None else self.format_meter(**self.format_dict)).strip()
        if line and line != self._last_line:
            self._last_line = line
            self.fp.write(line + "\n")
            self.fp.flush()

    def close(self) -> None:
        """Write the last line (with the whole step's rate), and nothing after it."""
        if not getattr(self, "disable", True):
            self._ema_dt = lambda: None  # tqdm's own close does this for the overall rate
            self.display()
        self.leave = False  # tqdm would otherwise end the line it redrew with a bare newline
        super().close()


def bar(total: int | None, desc: str, unit: str = "items", *, progress: bool = True, initial: int = 0,
        file: Any = None) -> tqdm:
    """A progress bar for one long step in the form :func:`mode` picks (disabled when off or
    ``progress`` is False); use it as tqdm (``update``, ``close``, a ``with`` block)."""
    form = mode() if progress else "off"
    if form == "widget":
        from tqdm.notebook import tqdm as widget_bar

        return widget_bar(total=total, desc=desc, unit=unit, initial=initial)
    return LineBar(total=total, desc=desc, unit=unit, initial=initial, file=file or sys.stderr,
                   disable=form == "off")
