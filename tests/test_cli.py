"""The CLI through a real subprocess, as a user runs it: exit codes, messages, no tracebacks."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest


def dlcourse(*args, env=None, cwd=None):
    full_env = {**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "", "CI": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "dlcourse", *args], capture_output=True, text=True,
                          env=full_env, cwd=cwd, timeout=300)


def assert_usage_error(result, *fragments):
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    for f in fragments:
        assert f in result.stderr, result.stderr


def test_help_and_list():
    r = dlcourse("--help")
    assert r.returncode == 0 and "verify" in r.stdout and "syllabus" in r.stdout
    r = dlcourse("list")
    assert r.returncode == 0 and "spiral" in r.stdout


def test_unknown_experiment_names_the_closest():
    assert_usage_error(dlcourse("run", "spirall"), "spiral")
    assert_usage_error(dlcourse("verify", "spiral", "nope_nope"), "nope_nope")


def test_bad_overrides_name_the_key_and_what_is_allowed(tmp_path):
    assert_usage_error(dlcourse("run", "spiral", "--out", str(tmp_path), "--set", "epoch=3"),
                       "'epoch'", "epochs (int)")
    assert_usage_error(dlcourse("run", "spiral", "--out", str(tmp_path), "--set", "epochs=many"),
                       "'epochs'", "int")
    assert_usage_error(dlcourse("run", "spiral", "--out", str(tmp_path), "--set", "epochs"), "KEY=VALUE")
    assert not list(tmp_path.glob("spiral/*")), "a refused command writes nothing"


def test_bad_language_and_device():
    assert_usage_error(dlcourse("--lang", "fr", "list"), "fr")
    assert_usage_error(dlcourse("run", "spiral", "--device", "tpu"), "tpu")


def test_resume_of_missing_or_corrupt_directory_changes_nothing(tmp_path):
    assert_usage_error(dlcourse("run", "spiral", "--resume", str(tmp_path / "missing")), "no such run directory")
    broken = tmp_path / "broken"
    (broken / "checkpoint").mkdir(parents=True)
    (broken / "config.json").write_text("{not json")
    assert_usage_error(dlcourse("run", "spiral", "--resume", str(broken)), "config.json")
    (broken / "config.json").write_text(json.dumps(
        {"experiment": "spiral", "profile": "quick", "seed": 0, "config": {"epochs": 20}}))
    garbage = b"\x00\x01 this is not a safetensors file"
    (broken / "checkpoint" / "relu.safetensors").write_bytes(garbage)
    assert_usage_error(dlcourse("run", "spiral", "--resume", str(broken)), "corrupt")
    assert (broken / "checkpoint" / "relu.safetensors").read_bytes() == garbage
    assert sorted(p.name for p in broken.iterdir()) == ["checkpoint", "config.json"]


def test_run_writes_a_complete_run_directory(tmp_path):
    r = dlcourse("run", "spiral", "--quick", "--out", str(tmp_path), "--set", "epochs=60", "--seed", "3")
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp_path / "spiral").iterdir()
    assert {p.name for p in run_dir.iterdir()} >= {"config.json", "manifest.json", "metrics.jsonl",
                                                   "summary.json", "checkpoint", "figures"}
    config = json.loads((run_dir / "config.json").read_text())
    assert config["seed"] == 3 and config["config"]["epochs"] == 60 and config["profile"] == "quick"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["status"] == "ok" and manifest["threads"] >= 1 and manifest["torch"]
    assert list((run_dir / "figures").glob("*.png"))
    assert list((run_dir / "checkpoint").glob("*.safetensors"))
    lines = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {"phase", "step", "split", "name", "value"} <= set(lines[0])


def test_failed_target_exits_1(tmp_path):
    # Three full-batch steps cannot reach the ReLU net's target: a missed target, not an error.
    r = dlcourse("run", "spiral", "--quick", "--out", str(tmp_path), "--set", "epochs=3")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL" in r.stdout


def test_verify_prints_a_table(tmp_path):
    r = dlcourse("verify", "--quick", "spiral", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "relu/train_acc" in r.stdout and "pass" in r.stdout


def test_syllabus_in_every_language():
    for lang, word in [("en", "spiral"), ("ja", "spiral"), ("zh", "spiral"), ("ko", "spiral")]:
        r = dlcourse("syllabus", "--lang", lang)
        assert r.returncode == 0, r.stderr
        assert word in r.stdout and len(r.stdout.splitlines()) > 30
    assert dlcourse("syllabus", env={"LANG": "ja_JP.UTF-8"}).stdout == dlcourse("syllabus", "--lang", "ja").stdout


def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    args = ["run", "spiral", "--quick", "--set", "epochs=120", "--set", "checkpoint_every=25"]
    whole = dlcourse(*args, "--out", str(tmp_path / "a"))
    assert whole.returncode == 0, whole.stderr
    killed = dlcourse(*args, "--out", str(tmp_path / "b"), env={"DLCOURSE_KILL_AFTER_CHECKPOINTS": "7"})
    assert killed.returncode == -9, killed.stderr  # SIGKILL mid-training of the second network
    (run_dir,) = (tmp_path / "b" / "spiral").iterdir()
    assert not (run_dir / "summary.json").exists()
    assert json.loads((run_dir / "manifest.json").read_text())["status"] == "running"
    resumed = dlcourse("run", "spiral", "--resume", str(run_dir))
    assert resumed.returncode == 0, resumed.stderr
    (whole_dir,) = (tmp_path / "a" / "spiral").iterdir()
    expected = json.loads((whole_dir / "summary.json").read_text())["metrics"]
    got = json.loads((run_dir / "summary.json").read_text())["metrics"]
    assert got == expected
    read = lambda d: (d / "metrics.jsonl").read_text()  # noqa: E731
    assert read(run_dir) == read(whole_dir), "the metric log is the same too"
    assert json.loads((run_dir / "manifest.json").read_text())["resumed"] is True


def test_seeds_report_mean_and_std(tmp_path):
    r = dlcourse("run", "spiral", "--quick", "--seeds", "2", "--set", "epochs=60", "--out", str(tmp_path))
    assert r.returncode == 0, r.stdout + r.stderr
    (agg,) = [d for d in (tmp_path / "spiral").iterdir() if "seeds" in d.name]
    summary = json.loads((agg / "summary.json").read_text())
    assert summary["seeds"] == [0, 1] and len(summary["runs"]) == 2
    members = [json.loads((Path(d) / "summary.json").read_text())["metrics"] for d in summary["runs"]]
    key = "relu/train_acc"
    assert summary["metrics"][key] == pytest.approx((members[0][key] + members[1][key]) / 2)
    assert members[0][key] != members[1][key] and summary["std"][key] > 0
    assert "±" in r.stdout


def test_run_prints_text_results_and_samples_are_reproducible(tmp_path):
    # char_lm saves its decoded samples with run.text; `dlcourse run` prints them. The prompt keeps
    # its trailing space, and the same seed draws the same samples.
    args = ("run", "char_lm", "--quick", "--set", "prompt=def ", "--set", "steps=20", "--out", str(tmp_path))
    first, second = dlcourse(*args), dlcourse(*args)
    assert first.returncode in (0, 1) and "Traceback" not in first.stderr, first.stderr
    assert "--- samples ---" in first.stdout and "prompt: 'def '" in first.stdout
    texts = sorted(tmp_path.glob("char_lm/*/texts/samples.txt"))
    assert len(texts) == 2 and texts[0].read_text() == texts[1].read_text()


def test_verify_in_parallel_processes_gives_the_sequential_results(tmp_path):
    names = ["spiral", "logic_neurons"]
    seq = dlcourse("verify", "--quick", *names, "--out", str(tmp_path / "seq"))
    par = dlcourse("verify", "--quick", *names, "--jobs", "2", "--out", str(tmp_path / "par"))
    assert seq.returncode == par.returncode == 0, par.stdout + par.stderr

    def metrics(root):
        return {name: json.loads(next((root / name).glob("*/summary.json")).read_text())["metrics"]
                for name in names}

    assert metrics(tmp_path / "par") == metrics(tmp_path / "seq")
    order = [line.split()[0] for line in par.stdout.splitlines() if line.split() and line.split()[0] in names]
    assert order == names  # the table keeps the asked order whatever finishes first
    assert_usage_error(dlcourse("verify", "--quick", "spiral", "--jobs", "0", "--out", str(tmp_path / "bad")),
                       "--jobs")
    assert not (tmp_path / "bad").exists()
