"""One test covers every registered lesson: its quick profile meets its targets and its controls
miss them; its declaration is complete."""

import json

import pytest

from dlcourse import registry
from dlcourse.runner import run_experiment

LESSONS = [lesson.name for lesson in registry.lessons()]


@pytest.mark.parametrize("name", LESSONS)
def test_quick_profile_meets_targets_and_its_controls_miss(name, runs_dir):
    summary = run_experiment(name, "quick", out=runs_dir)
    assert summary["status"] in ("ok", "target_missed"), summary.get("error")
    missed = [t for t in summary["targets"] if not t["passed"]]
    assert not missed, json.dumps(missed, indent=1)
    assert summary["targets"], f"{name} declares no quick targets"
    met = [c for c in summary["controls"] if not c["passed"]]
    assert not met, "a control reached its target, so the target proves nothing: " + json.dumps(met, indent=1)
    assert summary["status"] == "ok"


@pytest.mark.parametrize("name", LESSONS)
def test_declaration(name):
    lesson = registry.info(name)
    assert lesson.targets["full"], f"{name} declares no full targets"
    for metric, (op, _) in lesson.targets["quick"].items():  # quick is looser, never the other way round
        if metric in lesson.targets["full"]:
            assert lesson.targets["full"][metric][0] == op, f"{metric}: quick and full point different ways"
    assert lesson.module.endswith("." + name), "one lesson per file, named after the lesson"
    exp = registry.get(name)
    assert __import__(exp.module, fromlist=["_"]).__doc__, "a lesson file starts with its story"
    exp.make_config("full"), exp.make_config("quick")
