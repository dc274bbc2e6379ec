"""Resume that does not lie, and mistakes caught before they cost: failed items make a stage stale,
unknown parameters and keys passed as variable names are refused before any kernel starts."""

from __future__ import annotations

import argparse
import json

import pytest

from star1_utils.run import runner
from star1_utils.run.artifacts import Stage, manifest_is_current, read_manifest
from star1_utils.run.config import ProfileError, load_profile
from star1_utils.run.stages import spec_for


def _finished_stage(tmp_path, failures: list[dict]) -> Stage:
    stage = Stage(tmp_path, "02_classification", notebook="02_category_classification", config_sha256="abc")
    out = stage.path("classified.jsonl")
    out.write_text('{"id": "a"}\n')
    stage.record_failures(failures)
    stage.finish(outputs=[out])
    return stage


def test_a_stage_with_failed_items_is_not_current(tmp_path):
    stage = _finished_stage(tmp_path, [{"id": "q7", "reason": "no list in the reply"}])
    current, why = manifest_is_current(stage.dir, "abc")
    assert not current and why == "1 failed item(s) in failures.jsonl to retry"


def test_a_stage_without_failures_is_current(tmp_path):
    stage = _finished_stage(tmp_path, [])
    assert manifest_is_current(stage.dir, "abc") == (True, "current")


def test_a_misspelt_parameter_is_refused_before_any_kernel_starts(tmp_path):
    with pytest.raises(ValueError, match=r"unknown notebook parameter 'clasifier_base_url'.*"
                                         r"did you mean classifier_base_url\?"):
        runner.run(profile="demo", notebooks="02", run_dir=str(tmp_path), params={"clasifier_base_url": "http://x"})
    assert not list((tmp_path / "notebooks").glob("*.ipynb"))  # nothing ran


def test_each_notebook_gets_only_its_own_parameters():
    assert "classifier_base_url" in runner.notebook_parameters(spec_for("02"))
    assert "classifier_base_url" not in runner.notebook_parameters(spec_for("03"))
    assert set(runner.STANDARD_PARAMS) <= runner.notebook_parameters(spec_for("09"))


@pytest.mark.parametrize("secret", ["sk-proj-AbC123xyz", "nvapi-q9Zr-77", "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7"])
def test_a_key_passed_as_a_variable_name_is_refused_and_never_shown(tmp_path, secret):
    with pytest.raises(ValueError) as e:
        runner.run(profile="demo", notebooks="02", run_dir=str(tmp_path), params={"classifier_api_key_env": secret})
    assert "NAME of the environment variable" in str(e.value) and secret not in str(e.value)
    with pytest.raises(ProfileError) as e:
        load_profile("demo", classifier_api_key_env=secret)
    assert "roles.classifier.api_key_env" in str(e.value) and secret not in str(e.value)


def test_an_unset_key_variable_is_named_before_any_cell_runs(tmp_path, monkeypatch):
    monkeypatch.delenv("STAR1_TEST_UNSET_KEY", raising=False)
    with pytest.raises(ValueError, match="environment variable STAR1_TEST_UNSET_KEY is not set"):
        runner.run(profile="demo", notebooks="02", run_dir=str(tmp_path),
                   params={"classifier_api_key_env": "STAR1_TEST_UNSET_KEY"})


def test_notebook_08s_hash_covers_the_sections_it_reads():
    """08 generates traces (reasoning.decoding) and applies the selection filter to the benign set."""
    sections = spec_for("08").sections
    assert {"reasoning", "selection", "training", "safety_eval", "serving"} <= set(sections)
    cfg = load_profile("demo")
    hot = load_profile("demo", overrides={"reasoning.temperature": 0.3})
    assert cfg.section_sha256(*sections) != hot.section_sha256(*sections)


def test_a_relative_run_dir_is_relative_to_the_current_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = argparse.Namespace(profile="demo", notebooks="00", run_dir="here", param=[], resume=False)
    assert runner.main(args) == 0
    assert (tmp_path / "here" / "00_overview" / "manifest.json").is_file()
    assert json.loads((tmp_path / "here" / "00_overview" / "manifest.json").read_text())["status"] == "complete"


# ----------------------------------------------------------------- one runner per run folder

import os  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
import warnings  # noqa: E402

from star1_utils.llm import engine  # noqa: E402
from star1_utils.run import artifacts  # noqa: E402

