"""The CLI through a real subprocess, as a user runs it: exit codes, messages, no tracebacks.

Most tests drive the small test lesson `resumable` (tests/lessons, put on DLCOURSE_LESSONS_PATH).
Faults are real signals and write failures injected at deterministic points (see dlcourse.runs).
"""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = str(Path(__file__).parent / "lessons")


def dlcourse(*args, env=None, cwd=None):
    full_env = {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "", "CI": "1", "DLCOURSE_LESSONS_PATH": LESSONS,
                **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlcourse", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)


def assert_usage_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr  # one line
    for f in fragments:
        assert f in result.stderr, result.stderr


def tree(path):
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def only_run(root, name="resumable"):
    (run_dir,) = (Path(root) / name).iterdir()
    return run_dir


def test_help_and_list():
    r = dlcourse("--help")
    assert r.returncode == 0 and "verify" in r.stdout and "syllabus" in r.stdout
    r = dlcourse("list")
    assert r.returncode == 0 and "spiral" in r.stdout


@pytest.mark.parametrize("command", [["--help"], ["list"], ["syllabus"], ["show", "spiral"],
                                     ["show", "spiral", "--config"], ["report", "--runs-dir", "nowhere"]])
def test_the_quick_commands_do_not_import_torch(command):
    code = ("import sys; from dlcourse.cli import main\n"
            f"try:\n    main({command!r})\nexcept SystemExit:\n    pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO TORCH')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip().endswith("NO TORCH"), r.stdout + r.stderr


def test_show_prints_the_declaration_and_the_config():
    r = dlcourse("show", "spiral")
    assert r.returncode == 0 and "relu/train_acc" in r.stdout and "experiments/spiral.py" in r.stdout
    r = dlcourse("show", "spiral", "--config")
    assert r.returncode == 0 and "epochs" in r.stdout and "int" in r.stdout
    assert_usage_error(dlcourse("show", "spirl"), "spiral")


def test_unknown_experiment_names_the_closest():
    assert_usage_error(dlcourse("run", "spirall"), "spiral")
    assert_usage_error(dlcourse("verify", "spiral", "nope_nope"), "nope_nope")


@pytest.mark.parametrize("sets,fragments", [
    (["epoch=3"], ["'epoch'", "epochs (int)"]), (["epochs=many"], ["'epochs'", "int"]), (["epochs"], ["KEY=VALUE"]),
    (["epochs=0"], ["epochs must be positive"]), (["epochs=-5"], ["epochs must be positive"]),
    (["lr=nan"], ["finite"]), (["lr=inf"], ["finite"]),
])
def test_bad_overrides_name_the_key_and_what_is_allowed(tmp_path, sets, fragments):
    args = [a for s in sets for a in ("--set", s)]
    assert_usage_error(dlcourse("run", "resumable", "--out", str(tmp_path), *args), *fragments)
    assert not list(tmp_path.glob("resumable/*")), "a refused command writes nothing"


@pytest.mark.parametrize("args,fragment", [(["--threads", "0"], "--threads"), (["--seeds", "0"], "--seeds"),
                                           (["--seed", "-1"], "--seed"), (["--nproc", "0"], "--nproc")])
def test_bad_numbers_are_usage_errors(tmp_path, args, fragment):
    r = dlcourse("run", "resumable", "--out", str(tmp_path), *args)
    assert r.returncode == 2 and "Traceback" not in r.stderr and fragment in r.stderr, r.stderr


def test_bad_language_and_device():
    assert_usage_error(dlcourse("--lang", "fr", "list"), "fr")
    assert_usage_error(dlcourse("run", "resumable", "--device", "tpu"), "tpu")


def test_out_must_be_a_writable_folder(tmp_path):
    file = tmp_path / "a_file"
    file.write_text("keep me")
    assert_usage_error(dlcourse("run", "resumable", "--quick", "--out", str(file)), "is a file")
    assert file.read_text() == "keep me"
    # A read-only place: a folder without write permission, or, for root (who may write anywhere),
    # /proc, which refuses new folders to everyone.
    locked = tmp_path / "read_only"
    locked.mkdir()
    locked.chmod(0o500)
    target = locked if not os.access(locked, os.W_OK) else Path("/proc/self/dlcourse-runs")
    try:
        assert_usage_error(dlcourse("run", "resumable", "--quick", "--out", str(target)), "cannot")
    finally:
        locked.chmod(0o700)


def test_a_closed_pipe_is_not_an_error():
    r = subprocess.run(f"{sys.executable} -m dlcourse syllabus | head -1", shell=True, capture_output=True,
                       text=True, timeout=60)
    assert r.stdout.startswith("Week 1") and "Traceback" not in r.stderr and "Broken" not in r.stderr


def test_resume_of_missing_or_corrupt_directory_changes_nothing(tmp_path):
    assert_usage_error(dlcourse("run", "resumable", "--resume", str(tmp_path / "missing")), "no such run directory")
    broken = tmp_path / "broken"
    (broken / "checkpoint").mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    assert_usage_error(dlcourse("run", "resumable", "--resume", str(broken)), "config.json")
    (broken / "config.json").write_text(json.dumps(
        {"experiment": "resumable", "profile": "quick", "seed": "abc", "config": {"epochs": 20}}))
    assert_usage_error(dlcourse("run", "resumable", "--resume", str(broken)), "seed")
    (broken / "config.json").write_text(json.dumps(
        {"experiment": "resumable", "profile": "quick", "seed": 0, "config": {"epochs": -20}}))
    assert_usage_error(dlcourse("run", "resumable", "--resume", str(broken)), "epochs must be positive")
    (broken / "config.json").write_text(json.dumps(
        {"experiment": "resumable", "profile": "quick", "seed": 0, "config": {"epochs": 20}}))
    garbage = b"\x00\x01 this is not a safetensors file"
    (broken / "checkpoint" / "relu.safetensors").write_bytes(garbage)
    before = tree(broken)
    assert_usage_error(dlcourse("run", "resumable", "--resume", str(broken)), "relu.safetensors")
    assert tree(broken) == before


def test_a_refused_resume_of_a_finished_run_leaves_it_byte_identical(tmp_path):
    assert dlcourse("run", "resumable", "--quick", "--out", str(tmp_path)).returncode == 0
    run_dir = only_run(tmp_path)
    ckpt = run_dir / "checkpoint" / "relu.safetensors"
    blob = bytearray(ckpt.read_bytes())
    blob[-1] ^= 0xFF  # a weight changed after the run
    ckpt.write_bytes(bytes(blob))
    before = tree(run_dir)
    assert_usage_error(dlcourse("run", "resumable", "--resume", str(run_dir)), "relu.safetensors", "SHA-256")
    assert tree(run_dir) == before


def test_run_writes_a_complete_run_directory_and_names_it_first(tmp_path):
    r = dlcourse("run", "resumable", "--quick", "--out", str(tmp_path), "--set", "epochs=6", "--seed", "3")
    assert r.returncode == 0, r.stderr
    run_dir = only_run(tmp_path)
    assert r.stdout.splitlines()[0] == f"run directory: {run_dir}"
    assert "dlcourse notebook resumable" in r.stdout.splitlines()[-1]
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "manifest.json", "metrics.jsonl",
                                                   "summary.json", "checkpoint", "figures"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["config"]["epochs"] == 6 and config["profile"] == "quick"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["threads"] >= 1 and manifest["torch"]
    assert list((run_dir / "checkpoint").glob("*.safetensors")) and (run_dir / "checkpoint" / "index.json").exists()
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"phase", "step", "split", "name", "value"} <= set(lines[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["controls"][0]["metric"] == "linear/train_acc" and summary["controls"][0]["passed"]
    assert "control" in r.stdout and "linear/train_acc <=" in r.stdout


def test_failed_target_exits_1(tmp_path):
    r = dlcourse("run", "resumable", "--quick", "--out", str(tmp_path), "--set", "epochs=1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout


def test_verify_prints_targets_and_controls(tmp_path):
    r = dlcourse("verify", "--quick", "resumable", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "relu/train_acc >=" in r.stdout and "linear/train_acc <=" in r.stdout and "pass" in r.stdout


def test_syllabus_in_every_language():
    for lang in ("en", "ja", "zh", "ko"):
        r = dlcourse("syllabus", "--lang", lang, env={"DLCOURSE_LESSONS_PATH": ""})
        assert r.returncode == 0, r.stderr
        assert "spiral" in r.stdout and len(r.stdout.splitlines()) > 30
    assert dlcourse("syllabus", env={"LANG": "ja_JP.UTF-8"}).stdout == dlcourse("syllabus", "--lang", "ja").stdout


ARGS = ["run", "resumable", "--quick"]


def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    whole = dlcourse(*ARGS, "--out", str(tmp_path / "a"))
    assert whole.returncode == 0, whole.stderr
    killed = dlcourse(*ARGS, "--out", str(tmp_path / "b"), env={"DLCOURSE_KILL_AFTER_CHECKPOINTS": "13"})
    assert killed.returncode == -9, killed.stderr  # SIGKILL mid-training of the second network
    run_dir = only_run(tmp_path / "b")
    assert not (run_dir / "summary.json").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"
    resumed = dlcourse("run", "resumable", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    whole_dir = only_run(tmp_path / "a")
    expected = json.loads((whole_dir / "summary.json").read_text())["metrics"]
    got = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert got == expected
    read = lambda d: (d / "metrics.jsonl").read_text()  # noqa: E731
    assert read(run_dir) == read(whole_dir), "the metric log is the same too"
    assert json.loads((run_dir / "manifest.json").read_text())["resumed"] is True


@pytest.mark.parametrize("signal", ["INT", "TERM"])
def test_ctrl_c_or_sigterm_marks_the_run_interrupted_and_says_how_to_resume(tmp_path, signal):
    r = dlcourse(*ARGS, "--out", str(tmp_path / "b"), env={"DLCOURSE_SIGNAL_AFTER_CHECKPOINTS": f"{signal}:5"})
    assert r.returncode == 130 and "Traceback" not in r.stderr, r.stderr
    run_dir = only_run(tmp_path / "b")
    assert f"--resume {run_dir}" in r.stderr
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "interrupted"
    assert (run_dir / ".lock").read_text() == "", "the lock is released"
    assert not list(run_dir.rglob(".*.tmp*")), "no temporary file is left"
    resumed = dlcourse("run", "resumable", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    whole = dlcourse(*ARGS, "--out", str(tmp_path / "a"))
    assert whole.returncode == 0
    metrics = lambda d: json.loads((d / "summary.json").read_text())["metrics"]  # noqa: E731
    assert metrics(run_dir) == metrics(only_run(tmp_path / "a"))


def test_a_full_disk_is_one_line_keeps_the_last_checkpoint_and_resumes(tmp_path):
    r = dlcourse(*ARGS, "--out", str(tmp_path / "b"), env={"DLCOURSE_DISK_FULL_AFTER": "20"})
    assert_usage_error(r, "no space left on")
    run_dir = only_run(tmp_path / "b")
    assert not list(run_dir.rglob(".*.tmp*"))
    resumed = dlcourse("run", "resumable", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    whole = dlcourse(*ARGS, "--out", str(tmp_path / "a"))
    metrics = lambda d: json.loads((d / "summary.json").read_text())["metrics"]  # noqa: E731
    assert whole.returncode == 0 and metrics(run_dir) == metrics(only_run(tmp_path / "a"))


def test_ctrl_c_stops_every_worker_of_verify_jobs(tmp_path):
    r = dlcourse("verify", "--quick", "resumable", "resumable", "--jobs", "2", "--out", str(tmp_path),
                 env={"DLCOURSE_SIGNAL_PARENT_AFTER_CHECKPOINTS": "INT:3"})
    assert r.returncode == 130, r.stdout + r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    for run_dir in (tmp_path / "resumable").iterdir():
        status = json.loads((run_dir / "manifest.json").read_text())["status"]
        assert status in ("interrupted", "ok"), status  # none is left "running"
        assert (run_dir / ".lock").read_text() == ""


def test_seeds_report_mean_std_and_the_worst_seed(tmp_path):
    r = dlcourse(*ARGS, "--seeds", "2", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    (agg,) = [d for d in (tmp_path / "resumable").iterdir() if "seeds" in d.name]
    summary = json.loads((agg / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and len(summary["runs"]) == 2
    members = [json.loads((Path(d) / "summary.json").read_text())["metrics"] for d in summary["runs"]]
    key = "relu/train_acc"
    assert summary["metrics"][key] == pytest.approx((members[0][key] + members[1][key]) / 2)
    assert members[0][key] != members[1][key] and summary["std"][key] > 0
    (row,) = [t for t in summary["targets"] if t["metric"] == key]
    assert row["achieved"] == min(m[key] for m in members) and row["worst_seed"] in (0, 1)
    assert "±" in r.stdout and "seed" in r.stdout


def test_run_prints_text_results_and_samples_are_reproducible(tmp_path):
    # char_lm saves its decoded samples with run.text; `dlcourse run` prints them. The prompt keeps
    # its trailing space, and the same seed draws the same samples.
    args = ("run", "char_lm", "--quick", "--set", "prompt=def ", "--set", "steps=20",
            "--set", "tf_steps=20", "--out", str(tmp_path))
    first, second = dlcourse(*args), dlcourse(*args)
    for r in (first, second):
        assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr
    assert "--- samples ---" in first.stdout and "prompt: 'def '" in first.stdout
    texts = sorted(tmp_path.glob("char_lm/*/texts/samples.txt"))
    assert len(texts) == 2 and texts[0].read_text() == texts[1].read_text()


def test_verify_in_parallel_processes_gives_the_sequential_results(tmp_path):
    names = ["resumable", "logic_neurons"]
    seq = dlcourse("verify", "--quick", *names, "--out", str(tmp_path / "seq"))
    par = dlcourse("verify", "--quick", *names, "--jobs", "2", "--out", str(tmp_path / "par"))
    assert seq.returncode == par.returncode == 0, par.stdout + par.stderr

    def metrics(root):
        return {name: json.loads(next((root / name).glob("*/summary.json")).read_text())["metrics"]
                for name in names}

    assert metrics(tmp_path / "par") == metrics(tmp_path / "seq")
    order = [line.split()[0] for line in par.stdout.splitlines() if line.split() and line.split()[0] in names]
    assert order == names  # the table keeps the asked order whatever finishes first
    r = dlcourse("verify", "--quick", "resumable", "--jobs", "0", "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and "--jobs" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "bad").exists()
