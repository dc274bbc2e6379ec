"""Foundation: profiles, artifacts, manifests, resources, policies, runner, notebook hygiene."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml

from star1_utils.run import artifacts, config, hygiene, resources
from star1_utils.dataset import policies
from star1_utils.run.stages import STAGES

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- profiles

def test_profiles_load():
    demo = config.load_profile("demo")
    full = config.load_profile("full")
    assert demo.name == "demo" and full.name == "full"
    assert demo.role("teacher").base_url == "inprocess"
    assert full.role("classifier").api_key_env == "OPENAI_API_KEY"


def _leaves(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def test_full_smoke_is_full_but_for_sizes_endpoints_and_the_base_model():
    """profiles/full-smoke.yaml inherits full: every switch that changes a result keeps full's
    (reference) value, and what differs is only sizes, endpoints, hardware and the base model."""
    from star1_utils.run import deviations

    full, smoke = (_leaves(config.load_profile(n).model_dump(mode="json")) for n in ("full", "full-smoke"))
    changed = {k.split(".")[0] + "." + k.split(".")[1] if "." in k else k
               for k in full if full[k] != smoke[k]}
    allowed_sections = {"roles", "serving"}
    allowed = {"name", "description", "hardware", "limit", "collection.corpus", "classification.max_completion_tokens",
               "classification.agreement_sample", "reasoning.max_tokens", "selection.target_size",
               "selection.max_completion_tokens", "training.base_model", "training.run_name",
               "training.release_rows", "training.epochs", "training.effective_batch_size", "training.num_gpus",
               "training.max_length", "training.bf16", "training.save_steps", "training.sample_prompts",
               "training.sample_max_new_tokens", "safety_eval.backend", "safety_eval.max_tokens",
               "safety_eval.max_examples", "safety_eval.skip_unavailable", "safety_eval.judge_tokenizer",
               "reasoning_eval.backend",
               "reasoning_eval.max_examples", "reasoning_eval.max_tokens", "overrefusal.xstest_limit",
               "overrefusal.xstest_unsafe_limit", "overrefusal.rewrite_max_completion_tokens",
               "overrefusal.scorer_max_completion_tokens", "overrefusal.curve_limit"}
    assert {k for k in changed if k.split(".")[0] not in allowed_sections} <= allowed
    assert deviations.off_reference(config.load_profile("full-smoke")) == []
    assert config.profile_sha256("full-smoke") != config.profile_sha256("full")


def test_inherits_merges_sections_and_refuses_cycles_and_missing_parents(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\nselection: {target_size: 7, max_completion_tokens: 99}\n")
    (tmp_path / "child.yaml").write_text("inherits: base\nname: child\nselection: {target_size: 3}\n")
    child = config.load_profile(tmp_path / "child.yaml", overrides={"limit": 2})
    assert (child.name, child.selection.target_size, child.selection.max_completion_tokens, child.limit) == \
        ("child", 3, 99, 2)
    (tmp_path / "base.yaml").write_text("inherits: child\nname: base\n")
    with pytest.raises(config.ProfileError, match="circle"):
        config.load_profile(tmp_path / "child.yaml")
    (tmp_path / "child.yaml").write_text("inherits: nowhere\nname: child\n")
    with pytest.raises(config.ProfileError, match="inherits 'nowhere'.*does not exist"):
        config.load_profile(tmp_path / "child.yaml")


def test_misspelt_key_is_one_line_naming_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "profiles/demo.yaml").read_text().replace("target_size", "target_sise"))
    with pytest.raises(config.ProfileError) as e:
        config.load_profile(bad)
    msg = str(e.value)
    assert "\n" not in msg and str(bad) in msg and "selection.target_sise" in msg


def test_wrong_type_names_file_and_key(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "profiles/demo.yaml").read_text().replace("target_size: 60", "target_size: sixty"))
    with pytest.raises(config.ProfileError, match=r"bad.yaml: key 'selection.target_size' has invalid value"):
        config.load_profile(bad)


def test_unknown_role_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nroles:\n  techer: {model: m}\n")
    with pytest.raises(config.ProfileError, match="unknown key 'roles.techer'"):
        config.load_profile(bad)


def _demo_with(tmp_path, section: str, key: str, value) -> Path:
    """A copy of the demo profile with one setting changed."""
    data = yaml.safe_load((ROOT / "profiles/demo.yaml").read_text())
    data[section][key] = value
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_misspelt_value_in_a_profile_is_one_line_naming_the_allowed_values(tmp_path):
    bad = _demo_with(tmp_path, "safety_eval", "backend", "vlm")
    with pytest.raises(config.ProfileError) as e:
        config.load_profile(bad)
    assert str(e.value) == f"{bad}: safety_eval.backend must be one of openai, vllm, vllm_serve, transformers, not 'vlm'"
    bad = _demo_with(tmp_path, "reasoning_eval", "benchmarks", ["aime2024", "gsm8k"])
    with pytest.raises(config.ProfileError, match=r"bad.yaml: reasoning_eval\.benchmarks\[1\] must be one of "
                                                  r"aime2024, .*, not 'gsm8k'$"):
        config.load_profile(bad)


def test_misspelt_value_as_an_override_is_one_line_naming_the_allowed_values():
    with pytest.raises(config.ProfileError) as e:
        config.load_profile("demo", overrides={"training.bos": "alwyas"})
    assert str(e.value) == ("profiles/demo.yaml + overrides: training.bos must be one of reference, always, never, "
                            "not 'alwyas'")
    # a notebook run from the command line: -p values are read as YAML, then validated the same way
    from star1_utils.run import runner

    params = runner.parse_params(['overrides={"overrefusal.judge_input": answr}'])
    with pytest.raises(config.ProfileError, match=r"^profiles/demo\.yaml \+ overrides: overrefusal\.judge_input "
                                                  r"must be one of answer, full, not 'answr'$"):
        config.load_profile("demo", overrides=params["overrides"])
    with pytest.raises(config.ProfileError, match=r"reasoning_eval\.grading must be one of math_verify, reference, "
                                                  r"not 'refrence'$"):
        config.load_profile("demo", overrides={"reasoning_eval.grading": "refrence"})


def test_fixed_choice_settings_are_the_values_their_consumers_handle():
    from typing import get_args

    from star1_utils.dataset import collection
    from star1_utils.evaluate import generation, reasoning_benchmarks, safety_benchmarks

    assert get_args(config.GenerationBackend) == generation.BACKENDS
    assert set(get_args(config.SafetyBenchmark)) == set(safety_benchmarks.BENCHMARKS)
    assert set(get_args(config.ReasoningBenchmark)) == set(reasoning_benchmarks.KEYS)
    assert get_args(config.PaperTestSet) == tuple(s.name for s in collection.PAPER_TEST_SETS)
    assert config.ROLES == tuple(config.Roles.model_fields)


def test_flags_take_the_reference_zero_one_spelling(tmp_path):
    for spelt, want in ((0, False), (1, True), ("0", False), ("1", True), (False, False), (True, True)):
        t = config.load_profile(_demo_with(tmp_path, "training", "think_flag", spelt)).training
        assert t.think_flag is want
        t = config.load_profile("demo", overrides={"training.base_flag": spelt}).training
        assert t.base_flag is want
    for profile in ("demo", "mini", "full"):
        t = config.load_profile(profile).training
        assert isinstance(t.think_flag, bool) and isinstance(t.base_flag, bool)
    # job.json holds training.model_dump(); one written with the 0/1 spelling still loads
    job = {**config.load_profile("full").training.model_dump(), "think_flag": 0, "base_flag": 1}
    t = config.TrainingConfig(**json.loads(json.dumps(job)))
    assert (t.think_flag, t.base_flag) == (False, True)
    assert config.TrainingConfig(**json.loads(json.dumps(t.model_dump()))) == t
    with pytest.raises(config.ProfileError) as e:
        config.load_profile("demo", overrides={"training.think_flag": 2})
    assert str(e.value) == ("profiles/demo.yaml + overrides: training.think_flag must be true or false "
                            "(the reference spells them 1 and 0), not 2")


def test_parameters_override_profile():
    cfg = config.load_profile("demo", overrides={"selection.target_size": 7}, limit=3,
                              teacher_base_url="http://127.0.0.1:9/v1", teacher_concurrency=0)
    assert cfg.selection.target_size == 7 and cfg.limit == 3
    assert cfg.role("teacher").base_url == "http://127.0.0.1:9/v1"
    assert cfg.role("teacher").concurrency == config.load_profile("demo").role("teacher").concurrency


def test_section_hash_ignores_other_sections():
    a = config.load_profile("demo")
    b = config.load_profile("demo", overrides={"training.epochs": 9})
    assert a.section_sha256("collection") == b.section_sha256("collection")
    assert a.section_sha256("training") != b.section_sha256("training")


def test_profiles_hold_no_secrets():
    for path in (ROOT / "profiles").glob("*.yaml"):
        text = path.read_text()
        assert "sk-" not in text and "nvapi-" not in text, path


# ---------------------------------------------------------------- artifacts

def test_jsonl_roundtrip_and_atomicity(tmp_path):
    p = tmp_path / "a.jsonl"
    rows = [{"id": "0", "question": "héllo"}, {"id": "1", "question": "x"}]
    assert artifacts.write_jsonl(p, rows) == 2
    assert artifacts.read_jsonl(p, required=["id", "question"]) == rows

    def boom():
        yield {"id": "2"}
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        artifacts.write_jsonl(p, boom())
    assert artifacts.read_jsonl(p) == rows  # the old file is intact
    assert not [f for f in tmp_path.iterdir() if f.name.endswith(".tmp")]


def test_jsonl_errors_name_file_and_line(tmp_path):
    p = tmp_path / "b.jsonl"
    p.write_text('{"id": "0"}\n{"id": \n')
    with pytest.raises(artifacts.ArtifactError, match=r"b.jsonl:2: not valid JSON"):
        artifacts.read_jsonl(p)
    p.write_text('{"id": "0"}\n{"question": "q"}\n')
    with pytest.raises(artifacts.ArtifactError, match=r"b.jsonl: row 2: missing field 'id'"):
        artifacts.read_jsonl(p, required=["id"])
    p.write_text('[1, 2]\n')
    with pytest.raises(artifacts.ArtifactError, match="expected a JSON object"):
        artifacts.read_jsonl(p)


def test_manifest_current_check(tmp_path):
    src = tmp_path / "01_collection" / "collected.jsonl"
    artifacts.write_jsonl(src, [{"id": "0"}])
    stage = artifacts.Stage(tmp_path, "02_classification", config_sha256="abc")
    out = stage.path("classified.jsonl")
    artifacts.write_jsonl(out, [{"id": "0", "category": ["Other"]}])
    assert not stage.is_current() and stage.why_not_current() == "no manifest"
    stage.finish(inputs=[src], outputs=[out], counts={"in": 1, "out": 1})
    m = artifacts.read_manifest(stage.dir)
    assert m["inputs"] == {"01_collection/collected.jsonl": resources.sha256_file(src)}
    assert m["counts"] == {"in": 1, "out": 1} and "torch" in m["versions"] and m["duration_s"] >= 0
    assert stage.is_current()
    assert not artifacts.Stage(tmp_path, "02_classification", config_sha256="other").is_current()
    artifacts.write_jsonl(src, [{"id": "0"}, {"id": "1"}])  # upstream changed
    assert stage.why_not_current() == "input 01_collection/collected.jsonl changed"
    artifacts.write_jsonl(src, [{"id": "0"}])
    assert stage.is_current()
    out.unlink()
    assert "missing" in stage.why_not_current()


# ---------------------------------------------------------------- resources and policies

def test_policy_texts_match_their_sha256(mirror):
    texts = policies.load_texts()
    assert set(texts) == set(policies.TEXT_SHA256)
    for name, text in texts.items():
        assert hashlib.sha256(text.encode()).hexdigest() == policies.TEXT_SHA256[name], name


def test_categories_and_policy_assembly(mirror):
    assert len(policies.CATEGORIES) == 8
    for c in policies.CATEGORIES:
        assert c in policies.template("CLASSIFICATION_PROMPT_TEMPLATE")
    block = policies.policies_for(["Self-Harm", "Intellectual Property"])
    assert block == policies.policy("Self-Harm") + "\n---\n" + policies.policy("Intellectual Property")
    with pytest.raises(KeyError):
        policies.policies_for(["Other"])
    assert set(policies.POLICY_BY_CATEGORY) == set(policies.CATEGORIES)
    assert "COT_PROMPT_TEMPLATE" in policies.TEMPLATES
    assert "{instruction}" in policies.template("COT_PROMPT_TEMPLATE")


def test_corrupted_mirror_file_names_resource_and_both_hashes(mirror, tmp_path, monkeypatch):
    bad_root = tmp_path / "mirror"
    target = bad_root / policies.PROMPTS_BUNDLE.mirror_path
    target.parent.mkdir(parents=True)
    data = bytearray((mirror / policies.PROMPTS_BUNDLE.mirror_path).read_bytes())
    data[100] = (data[100] + 1) % 256  # one byte changed
    target.write_bytes(bytes(data))
    monkeypatch.setenv("STAR1_DATA_MIRROR", str(bad_root))
    with pytest.raises(resources.ResourceError) as e:
        resources.fetch(policies.PROMPTS_BUNDLE)
    msg = str(e.value)
    assert "reference_prompts" in msg and policies.PROMPTS_BUNDLE.sha256 in msg
    assert hashlib.sha256(bytes(data)).hexdigest() in msg


def test_offline_without_mirror_fails_clearly(tmp_path, monkeypatch):
    monkeypatch.setenv("STAR1_DATA_MIRROR", str(tmp_path / "empty"))
    monkeypatch.setenv("STAR1_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(resources.ResourceError, match="not available offline"):
        resources.fetch(policies.PROMPTS_BUNDLE)


def test_texts_extracted_from_source_without_running_it():
    src = 'A = "x"\nB = ("y"\n     "z")\nC = A + "w"\nA = "second"\nimport os\nD = os.getcwd()\n'
    got = policies._module_strings(src, "prompt.py")
    assert got == {"A": "second", "B": "yz", "C": "xw"}


# ---------------------------------------------------------------- environment, notebooks, runner

def _pins_from_pyproject() -> dict[str, str]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = list(data["project"]["dependencies"])
    for extra in ("dev", "lab"):
        reqs += data["project"]["optional-dependencies"][extra]
    return dict(r.split("==") for r in reqs)


def test_environment_yml_matches_pyproject():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert dict(r.split("==") for r in pip) == _pins_from_pyproject()
    assert _pins_from_pyproject()["torch"] == "2.13.0"


def test_gpu_extra_is_not_in_the_cpu_stack():
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    gpu = data["project"]["optional-dependencies"]["gpu"]
    assert any(r.startswith("vllm") for r in gpu)
    assert not any(r.startswith("vllm") for r in data["project"]["dependencies"])


def notebooks():
    return sorted((ROOT / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_is_clean(path):
    assert hygiene.check_notebook(path) == []


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_notebook_is_made_from_its_text_source(path):
    """The .py beside each notebook is its source; the committed .ipynb is what `make notebooks` writes."""
    assert hygiene.text_source(path).is_file()
    assert hygiene.sync_notebooks(ROOT / "notebooks", check=True) == []


def test_make_notebooks_is_idempotent_and_keeps_cell_ids(tmp_path):
    for p in ("08_overrefusal_ablation.py", "08_overrefusal_ablation.ipynb"):
        shutil.copy(ROOT / "notebooks" / p, tmp_path / p)
    assert hygiene.sync_notebooks(tmp_path) == []  # nothing to write: in step
    src = tmp_path / "08_overrefusal_ablation.py"
    old = nbformat.read(str(tmp_path / "08_overrefusal_ablation.ipynb"), as_version=4)
    text = src.read_text()
    src.write_text(text.replace("# %% [markdown]\n# ## 2.", "# %%\nprint('a new cell')\n\n# %% [markdown]\n# ## 2.", 1))
    assert hygiene.sync_notebooks(tmp_path) == ["wrote 08_overrefusal_ablation.ipynb from 08_overrefusal_ablation.py"]
    new = nbformat.read(str(tmp_path / "08_overrefusal_ablation.ipynb"), as_version=4)
    assert len(new.cells) == len(old.cells) + 1
    old_ids = {(c.cell_type, c.source): c.id for c in old.cells}
    assert all(old_ids[(c.cell_type, c.source)] == c.id for c in new.cells if (c.cell_type, c.source) in old_ids)
    assert len({c.id for c in new.cells}) == len(new.cells) and hygiene.check_notebook(tmp_path / "08_overrefusal_ablation.ipynb") == []
    assert hygiene.sync_notebooks(tmp_path, check=True) == [] and hygiene.sync_notebooks(tmp_path) == []
    (tmp_path / "08_overrefusal_ablation.ipynb").write_text(
        (tmp_path / "08_overrefusal_ablation.ipynb").read_text().replace("a new cell", "edited in the ipynb"))
    assert "disagrees" in hygiene.sync_notebooks(tmp_path, check=True)[0]
    assert hygiene.sync_notebooks(tmp_path, from_ipynb=True) == [
        "wrote 08_overrefusal_ablation.py from 08_overrefusal_ablation.ipynb"]
    assert "edited in the ipynb" in src.read_text() and hygiene.sync_notebooks(tmp_path, check=True) == []


def test_lint_package_notebook_sources_tests():
    """ruff's pyflakes rules (pyproject [tool.ruff]) over everything `make lint` checks."""
    ruff = Path(sys.executable).parent / "ruff"
    out = subprocess.run([str(ruff), "check", "star1_utils", "notebooks", "tests", "benchmarks", "scripts"],
                         cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.name)