_HOLD = ("import sys, time; from star1_utils.run import artifacts; "
         "artifacts.lock_run_folder(sys.argv[1], 'a test holder'); print('held', flush=True); time.sleep(60)")


def _holder(run_dir) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-c", _HOLD, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def test_a_second_writer_is_refused_naming_the_holder_and_a_dead_ones_lock_is_taken_over(tmp_path):
    p = _holder(tmp_path)
    try:
        with pytest.raises(artifacts.RunFolderBusy, match=rf"in use by pid {p.pid} .*a test holder"):
            artifacts.lock_run_folder(tmp_path, "second")
        args = argparse.Namespace(profile="demo", notebooks="00", run_dir=str(tmp_path), param=[], resume=False)
        assert runner.main(args) == 2  # the runner says so in one line, runs nothing
        assert not (tmp_path / "00_overview" / "manifest.json").exists()
    finally:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert (tmp_path / artifacts.LOCK).is_file()  # the dead holder's file is still there: stale
    artifacts.lock_run_folder(tmp_path, "after the holder died")
    artifacts.unlock_run_folder(tmp_path)


def test_a_kernel_started_by_the_runner_dies_with_it(tmp_path):
    """The kernel side of end_with_runner: a child of a 'runner' that is SIGKILLed ends at once."""
    child = ("import os, sys, time; os.environ['STAR1_RUNNER_PID'] = str(os.getppid()); "
             "from star1_utils.run.notebook import end_with_runner; "
             "assert end_with_runner(); print(os.getpid(), flush=True); time.sleep(60)")
    parent = ("import subprocess, sys, time; "
              f"c = subprocess.Popen([sys.executable, '-c', {child!r}], stdout=subprocess.PIPE, text=True); "
              "print(c.stdout.readline().strip(), flush=True); time.sleep(60)")
    p = subprocess.Popen([sys.executable, "-c", parent], stdout=subprocess.PIPE, text=True)
    kid = int(p.stdout.readline())
    p.send_signal(signal.SIGKILL)
    p.wait()
    deadline = time.time() + 5
    while time.time() < deadline:
        try:
            os.kill(kid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        os.kill(kid, signal.SIGKILL)
        pytest.fail("the kernel outlived its runner")


# ----------------------------------------------------------------- inputs hashed when read

def _upstream(tmp_path, rows: list[dict] | str) -> tuple[Stage, object]:
    up = Stage(tmp_path, "01_collection", notebook="01_data_collection", config_sha256="u")
    path = up.path("collected.jsonl")
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        artifacts.write_jsonl(path, rows)
    up.finish(outputs=[path])
    return up, path


def test_an_input_that_changes_while_a_stage_runs_leaves_no_manifest(tmp_path):
    _, path = _upstream(tmp_path, [{"id": "a", "question": "q1"}])
    stage = Stage(tmp_path, "02_classification", notebook="02_category_classification", config_sha256="x")
    stage.read_input(path, required={"id": str, "question": str})
    path.write_text('{"id": "b", "question": "another"}\n')  # a second writer replaces the input
    out = stage.path("classified.jsonl")
    out.write_text("{}\n")
    with pytest.raises(artifacts.InputChanged, match="01_collection/collected.jsonl changed while stage "
                                                     "02_classification ran"):
        stage.finish(outputs=[out])
    assert not stage.path("manifest.json").exists()


def test_an_upstream_artifact_without_a_complete_manifest_is_refused(tmp_path):
    (tmp_path / "01_collection").mkdir()
    path = tmp_path / "01_collection" / "collected.jsonl"
    path.write_text('{"id": "a", "question": "q"}\n')  # 01 crashed before its manifest
    stage = Stage(tmp_path, "02_classification", config_sha256="x")
    with pytest.raises(artifacts.ArtifactError, match="stage 01_collection has no complete manifest"):
        stage.read_input(path)
    _upstream(tmp_path, [{"id": "a", "question": "q"}])
    path.write_text('{"id": "a", "question": "edited by hand"}\n')
    with pytest.raises(artifacts.ArtifactError, match="changed after stage 01_collection finished"):
        stage.read_input(path)


@pytest.mark.parametrize("value,problem", [(None, "must be a string, not null"), (7, "must be a string, not 7"),
                                           ("  ", "is empty"), ("", "is empty")])
def test_a_question_of_the_wrong_type_or_empty_names_file_row_and_field(tmp_path, value, problem):
    _, path = _upstream(tmp_path, [{"id": "a", "question": "fine"}, {"id": "b", "question": value}])
    stage = Stage(tmp_path, "02_classification", config_sha256="x")
    with pytest.raises(artifacts.ArtifactError) as e:
        stage.read_input(path, required={"id": str, "question": str})
    assert str(e.value) == f"{path}: row 2: field 'question' {problem}"


def test_duplicate_ids_name_the_file_and_both_rows(tmp_path):
    _, path = _upstream(tmp_path, [{"id": "a", "question": "x"}, {"id": "b", "question": "y"},
                                   {"id": "a", "question": "z"}])
    stage = Stage(tmp_path, "02_classification", config_sha256="x")
    with pytest.raises(artifacts.ArtifactError, match=r"collected.jsonl: rows 1 and 3 have the same id 'a'"):
        stage.read_input(path)


# ----------------------------------------------------------------- the hash covers what a stage reads

def test_the_configuration_hash_covers_exactly_the_settings_a_stage_read(tmp_path):
    cfg = load_profile("demo")
    stage = Stage(tmp_path, "03_reasoning", config_sha256="declared", profile=cfg)
    _ = cfg.reasoning.temperature, cfg.role("teacher").model  # what the stage's code reads
    out = stage.path("reasoning.jsonl")
    out.write_text("{}\n")
    stage.finish(outputs=[out])
    assert set(json.loads(stage.path("manifest.json").read_text())["config_reads"]) == {
        "reasoning.temperature", "roles.teacher.model"}
    for key, value, stale in [("reasoning.temperature", 0.3, True), ("roles.teacher.model", "other", True),
                              ("reasoning.top_p", 0.1, False), ("selection.target_size", 5, False)]:
        other = load_profile("demo", overrides={key: value})
        assert (not manifest_is_current(stage.dir, "declared", other)[0]) == stale, key
    assert manifest_is_current(stage.dir, "declared", cfg) == (True, "current")


def test_a_rerun_that_reuses_outputs_keeps_covering_what_made_them(tmp_path):
    cfg = load_profile("demo")
    stage = Stage(tmp_path, "04_selection", config_sha256="d", profile=cfg)
    _ = cfg.selection.target_size
    stage.finish()
    again = Stage(tmp_path, "04_selection", config_sha256="d", profile=load_profile("demo"))
    again.finish()  # read nothing: it reused the scored file
    changed = load_profile("demo", overrides={"selection.target_size": 7})
    assert not manifest_is_current(again.dir, "d", changed)[0]


def test_declared_sections_cover_every_setting_the_demo_run_read(demo_run):
    from star1_utils.run.stages import STAGES

    for spec in STAGES:
        m = artifacts.read_manifest(demo_run / spec.stage_dir)
        assert m is not None and "config_reads" in m, spec.stage_dir
        uncovered = [r for r in m["config_reads"] if r.split(".")[0] in type(load_profile("demo")).model_fields
                     and not any(r == s or r.startswith(s + ".") for s in spec.sections)
                     and r not in ("name", "limit", "seed", "description", "hardware", "progress_bars")]
        assert not uncovered, f"{spec.stage_dir} reads {uncovered}, not in its sections in run/stages.py"


# ----------------------------------------------------------------- the cache says what to do

def test_a_corrupt_cache_names_its_file_and_what_to_do(tmp_path):
    path = tmp_path / "llm.sqlite"
    path.write_bytes(b"garbage, not sqlite " * 50)
    with pytest.raises(engine.CacheError, match=rf"^{path}: the answer cache cannot be read .* safe to delete"):
        engine.Cache(path)


def test_a_read_only_cache_is_read_and_not_written_with_a_warning(tmp_path, monkeypatch):
    path = tmp_path / "llm.sqlite"
    c = engine.Cache(path)
    c.put("k", "m", "answer", "stop", {})
    c.close()
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if mode == os.W_OK else real(p, mode))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ro = engine.Cache(path)
    assert any("is read-only" in str(w.message) and str(path) in str(w.message) for w in caught)
    assert ro.get("k")[0] == "answer"
    ro.put("k2", "m", "new", "stop", {})  # not kept, no error
    assert ro.get("k2") is None


