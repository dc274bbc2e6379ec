"""The one table of deviations from the paper's code (star1_utils/run/deviations.py): every switch is a
real setting of its stage, the full profile reproduces the reference, and the README shows the table."""

from __future__ import annotations

from pathlib import Path

import pytest

from star1_utils.run import deviations
from star1_utils.run.config import load_profile
from star1_utils.run.stages import spec_for

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("d", [d for d in deviations.DEVIATIONS if d.setting], ids=lambda d: d.setting)
def test_each_switch_is_a_setting_its_stage_hashes(d):
    cfg = load_profile("demo", overrides={d.setting: d.reference_value})  # the reference value is valid
    assert deviations._value(cfg, d.setting) == d.reference_value
    assert any(d.setting == s or d.setting.startswith(s + ".") for s in spec_for(d.stage).sections), (
        f"{d.setting} is not in stage {d.stage}'s sections: changing it would not make the stage stale")


def test_the_full_profile_is_reference_exact_and_the_demo_is_not():
    assert deviations.off_reference(load_profile("full")) == []
    assert deviations.off_reference(load_profile("demo"))  # the demo keeps the suite's behaviour somewhere


def test_fixes_have_no_switch_and_every_row_cites_the_reference():
    for d in deviations.DEVIATIONS:
        assert bool(d.setting) == d.changes_results, d
        assert d.reference and d.ours, d
    assert len(set(deviations.switches())) == len(deviations.switches())


def test_the_readme_shows_the_table_as_the_registry_builds_it():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert deviations.markdown() in readme, "README's deviation table is stale: paste deviations.markdown()"
