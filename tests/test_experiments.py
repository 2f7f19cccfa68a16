"""One test covers every registered lesson: it runs in its quick profile and meets its quick targets."""

import json

import pytest

from dlcourse import registry
from dlcourse.runner import run_experiment

EXPERIMENTS = [e.name for e in registry.all_experiments()]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_quick_profile_meets_targets(name, runs_dir):
    summary = run_experiment(name, "quick", out=runs_dir)
    assert summary["status"] == "ok", summary.get("error")
    missed = [t for t in summary["targets"] if not t["passed"]]
    assert not missed, json.dumps(missed, indent=1)
    assert summary["targets"], f"{name} declares no quick targets"


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_declaration(name):
    exp = registry.get(name)
    assert exp.targets["full"], f"{name} declares no full targets"
    for metric, (op, _) in exp.targets["quick"].items():  # quick is looser, never the other way round
        if metric in exp.targets["full"]:
            assert exp.targets["full"][metric][0] == op, f"{metric}: quick and full point different ways"
    assert exp.module.endswith("." + name), "one lesson per file, named after the lesson"
    assert __import__(exp.module, fromlist=["_"]).__doc__, "a lesson file starts with its story"
    exp.make_config("full"), exp.make_config("quick")