# ----------------------------------------------------------------- writes that cannot half-happen

def test_atomic_writes_are_world_readable_and_an_empty_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "figure.png"
    artifacts.write_jsonl(tmp_path / "rows.jsonl", [{"id": 1}])
    assert (tmp_path / "rows.jsonl").stat().st_mode & 0o777 == 0o644
    path.write_bytes(b"old figure")
    with pytest.raises(OSError, match="nothing was written"):
        with artifacts.atomic_path(path) as tmp:
            tmp.write_bytes(b"")  # savefig on a full disk
    assert path.read_bytes() == b"old figure" and list(tmp_path.glob(".*tmp*")) == []


# ----------------------------------------------------------------- the faulty server, end to end

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server(port: int, *fault_args: str) -> subprocess.Popen:
    p = subprocess.Popen([sys.executable, "-m", "star1_utils.demo.app", "serve", "--port", str(port), *fault_args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(200):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return p
        except OSError:
            time.sleep(0.1)
    p.kill()
    raise RuntimeError("the stand-in server did not start")


def _requests(port: int) -> int:
    return json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/_stats", timeout=5).read())["requests"]


def test_resume_after_failures_retries_only_them_and_ends_with_none(tmp_path):
    port = _free_port()
    params = {"classifier_base_url": f"http://127.0.0.1:{port}/v1", "classifier_model": "standin-classifier",
              "overrides": {"roles.classifier.max_attempts": 1, "classification.agreement_sample": -1}}
    lines: list[str] = []
    server = _server(port, "--malformed", "0.1", "--seed", "3")
    try:
        first = runner.run(profile="demo", notebooks="01,02", run_dir=str(tmp_path), params=params, echo=lines.append)
    finally:
        server.kill()
        server.wait()
    failed = artifacts.failure_count(tmp_path / "02_classification")
    assert failed > 0 and first[-1].status == f"ok, {failed} failed", lines
    assert any(f"({failed} failed item(s) in 02_classification/failures.jsonl: --resume retries them)" in x
               for x in lines)
    server = _server(port)  # the endpoint recovered
    try:
        again = runner.run(profile="demo", notebooks="01,02", run_dir=str(tmp_path), params=params, resume=True,
                           echo=lines.append)
        sent = _requests(port)
    finally:
        server.kill()
        server.wait()
    assert [r.status for r in again] == ["skipped (current)", "ok"]
    assert artifacts.failure_count(tmp_path / "02_classification") == 0
    assert sent == failed  # cached answers reused: only the failed items were asked again


@pytest.mark.parametrize("kwargs,message", [
    ({"profile": "/no/such/profile.yaml"}, "no profile file '/no/such/profile.yaml'"),
    ({"profile": "demo", "overrides": [1, 2]}, "overrides must be a mapping of dotted keys to values"),
    ({"profile": "demo", "overrides": "notadict"}, "overrides must be a mapping .*not \"notadict\""),
])
def test_a_bad_profile_path_or_overrides_is_one_line(kwargs, message):
    with pytest.raises(ProfileError, match=message):
        load_profile(**kwargs)


def test_a_rerun_says_what_it_changed_and_which_stages_are_stale(tmp_path, capsys):
    """A stage re-run with other settings says whether its files changed; changed files name the
    finished stages that read them, which --resume then runs again (issue: 01 at another threshold
    overwrote its rows and nothing said 02-09 were stale)."""
    def run_01(config: str, rows: str) -> str:
        stage = Stage(tmp_path, "01_collection", notebook="01_data_collection", config_sha256=config)
        (stage.dir / "collected.jsonl").write_text(rows)
        stage.finish(outputs=[stage.dir / "collected.jsonl"])
        return capsys.readouterr().out

    assert run_01("t=0.7", '{"id": 1}\n') == ""  # a first run has nothing to compare with
    down = Stage(tmp_path, "02_classification", notebook="02_category_classification", config_sha256="c")
    down.finish(inputs=[tmp_path / "01_collection" / "collected.jsonl"])
    assert run_01("t=0.7", '{"id": 1}\n') == ""  # same settings, same files: nothing to say
    out = run_01("t=0.5", '{"id": 1}\n')
    assert "other settings" in out and "byte-identical" in out and "no later stage is stale" in out
    out = run_01("t=0.3", '{"id": 2}\n')
    assert "changed 1 output(s) (01_collection/collected.jsonl)" in out and "now stale: 02_classification" in out
    assert manifest_is_current(down.dir, "c")[1] == "input 01_collection/collected.jsonl changed"
    assert read_manifest(tmp_path / "01_collection")["change_note"] == out.strip()  # the runner's log repeats it
