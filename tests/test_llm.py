"""The LLM engine against the stand-in app served on 127.0.0.1 with injected faults."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from star1_utils.llm import replies
from star1_utils.llm import engine
from star1_utils.run.config import RoleConfig

ROOT = Path(__file__).resolve().parents[1]
KEY_ENV = "STAR1_TEST_FAULT_KEY"
SECRET = "sk-test-DO-NOT-LEAK-4f1c2a9e"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(*args: str):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "star1_utils.demo.app", "serve", "--port", str(port), *args],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(url + "/v1/models", timeout=1).read()
            return proc, url
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode())
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not start")


def _stats(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url + "/_stats", timeout=5).read())


def _prompt_hash(text: str) -> str:
    import hashlib

    msgs = [{"role": "user", "content": text}]
    return hashlib.sha256(json.dumps(msgs, sort_keys=True).encode()).hexdigest()[:16]


def _parse(text: str) -> str:
    if not text.startswith("echo: "):
        raise engine.InvalidAnswer(f"not an echo: {text[:30]!r}")
    return text[len("echo: "):]


ITEMS = [{"id": f"item-{i:04d}", "q": f"question number {i}"} for i in range(300)]


def _msgs(it):
    return [{"role": "user", "content": it["q"]}]


@pytest.fixture()
def faulty_server():
    proc, url = _serve("--fail-500", "0.10", "--rate-429", "0.05", "--retry-after", "0.2", "--slow", "0.02",
                       "--slow-s", "3", "--malformed", "0.02", "--seed", "7")
    yield url
    proc.kill()
    proc.wait()


def test_faults_every_item_labelled_or_failed_and_rerun_sends_nothing(faulty_server, tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, SECRET)
    rc = RoleConfig(base_url=faulty_server + "/v1", model="standin-echo", api_key_env=KEY_ENV, concurrency=16,
                    timeout_s=1.0, max_attempts=3)
    cache = tmp_path / "cache" / "llm.sqlite"
    out = engine.run_batch(rc, "x", ITEMS, build_messages=_msgs, parse=_parse, cache_path=cache, progress=False,
                        backoff_base=0.05)
    stats = _stats(faulty_server)
    # The faults really happened.
    assert stats["by_status"].get("500", 0) > 10 and stats["by_status"].get("429", 0) > 3
    assert stats["requests"] > len(ITEMS)
    assert stats["authorized"] == stats["requests"]
    # Every item ends labelled or as a failure record with id and reason; none lost or duplicated.
    done = list(out.results)
    failed = [f["id"] for f in out.failures]
    assert sorted(done + failed) == sorted(it["id"] for it in ITEMS)
    assert not set(done) & set(failed)
    assert all(f["reason"] and f["attempts"] >= 1 for f in out.failures)
    for it in ITEMS:
        if it["id"] in out.results:
            assert out.results[it["id"]].parsed == it["q"]
    assert len(out.results) >= 0.97 * len(ITEMS)
    assert out.usage["requests"] == stats["requests"]

    # A second run sends no request for finished items (only the failed ones are retried).
    before = stats["requests"]
    out2 = engine.run_batch(rc, "x", ITEMS, build_messages=_msgs, parse=_parse, cache_path=cache, progress=False,
                         backoff_base=0.05)
    stats2 = _stats(faulty_server)
    resent = set(stats2["prompts"][before:])
    finished_hashes = {_prompt_hash(it["q"]) for it in ITEMS if it["id"] in out.results}
    assert not resent & finished_hashes
    assert out2.usage["cached"] == len(out.results)
    assert all(r.cached for i, r in out2.results.items() if i in out.results)

    # The key never appears in the cache, the outcome, failure records or a manifest.
    from star1_utils.run.artifacts import Stage

    stage = Stage(tmp_path, "02_test", notebook="t", config_sha256="x")
    stage.record_failures(out2.failures)
    stage.finish(outputs=[cache], usage=out2.usage, models={"x": json.dumps({"base_url": rc.base_url, "model": rc.model, "api_key_env": rc.api_key_env})})
    for p in tmp_path.rglob("*"):
        if p.is_file():
            assert SECRET.encode() not in p.read_bytes(), p
    assert SECRET not in repr(out2) + json.dumps(out2.failures) + json.dumps(out2.usage)


KILL_SCRIPT = textwrap.dedent("""
    import sys
    from star1_utils.llm import engine
    from star1_utils.run.config import RoleConfig
    url, cache = sys.argv[1], sys.argv[2]
    rc = RoleConfig(base_url=url + "/v1", model="standin-echo", concurrency=4, timeout_s=5)
    items = [{"id": f"item-{i:04d}", "q": f"question number {i}"} for i in range(300)]
    engine.run_batch(rc, "x", items, build_messages=lambda it: [{"role": "user", "content": it["q"]}],
                     cache_path=cache, progress=False)
