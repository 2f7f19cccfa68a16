"""The training loop: batching, early stop, NaN guard, and exact resume from a checkpoint."""

import dataclasses
import json

import pytest
import torch
import torch.nn.functional as F

from dlcourse.errors import UsageError
from dlcourse.models.mlp import mlp
from dlcourse.runs import Run
from dlcourse.train import Epochs, Eval, TrainingDiverged, accuracy, fit


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
    return fit(model, (x, y), loss, opt, steps=steps or Epochs(epochs), batch_size=batch_size,
               schedule=lambda s: 1 - s / 60, evaluate=Eval(lambda m: {"acc": accuracy(m(x), y)}, every=5),
               phase=run.phase("net") if run is not None else None)


def test_minibatch_training_learns_and_is_deterministic():
    a, b = train(), train()
    assert a == b
    assert a["acc"] > 0.8 and a["steps"] == 6 * 8


def test_data_tensors_must_agree():
    with pytest.raises(ValueError):
        fit(mlp([5, 2]), (torch.zeros(4, 5), torch.zeros(3)), ce, torch.optim.SGD(mlp([5, 2]).parameters(), 0.1),
            steps=Epochs(1))


def test_early_stop_at_target():
    x, y = problem()
    torch.manual_seed(0)
    model = mlp([5, 64, 2])
    result = fit(model, (x, y), ce, torch.optim.Adam(model.parameters(), lr=0.05), steps=500,
                 evaluate=Eval(lambda m: {"acc": accuracy(m(x), y)}, every=1, stop_at={"acc": (">=", 0.9)}))
    assert result["acc"] >= 0.9 and result["steps"] < 500
    assert len(result.history) == result["steps"] and result.history[-1]["acc"] == result["acc"]


def test_a_schedule_scales_each_group_from_its_own_lr():
    model = mlp([5, 8, 2])
    groups = [{"params": [model[0].weight, model[0].bias], "lr": 0.1},
              {"params": [model[-1].weight, model[-1].bias], "lr": 0.01}]
    opt = torch.optim.SGD(groups, lr=1.0)
    seen = []

    def loss(m, xb, yb):
        seen.append([g["lr"] for g in opt.param_groups])
        return ce(m, xb, yb)

    fit(model, problem(), loss, opt, steps=3, schedule=lambda s: 0.5 ** s)
    assert seen == [[0.1, 0.01], [0.05, 0.005], [0.025, 0.0025]]


def test_fit_returns_the_history_without_a_run():
    x, y = problem()
    torch.manual_seed(0)
    model = mlp([5, 16, 2])
    result = fit(model, (x, y), ce, torch.optim.Adam(model.parameters(), lr=0.05), steps=Epochs(4),
                 batch_size=64, evaluate=lambda m: {"acc": accuracy(m(x), y)})
    assert [h["step"] for h in result.history] == [4.0, 8.0, 12.0, 16.0]
    assert all({"acc", "train_loss"} <= h.keys() for h in result.history)


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
        fit(model, (x, y), loss, opt, steps=20, phase=run.phase("p"))
    assert run.checkpoint_path("p").exists()  # saved at step 6, untouched by the NaN at step 7


@pytest.mark.parametrize("crash_at", [4, 13, 29])
def test_resume_mid_epoch_gives_the_uninterrupted_result(tmp_path, crash_at):
    whole_run = Run.create(tmp_path / "a", "t", "full", Cfg(), 0, "cpu")
    torch.manual_seed(123)
    whole = train(whole_run)
    cut = Run.create(tmp_path / "b", "t", "full", Cfg(), 0, "cpu")
    torch.manual_seed(123)
    with pytest.raises(KeyboardInterrupt):
        train(cut, crash_at=crash_at)
    cut.close()
    resumed_run = Run.reopen(cut.dir, "t", "full", Cfg(), 0, "cpu")
    torch.manual_seed(123)
    resumed = train(resumed_run)
    assert resumed == whole
    lines = lambda r: (r.dir / "metrics.jsonl").read_text().splitlines()  # noqa: E731
    assert lines(resumed_run) == lines(whole_run)


def test_finished_phase_is_restored_without_training(tmp_path):
    run = Run.create(tmp_path, "t", "full", Cfg(), 0, "cpu")
    first = train(run)
    run.close()
    again = Run.reopen(run.dir, "t", "full", Cfg(), 0, "cpu")
    assert train(again, crash_at=0) == first  # crash_at=0 would raise on any training step


def test_checkpoint_of_another_config_is_refused(tmp_path):
    run = Run.create(tmp_path, "t", "full", Cfg(), 0, "cpu")
    train(run)
    run.close()
    with pytest.raises(UsageError, match="different configuration"):
        Run.reopen(run.dir, "t", "full", Cfg(lr=0.1), 0, "cpu")
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

    result = fit(model, (x, y), loss, torch.optim.Adam(model.parameters(), lr=0.05), steps=100,
                 evaluate=lambda m: {"acc": accuracy(m(x), y)}, phase=run.phase("amp"))
    assert seen[0] == torch.bfloat16 and next(model.parameters()).dtype == torch.float32
    assert result["acc"] > 0.85
