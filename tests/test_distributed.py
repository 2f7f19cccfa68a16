"""Data-parallel training on PyTorch's own engine (gloo on CPU): 2 processes give the metrics of 1
within a stated tolerance, only rank 0 writes, and a checkpoint resumes on another process count.

Tolerance: the ranks average gradients of two half batches instead of one full batch, which
changes float rounding only; over 60 Adam steps accuracy may move by a point or so at most.
"""

import json

from test_cli import dlcourse

TOL_ACC, TOL_LOSS = 0.01, 2e-3
ARGS = ["run", "resumable", "--quick"]


def metrics(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["metrics"]


def close(a, b):
    return all(abs(a[k] - b[k]) <= (TOL_ACC if k.endswith("acc") else TOL_LOSS if k.endswith("loss") else 0)
               for k in a)


def test_two_processes_match_one_and_resume_on_one(tmp_path):
    one = dlcourse(*ARGS, "--out", str(tmp_path / "one"))
    two = dlcourse(*ARGS, "--nproc", "2", "--out", str(tmp_path / "two"))
    assert one.returncode == 0 and two.returncode == 0, two.stdout + two.stderr
    (one_dir,) = (tmp_path / "one" / "resumable").iterdir()
    (two_dir,) = (tmp_path / "two" / "resumable").iterdir()  # one directory: only rank 0 writes
    assert close(metrics(one_dir), metrics(two_dir)), (metrics(one_dir), metrics(two_dir))
    assert json.loads((two_dir / "manifest.json").read_text())["world_size"] == 2

    killed = dlcourse(*ARGS, "--nproc", "2", "--out", str(tmp_path / "cut"),
                      env={"DLCOURSE_KILL_AFTER_CHECKPOINTS": "13"})
    assert killed.returncode != 0
    (cut_dir,) = (tmp_path / "cut" / "resumable").iterdir()
    assert not (cut_dir / "summary.json").exists() and (cut_dir / "checkpoint" / "relu.safetensors").exists()
    resumed = dlcourse("run", "resumable", "--resume", str(cut_dir))  # on 1 process
    assert resumed.returncode == 0, resumed.stderr
    assert close(metrics(one_dir), metrics(cut_dir)), (metrics(one_dir), metrics(cut_dir))