def test_parameters_cell_holds_only_commented_literals(path):
    import ast

    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for line in cell.source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        assert "#" in line, f"{path.name}: parameter without a comment: {line!r}"
        code, comment = line.split("#", 1)
        assert '"' not in comment and "'" not in comment, f"{path.name}: quotes in a comment confuse papermill: {line!r}"
        node = ast.parse(code).body[0]
        assert isinstance(node, ast.Assign)
        ast.literal_eval(node.value)  # a plain literal


def test_notebooks_follow_the_stage_table():
    names = {p.stem for p in notebooks()}
    known = {s.notebook for s in STAGES}
    assert names <= known, names - known
    assert "00_overview" in names


def test_clean_notebooks_strips_outputs(tmp_path):
    import nbformat

    src = ROOT / "notebooks" / "00_overview.ipynb"
    dirty = tmp_path / "dirty.ipynb"
    nb = nbformat.read(str(src), as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", text="hi")]
    nb.cells[2].execution_count = 3
    nb.metadata["widgets"] = {}
    nbformat.write(nb, str(dirty))
    assert len(hygiene.check_notebook(dirty)) == 3
    assert hygiene.clean_notebook(dirty)
    assert hygiene.check_notebook(dirty) == []


def test_runner_reports_failing_cell(tmp_path, monkeypatch):
    import nbformat

    from star1_utils.run import runner

    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    shutil.copy(ROOT / "notebooks" / "00_overview.ipynb", nbdir / "00_overview.ipynb")
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell('profile = "demo"  # p\nrun_dir = ""  # r', metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("from star1_utils.run.notebook import start\n"
                                  "ctx = start('01', profile=profile, run_dir=run_dir)\n"
                                  "ctx.stage.finish(outputs=[])  # the stage's manifest, then a later cell fails"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ], metadata={"kernelspec": hygiene.KERNELSPEC})
    nbformat.write(nb, str(nbdir / "01_data_collection.ipynb"))
    monkeypatch.setattr(runner, "notebooks_dir", lambda: nbdir)
    lines: list[str] = []
    results = runner.run(profile="demo", run_dir=str(tmp_path / "run"), echo=lines.append)
    assert [r.status for r in results] == ["ok", "FAILED"]
    text = "\n".join(lines)
    assert "FAILED: notebook 01_data_collection.ipynb, cell 2" in text and "ValueError: broken on purpose" in text
    assert "01_collection/manifest.json marked failed" in text
    assert artifacts.read_manifest(tmp_path / "run" / "01_collection")["status"] == "failed"
    # --resume skips the finished overview and re-runs only the failed stage
    lines.clear()
    results = runner.run(profile="demo", run_dir=str(tmp_path / "run"), resume=True, echo=lines.append)
    assert [r.status for r in results] == ["skipped (current)", "FAILED"]


def test_cli_rejects_bad_profile(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nlimt: 3\n")
    proc = subprocess.run([sys.executable, "-m", "star1_utils", "run", "--profile", str(bad), "--notebooks", "00"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2
    assert proc.stdout.strip() == f"error: {bad}: unknown key 'limt'"


def test_demo_run_overview(demo_run):
    assert (demo_run / "notebooks" / "00_overview.ipynb").is_file()
    env = json.loads((demo_run / "00_overview" / "environment.json").read_text())
    assert "torch" in env["versions"]
    m = artifacts.read_manifest(demo_run / "00_overview")
    assert m["status"] == "complete"


def test_role_parameters_read_a_notebooks_namespace():
    ns = {f"scorer_{f}": v for f, v in zip(config.ROLE_FIELDS, ("http://x/v1", "m", "KEY", 3))}
    assert config.role_parameters(ns, "scorer") == ns
    cfg = config.load_profile("demo", **config.role_parameters(ns, "scorer"))
    assert (cfg.roles.scorer.base_url, cfg.roles.scorer.concurrency) == ("http://x/v1", 3)
    with pytest.raises(NameError, match="judge_base_url"):
        config.role_parameters(ns, "scorer", "judge")


def test_the_mirror_beside_the_checkout_is_found_without_the_variable(monkeypatch, tmp_path):
    """Every entry point finds the mirror the way the Makefile does: ``STAR1_DATA_MIRROR`` when set,
    else a ``shared/`` folder beside the checkout that holds the mirror's files."""
    checkout = tmp_path / "repo"
    checkout.mkdir()
    monkeypatch.delenv("STAR1_DATA_MIRROR", raising=False)
    monkeypatch.setattr(resources, "project_root", lambda: checkout)
    assert resources.mirror_root() is None  # no shared/ beside it: download
    (tmp_path / "shared" / "star1").mkdir(parents=True)
    assert resources.mirror_root() is None  # a shared/ folder without the mirror's files
    (tmp_path / "shared" / resources.MIRROR_MARKER).write_text("{}")
    assert resources.mirror_root() == (tmp_path / "shared").resolve()
    monkeypatch.setenv("STAR1_DATA_MIRROR", str(tmp_path / "elsewhere"))
    assert resources.mirror_root() == (tmp_path / "elsewhere").resolve()
