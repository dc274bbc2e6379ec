"""Run untrusted Python (model-written code) in a separate, limited process.

Never in the calling process: each program runs in a fresh ``python -I -S`` subprocess (isolated
mode, no site-packages, no inherited environment), in a temporary working directory, in its own
session (so a timeout kills the whole process group), with ``resource.setrlimit`` limits on address
space (memory), CPU seconds, file size and core dumps, and with the process-spawning and
file-deleting functions of ``os``/``shutil``/``subprocess`` disabled before the program starts
(the same guard idea as OpenAI's ``human-eval``). The wall-clock timeout is enforced by the parent.

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

_BOOT = r'''
import resource, sys
mem, cpu = int(sys.argv[1]), int(sys.argv[2])
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
try:
    exec(compile(program, "<completion>", "exec"), {"__name__": "__main__"})
except MemoryError:
    sys.stderr.write("MemoryError: memory limit\n")
    sys.stderr.flush()
    raise SystemExit(3)
except BaseException as e:
    if isinstance(e, SystemExit) and e.code in (0, None):
        raise SystemExit(0)
    sys.stderr.write(f"{type(e).__name__}: {str(e)[:200]}\n")
    sys.stderr.flush()
    raise SystemExit(1)
'''


@dataclass
class RunResult:
    passed: bool
    verdict: str  # "passed", "failed: <error>", "timed out", "memory limit", "killed: <signal>"
    seconds: float


def run_program(program: str, *, timeout_s: float = 3.0, memory_mb: int = 1024) -> RunResult:
    """Execute ``program`` in a limited subprocess; passed means it exited 0 within the timeout."""
    t0 = time.monotonic()
    cpu = max(1, int(timeout_s) + 1)
    with tempfile.TemporaryDirectory(prefix="star1-sandbox-") as tmp:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _BOOT, str(int(memory_mb) << 20), str(cpu)],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp,
            env={"PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"},
            start_new_session=True)
        try:
            _, err = proc.communicate(program.encode("utf-8", "replace"), timeout=timeout_s)
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
    if rc == 3 or "MemoryError" in last:
        return RunResult(False, "memory limit", dt)
    if rc < 0:
        sig = signal.Signals(-rc).name if -rc in signal.Signals.__members__.values() else str(-rc)
        return RunResult(False, "timed out" if sig == "SIGXCPU" else f"killed: {sig}", dt)
    return RunResult(False, f"failed: {last[:200]}" if last else f"failed: exit {rc}", dt)


def run_many(programs: list[str], *, timeout_s: float = 3.0, memory_mb: int = 1024, workers: int = 2) -> list[RunResult]:
    """:func:`run_program` over many programs, ``workers`` subprocesses at a time, in input order."""
    if not programs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, workers)) as ex:
        return list(ex.map(lambda p: run_program(p, timeout_s=timeout_s, memory_mb=memory_mb), programs))
