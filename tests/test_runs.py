"""Run directories: layout, unique names, atomic files, locks, checkpoint integrity, refused resumes."""

import dataclasses
import hashlib
import json
import multiprocessing
import os

import pytest
import torch

from dlcourse.errors import UsageError
from dlcourse.files import atomic_write
from dlcourse.runs import Run


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
    target = {"metric": "acc", "op": ">=", "target": 0.2, "achieved": 0.25, "passed": True}
    summary = run.finish("ok", {"acc": 0.25}, [target], [], True)
    assert summary["passed"]
    files = {p.name for p in run.dir.iterdir()}
    assert files == {"config.json", "manifest.json", "metrics.jsonl", "summary.json", "checkpoint", "figures", ".lock"}
    manifest = json.loads((run.dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["seed"] == 7 and manifest["wall_seconds"] >= 0
    assert [json.loads(line)["name"] for line in (run.dir / "metrics.jsonl").read_text().splitlines()] == ["loss", "acc"]


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    atomic_write(tmp_path / "f.json", "{}")
    atomic_write(tmp_path / "f.json", '{"a": 1}')
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]
    assert json.loads((tmp_path / "f.json").read_text()) == {"a": 1}


# --- locks -----------------------------------------------------------------------------------------

def test_a_live_run_directory_cannot_be_opened_twice(tmp_path):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    with pytest.raises(UsageError, match=f"in use by process {os.getpid()}"):
        Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu")
    run.close()
    Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu").close()  # free again once closed


def test_a_lock_left_by_a_dead_process_is_recovered_with_a_message(tmp_path, capsys):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    run.close()
    (run.dir / ".lock").write_text("999999999")  # what a SIGKILLed run leaves: its PID, no OS lock
    Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu").close()
    err = capsys.readouterr().err
    assert "999999999" in err and "recovered" in err


def _race(path, barrier, results):
    barrier.wait()
    try:
        run = Run.reopen(path, "x", "full", Cfg(), 0, "cpu")
        results.put("won")
        barrier.wait()  # hold the lock until every other process has tried
        run.close()
    except UsageError as e:
        results.put(str(e))
        barrier.wait()


def test_many_processes_racing_for_one_directory_exactly_one_wins(tmp_path):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    run.close()
    (run.dir / ".lock").write_text("999999999")  # a stale lock makes the race harder
    ctx = multiprocessing.get_context("fork")
    n = 8
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=_race, args=(run.dir, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    outcomes = [results.get(timeout=5) for _ in range(n)]
    assert all(p.exitcode == 0 for p in procs), "no process may crash (a traceback means exit code 1)"
    assert outcomes.count("won") == 1, outcomes
    assert all("in use by process" in o for o in outcomes if o != "won")


# --- checkpoints: integrity, and refused resumes that change nothing -------------------------------

def _checkpointed_run(tmp_path):
    run = Run.create(tmp_path, "x", "full", Cfg(), 0, "cpu")
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with run.phase("p", models={"net": net}, optimizers={"opt": opt}) as ph:
        for _ in ph.steps(4, every=2):
            opt.zero_grad()
            net(torch.ones(1, 3)).sum().backward()
            opt.step()
        ph.result = {"w": net.weight.sum().item()}
    run.close()
    return run


def _tree(path):
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def _refused(run, match):
    before = _tree(run.dir)
    with pytest.raises(UsageError, match=match):
        Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu")
    assert _tree(run.dir) == before, "a refused resume must leave the directory byte-identical"


def test_a_flipped_byte_in_a_checkpoint_is_refused_naming_the_file(tmp_path):
    run = _checkpointed_run(tmp_path)
    path = run.checkpoint_path("p")
    blob = bytearray(path.read_bytes())
    blob[-3] ^= 0x01  # inside the tensor data: the file still parses, the numbers changed
    path.write_bytes(bytes(blob))
    _refused(run, "p.safetensors does not match its recorded SHA-256")


def test_an_edited_step_or_result_is_refused(tmp_path):
    run = _checkpointed_run(tmp_path)
    path = run.checkpoint_path("p")
    blob = path.read_bytes()
    assert b'\\"step\\": 4' in blob
    path.write_bytes(blob.replace(b'\\"step\\": 4', b'\\"step\\": 3'))  # same length, a valid file
    _refused(run, "SHA-256")


def test_an_unrecorded_checkpoint_is_refused(tmp_path):
    run = _checkpointed_run(tmp_path)
    (run.dir / "checkpoint" / "extra.safetensors").write_bytes(run.checkpoint_path("p").read_bytes())
    _refused(run, "not recorded")


def test_a_truncated_checkpoint_is_refused(tmp_path):
    run = _checkpointed_run(tmp_path)
    path = run.checkpoint_path("p")
    path.write_bytes(path.read_bytes()[:40])
    _refused(run, "SHA-256")


def test_a_checkpoint_of_another_configuration_is_refused_before_anything_is_written(tmp_path):
    run = _checkpointed_run(tmp_path)
    before = _tree(run.dir)
    with pytest.raises(UsageError, match="different configuration"):
        Run.reopen(run.dir, "x", "full", Cfg(n=4), 0, "cpu")
    assert _tree(run.dir) == before


def test_an_intact_checkpoint_resumes_and_restores_the_finished_phase(tmp_path):
    run = _checkpointed_run(tmp_path)
    again = Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu")
    net = torch.nn.Linear(3, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    with again.phase("p", models={"net": net}, optimizers={"opt": opt}) as ph:
        assert list(ph.steps(4)) == [] and ph.finished
    assert ph.result == {"w": pytest.approx(net.weight.sum().item())}
    again.close()


def test_a_kill_during_a_checkpoint_save_leaves_a_resumable_directory(tmp_path):
    """The index accepts the old and the new hash while a save is under way: whichever file a kill
    leaves on disk, the resume accepts it."""
    run = _checkpointed_run(tmp_path)
    index = json.loads((run.dir / "checkpoint" / "index.json").read_text())
    old = index["files"]["p.safetensors"][0]
    index["files"]["p.safetensors"] = sorted([old, "0" * 64])  # killed after the index, before the file
    (run.dir / "checkpoint" / "index.json").write_text(json.dumps(index))
    Run.reopen(run.dir, "x", "full", Cfg(), 0, "cpu").close()


def test_a_full_disk_is_one_clear_error_and_leaves_no_temporary_file(tmp_path, monkeypatch):
    from dlcourse import files
    from dlcourse.files import DiskFull

    monkeypatch.setenv("DLCOURSE_DISK_FULL_AFTER", "0")
    monkeypatch.setattr(files, "_writes", 0)
    with pytest.raises(DiskFull, match="no space left on"):
        atomic_write(tmp_path / "f.json", "{}")
    assert list(tmp_path.iterdir()) == []
