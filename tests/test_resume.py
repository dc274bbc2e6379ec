"""Resume that does not lie, and mistakes caught before they cost: failed items make a stage stale,
unknown parameters and keys passed as variable names are refused before any kernel starts."""

from __future__ import annotations

import argparse
import json

import pytest

from star1_utils.run import runner
from star1_utils.run.artifacts import Stage, manifest_is_current
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
