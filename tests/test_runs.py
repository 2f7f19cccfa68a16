"""Run directories: layout, unique names, atomic files, locks, corrupt checkpoints."""

import dataclasses
import json
import os

import pytest

from dlcourse.registry import UsageError
from dlcourse.runs import Run, atomic_write


@dataclasses.dataclass
class Cfg:
    n: int = 3


def test_two_runs_with_the_same_config_get_different_directories(tmp_path):
    a = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    b = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    assert a.dir != b.dir and a.dir.parent == b.dir.parent == tmp_path / "x"
    assert a.dir.name.split("-")[1] == b.dir.name.split("-")[1]  # same config hash


def test_layout_and_summary(tmp_path):
    run = Run.create(tmp_path, "x", "quick", Cfg(), 7, "cpu")
    run.log(1, "train", loss=0.5, acc=0.25)
    summary = run.finish("ok", {"acc": 0.25}, [{"metric": "acc", "op": ">=", "target": 0.2,
                                                 "achieved": 0.25, "passed": True}])
    assert summary["passed"]
    files = {p.name for p in run.dir.iterdir()}
    assert files == {"config.json", "manifest.json", "metrics.jsonl", "summary.json", "checkpoint", "figures"}
    manifest = json.loads((run.dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["seed"] == 7 and manifest["wall_seconds"] >= 0
    assert [json.loads(l)["name"] for l in (run.dir / "metrics.jsonl").read_text().splitlines()] == ["loss", "acc"]


def test_a_live_run_directory_cannot_be_opened_twice(tmp_path):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    (run.dir / ".lock").write_text(str(os.getppid()))  # a live process that is not us
    with pytest.raises(UsageError, match="in use"):
        Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu")


def test_a_stale_lock_from_a_killed_run_is_taken_over(tmp_path):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    (run.dir / ".lock").write_text("999999999")
    Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu").close()


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "f.json", "{}")
    atomic_write(tmp_path / "f.json", '{"a": 1}')
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    assert json.loads((tmp_path / "f.json").read_text()) == {"a": 1}


def test_truncated_checkpoint_is_reported_not_loaded(tmp_path):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    (run.dir / "checkpoint" / "p.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\"")
    with pytest.raises(UsageError, match="corrupt"):
        Run.read_resume_info(run.dir)
