"""--tensorboard writes event files that TensorBoard's own reader understands."""

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dlcourse.runner import run_experiment


def test_scalars_and_figures_read_back(runs_dir):
    summary = run_experiment("spiral", "quick", overrides={"epochs": "40"}, out=runs_dir, tensorboard=True)
    events = EventAccumulator(str(runs_dir / "spiral" / summary["dir"].split("/")[-1] / "tensorboard"),
                              size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    tags = events.Tags()
    assert "relu/eval/train_acc" in tags["scalars"] and "figures/decision_regions" in tags["images"]
    acc = events.Scalars("relu/eval/train_acc")
    assert [e.step for e in acc] == [10, 20, 30, 40]
    assert abs(acc[-1].value - summary["metrics"]["relu/train_acc"]) < 1e-6