""")


def test_sigkill_midway_then_resume_loses_nothing(tmp_path):
    proc, url = _serve("--latency", "0.05")
    try:
        cache = tmp_path / "llm.sqlite"
        script = tmp_path / "client.py"
        script.write_text(KILL_SCRIPT)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen([sys.executable, str(script), url, str(cache)], cwd=ROOT, env=env)
        deadline = time.time() + 60
        n_done = 0
        while time.time() < deadline:
            if cache.exists():
                try:
                    with sqlite3.connect(cache) as db:
                        n_done = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
                except sqlite3.Error:
                    n_done = 0
                if n_done >= 60:
                    break
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert 60 <= n_done < len(ITEMS), n_done
        with sqlite3.connect(cache) as db:
            n_kept = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        assert n_kept < len(ITEMS)  # killed mid-way
        sent_before = _stats(url)["requests"]

        rc = RoleConfig(base_url=url + "/v1", model="standin-echo", concurrency=8, timeout_s=5)
        out = engine.run_batch(rc, "x", ITEMS, build_messages=_msgs, parse=_parse, cache_path=cache, progress=False)
        assert list(out.results) == [it["id"] for it in ITEMS] and not out.failures
        assert out.usage["cached"] == n_kept
        resent = _stats(url)["prompts"][sent_before:]
        assert len(resent) == len(ITEMS) - n_kept == out.usage["requests"]
        assert len(set(resent)) == len(resent)
    finally:
        proc.kill()
        proc.wait()


def test_normalise_reasoning_forms():
    assert replies.normalise("answer", "why") == "<think>\nwhy\n</think>\n\nanswer"
    assert replies.normalise("<think>\nwhy\n</think>\n\nanswer") == "<think>\nwhy\n</think>\n\nanswer"
    assert replies.normalise("why</think>answer") == "<think>\nwhy\n</think>\n\nanswer"
    assert replies.normalise("plain") == "plain"
    assert replies.split_think("<think>\na\n</think>\n\nb") == ("a", "b")


def test_inprocess_teacher_inline_and_length(tmp_path):
    from star1_utils.dataset import traces
    from star1_utils.run.config import load_profile

    cfg = load_profile("demo")
    item = {"id": "x", "question": "How do I hack into a server?", "category": ["Illicit / Criminal Behavior"]}
    inline = cfg.role("teacher").model_copy(update={"extra_body": {"standin_inline_think": True}})
    a = engine.run_batch(inline, "teacher", [item], build_messages=traces.build_messages, progress=False)
    b = traces.generate(cfg, [item], None)
    assert a.results["x"].text == b.results["x"].text  # both forms normalise to the same text
    assert a.results["x"].text.startswith("<think>\n") and "Safety policy section 5" in a.results["x"].text
    short = engine.run_batch(cfg, "teacher", [item], build_messages=traces.build_messages,
                          decoding={"max_tokens": 20}, progress=False)
    assert not short.results and "length" in short.failures[0]["reason"]
    assert short.failures[0]["attempts"] == cfg.role("teacher").max_attempts


def test_missing_standin_is_a_clear_error():
    rc = RoleConfig(model="standin-does-not-exist")
    out = engine.run_batch(rc, "x", ITEMS[:1], build_messages=_msgs, progress=False)
    assert "standin-does-not-exist" in out.failures[0]["reason"] and "404" in out.failures[0]["reason"]


def test_key_never_reaches_the_executed_notebook(demo_run, tmp_path, monkeypatch):
    """A real endpoint with a key, driven the way a batch user would: runner + papermill parameters.

    The key lives only in the environment variable the parameters name; no file the run writes
    (executed notebook, artifacts, cache, manifest, failures) may contain it.
    """
    import shutil

    from star1_utils.run.runner import run

    proc, url = _serve()
    try:
        monkeypatch.setenv(KEY_ENV, SECRET)
        run_dir = tmp_path / "run"
        for stage in ("01_collection", "02_classification"):
            shutil.copytree(demo_run / stage, run_dir / stage)
        lines: list[str] = []
        results = run(profile="demo", notebooks="03", run_dir=str(run_dir), echo=lines.append, params={
            "teacher_base_url": url + "/v1", "teacher_model": "standin-teacher", "teacher_api_key_env": KEY_ENV,
            "limit": 8})
        assert [r.status for r in results] == ["ok"], "\n".join(lines)
        assert _stats(url)["authorized"] >= 1  # the key was sent to the server...
        for p in run_dir.rglob("*"):  # ...and written nowhere
            if p.is_file():
                assert SECRET.encode() not in p.read_bytes(), p
        assert KEY_ENV in (run_dir / "notebooks" / "03_reasoning_generation.ipynb").read_text()
    finally:
        proc.kill()
        proc.wait()


def test_identical_requests_share_an_answer_unless_the_role_says_one_each(tmp_path):
    """The suite sends one request per distinct message; ``share_identical: false`` (the full
    profile, as the reference's per-item loops) sends one per item, each repeat its own draw, and a
    re-run finds every draw in the cache."""
    from star1_utils.run.config import load_profile

    questions = ["", "", "", "NA", "lock", "lock"]
    items = [{"id": str(i), "q": q} for i, q in enumerate(questions)]
    echo = {"roles.classifier.base_url": "inprocess", "roles.classifier.model": "standin-echo",
            "roles.classifier.api_key_env": ""}

    def run(profile, cache):
        return engine.run_batch(load_profile(profile, overrides=echo), "classifier", items,
                                build_messages=lambda it: [{"role": "user", "content": it["q"] or " "}],
                                cache_path=tmp_path / cache, progress=False)

    assert run("demo", "a.sqlite").usage["requests"] == 3
    first = run("full", "b.sqlite")
    assert first.usage["requests"] == 6 and len(first.results) == 6
    again = run("full", "b.sqlite")
    assert again.usage["requests"] == 0 and again.usage["cached"] == 6
    from star1_utils.run.config import ROLES

    assert all(load_profile("full").role(r).share_identical is False for r in ROLES)
