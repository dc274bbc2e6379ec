"""Progress of long steps: plain lines outside JupyterLab (papermill logs, terminals), a widget in it."""

import io
import json
import sys
from types import SimpleNamespace

import pytest

from star1_utils.run import progress
from star1_utils.train import sft


@pytest.mark.parametrize("env, expected", [("0", "off"), ("off", "off"), ("lines", "lines"), ("", "lines"),
                                            ("widget", "lines")])  # a widget needs a kernel
def test_mode_follows_the_setting_and_is_lines_outside_a_kernel(monkeypatch, env, expected):
    monkeypatch.setenv(progress.PROGRESS_ENV, env)
    monkeypatch.setenv("JPY_SESSION_NAME", "/somewhere/01_data_collection.ipynb")  # not in a kernel here
    assert progress.mode() == expected
    assert progress.wanted(True) is (expected != "off")
    assert progress.wanted(False) is False


def test_plain_lines_say_start_and_end_and_never_redraw():
    out = io.StringIO()
    with progress.LineBar(total=244, desc="scoring", unit="items", file=out) as bar:
        for _ in range(244):
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    # a step shorter than a second: its last line only, not 244 frames
    assert len(lines) == 1, lines
    assert lines[0].startswith("scoring: 244/244 items (100%)")


def test_plain_lines_keep_the_failed_count():
    out = io.StringIO()
    with progress.LineBar(total=3, desc="judging", unit="items", file=out) as bar:
        bar.update(3)
        bar.set_postfix(failed=2, refresh=False)
    assert out.getvalue().strip().endswith("failed=2"), out.getvalue()


def test_a_long_step_writes_a_line_every_interval(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("tqdm.std.time", lambda: clock[0])  # tqdm's clock
    out = io.StringIO()
    with progress.LineBar(total=100, desc="judging", unit="items", file=out) as bar:
        for _ in range(100):
            clock[0] += 1.0  # one item a second: 100 s in all
            bar.update(1)
    lines = out.getvalue().splitlines()
    assert [line.split(" items")[0] for line in lines] == ["judging: 30/100", "judging: 60/100", "judging: 90/100",
                                                          "judging: 100/100"], lines


def test_a_step_turned_off_writes_nothing(monkeypatch):
    out = io.StringIO()
    monkeypatch.setenv(progress.PROGRESS_ENV, "off")
    with progress.bar(10, "judging", file=out) as bar:
        bar.update(10)
    with progress.bar(10, "judging", file=out, progress=True) as bar:
        bar.update(10)
    monkeypatch.setenv(progress.PROGRESS_ENV, "lines")
    with progress.bar(10, "judging", file=out, progress=False) as bar:
        bar.update(10)
    assert out.getvalue() == ""


def test_training_lines_are_the_ones_the_widget_reads(tmp_path, capsys):
    """The processes' ``update N/T`` lines drive the notebook's widget (sft._run_training)."""
    callback = sft._log_callback(tmp_path / "log.jsonl", t0=0.0, print_every=5, total=39)
    state = SimpleNamespace(is_world_process_zero=True, global_step=10, epoch=1.0)
    callback.on_log(None, state, None, logs={"loss": 1.25, "learning_rate": 1e-5})
    line = capsys.readouterr().out.strip()
    match = sft.UPDATE_LINE.match(line)
    assert match and (int(match[1]), int(match[2])) == (10, 39), line


def test_training_in_processes_moves_the_widget_with_their_update_lines(tmp_path, monkeypatch):
    """``sft._run_training`` reads the processes' ``update N/T`` lines into the widget JupyterLab shows."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "summary.json").write_text('{"updates": 10}')
    job = tmp_path / "job.json"
    job.write_text(json.dumps({"output_dir": str(out), "checkpoint_dir": str(tmp_path / "ckpt")}))
    bars = []
    monkeypatch.setattr(progress, "mode", lambda: "widget")
    monkeypatch.setattr(progress, "bar", lambda total, desc, unit: bars.append(
        progress.LineBar(total=total, desc=desc, unit=unit, file=io.StringIO())) or bars[-1])
    lines = "update    5/10  loss 1.0  lr 1e-05  1.0 s", "chatter", "update   10/10  loss 0.9  lr 0  2.0 s"
    cmd = [sys.executable, "-c", "; ".join(f"print({line!r})" for line in lines)]
    shown = []
    assert sft._run_training(cmd, job, {}, shown.append) == {"updates": 10}
    assert shown == list(lines)
    assert len(bars) == 1 and (bars[0].n, bars[0].total) == (10, 10) and bars[0].disable  # closed
