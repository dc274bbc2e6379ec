"""The full-smoke path: one served model for every role, the launch checks, and the run itself
(``make smoke``, which CI runs after the tests; here only what needs no server)."""

from __future__ import annotations

import pytest

from star1_utils.run import smoke
from star1_utils.run import config
from star1_utils.train import sft


def test_one_local_endpoint_serves_every_role_but_the_student():
    cfg = config.load_profile("full-smoke")
    url, model, port = smoke.served_endpoint(cfg)
    assert (url, model, port) == ("http://127.0.0.1:8011/v1", ["smollm2-135m-instruct"], 8011)
    other = config.load_profile("full-smoke", overrides={"roles.judge.model": "another"})
    assert smoke.served_endpoint(other)[1] == ["smollm2-135m-instruct", "another"]  # one model, two names
    two = config.load_profile("full-smoke", overrides={"roles.judge.base_url": "http://127.0.0.1:8012/v1"})
    with pytest.raises(ValueError, match="serves one model on one local port"):
        smoke.served_endpoint(two)
    garbage = config.load_profile("full-smoke", overrides={"roles.scorer.base_url": "inprocess",
                                                           "roles.scorer.model": "standin-echo"})
    assert smoke.served_endpoint(garbage)[2] == 8011  # a role pointed elsewhere is left alone
    remote = config.load_profile("full-smoke", overrides={
        f"roles.{r}.base_url": "https://api.example.com/v1" for r in config.ROLES if r != "student"})
    with pytest.raises(ValueError, match="no role names a local endpoint"):
        smoke.served_endpoint(remote)


def test_launch_refuses_more_processes_than_the_machine_has(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(sft.os, "cpu_count", lambda: 2)
    assert "CPU process" in sft.check_processes(2)
    with pytest.raises(RuntimeError, match="no GPU and 2 CPU core.*training.num_gpus to 1 or 2"):
        sft.check_processes(8)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert "one per GPU" in sft.check_processes(4)
    with pytest.raises(RuntimeError, match="has 4 GPU.*set training.num_gpus to 4"):
        sft.check_processes(8)
