"""The training loop: batching, early stop, NaN guard, and exact resume from a checkpoint."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from dlcourse.models.mlp import mlp
from dlcourse.runs import Run
from dlcourse.train import TrainingDiverged, accuracy, fit


@dataclasses.dataclass
class Cfg:
    lr: float = 0.05


def problem(seed=0, n=256):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 5, generator=g)
    y = (x[:, 0] * x[:, 1] > 0).long()
    return x, y


def ce(model, x, y):
    return F.cross_entropy(model(x), y)


def train(run=None, crash_at=None, steps=None, epochs=6, batch_size=32, dropout=0.2):
    torch.manual_seed(0)
    x, y = problem()
    model = mlp([5, 32, 2], dropout=dropout)  # dropout draws from the global RNG: resume must restore it
    calls = {"n": 0}

    def loss(m, xb, yb):
        calls["n"] += 1
        if crash_at is not None and calls["n"] > crash_at:
            raise KeyboardInterrupt  # stands in for a kill between two steps
        return ce(m, xb, yb)

    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    return fit(model, (x, y), loss, optimizer=opt, epochs=epochs, steps=steps, batch_size=batch_size,
               evaluate=lambda m: {"acc": accuracy(m(x), y)}, eval_every=5, run=run, phase="net",
               checkpoint_every=3, lr_at=lambda s: 0.05 * (1 - s / 60))


def test_minibatch_training_learns_and_is_deterministic():
    a, b = train(), train()
    assert a == b
    assert a["acc"] > 0.8 and a["steps"] == 6 * 8


def test_data_tensors_must_agree():
    with pytest.raises(ValueError):
        fit(mlp([5, 2]), (torch.zeros(4, 5), torch.zeros(3)), ce, optimizer=torch.optim.SGD(mlp([5, 2]).parameters(), 0.1), epochs=1)


def test_early_stop_at_target():
    x, y = problem()
    torch.manual_seed(0)
    model = mlp([5, 64, 2])
    result = fit(model, (x, y), ce, optimizer=torch.optim.Adam(model.parameters(), lr=0.05), steps=500,
                 evaluate=lambda m: {"acc": accuracy(m(x), y)}, eval_every=1, stop_at={"acc": (">=", 0.9)})
    assert result["acc"] >= 0.9 and result["steps"] < 500


def test_nan_loss_stops_with_a_message_and_keeps_the_last_checkpoint(tmp_path):
    run = Run.create(tmp_path, "t", "full", Cfg(), 0, "cpu")
    x, y = problem()
    model = mlp([5, 8, 2])
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    steps = {"n": 0}

    def loss(m, xb, yb):
        steps["n"] += 1
        return ce(m, xb, yb) * (float("nan") if steps["n"] == 8 else 1.0)

    with pytest.raises(TrainingDiverged, match="step 7"):
        fit(model, (x, y), loss, optimizer=opt, steps=20, run=run, phase="p", checkpoint_every=5)
    assert run.checkpoint_path("p").exists()  # saved at step 5, untouched by the NaN at step 7


@pytest.mark.parametrize("crash_at", [4, 13, 29])
def test_resume_mid_epoch_gives_the_uninterrupted_result(tmp_path, crash_at):
    whole_run = Run.create(tmp_path / "a", "t", "full", Cfg(), 0, "cpu")
    torch.manual_seed(123)
    whole = train(whole_run)
    cut = Run.create(tmp_path / "b", "t", "full", Cfg(), 0, "cpu")
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        train(cut, crash_at=crash_at)
    resumed_run = Run.reopen(cut.dir, "t", "full", Cfg(), 0, "cpu")
    torch.manual_seed(123)
    resumed = train(resumed_run)
    assert resumed == whole
    lines = lambda r: (r.dir / "metrics.jsonl").read_text().splitlines()  # noqa: E731
    assert lines(resumed_run) == lines(whole_run)


def test_finished_phase_is_restored_without_training(tmp_path):
    run = Run.create(tmp_path, "t", "full", Cfg(), 0, "cpu")
    first = train(run)
    again = Run.reopen(run.dir, "t", "full", Cfg(), 0, "cpu")
    assert train(again, crash_at=0) == first  # crash_at=0 would raise on any training step


def test_checkpoint_of_another_config_is_refused(tmp_path):
    from dlcourse.registry import UsageError

    run = Run.create(tmp_path, "t", "full", Cfg(), 0, "cpu")
    train(run)
    other = Run.reopen(run.dir, "t", "full", Cfg(lr=0.1), 0, "cpu")
    with pytest.raises(UsageError, match="different configuration"):
        train(other)
    meta = json.loads((run.dir / "config.json").read_text())
    assert meta["config"] == {"lr": 0.05}


def test_amp_trains_in_bfloat16_on_cpu(tmp_path):
    run = Run.create(tmp_path, "t", "full", Cfg(), 0, "cpu")
    run.amp = True
    seen = []
    x, y = problem()
    torch.manual_seed(0)
    model = mlp([5, 64, 2])

    def loss(m, xb, yb):
        logits = m(xb)
        seen.append(logits.dtype)
        return F.cross_entropy(logits, yb)

    result = fit(model, (x, y), loss, optimizer=torch.optim.Adam(model.parameters(), lr=0.05), steps=100,
                 evaluate=lambda m: {"acc": accuracy(m(x), y)}, run=run, phase="amp")
    assert seen[0] == torch.bfloat16 and next(model.parameters()).dtype == torch.float32
    assert result["acc"] > 0.85
