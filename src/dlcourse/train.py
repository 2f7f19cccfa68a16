"""The training loop: explicit and short, no callbacks, no magic.

Small data sets live in memory as tensors, so a batch is an index into them (`x[idx]`), not a
DataLoader of Python objects: on a 2-core CPU that alone is often 10x. When the data fit in one
batch we train full-batch and skip the shuffling altogether.

    result = fit(model, (x, y), lambda m, xb, yb: F.cross_entropy(m(xb), yb), optimizer,
                 steps=Epochs(20), batch_size=64,
                 evaluate=Eval(lambda m: {"val_acc": accuracy(m(xv), yv)}, every=50, stop_at={"val_acc": (">=", 0.95)}),
                 phase=run.phase("mlp"))        # or phase=None outside a run: nothing is saved
    result["val_acc"], result.history           # the last evaluation, and every evaluation

Inside a run, `fit` is one resumable phase (dlcourse.checkpoint): on `--resume` it continues at the
step it was killed at with the same weights, optimizer, RNG and shuffle state, so the run ends with
exactly the metrics of an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import torch
from torch import nn

from dlcourse.checkpoint import Phase
from dlcourse.targets import OPS

Metrics = dict[str, float]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


@dataclass(frozen=True)
class Epochs:
    """`steps=Epochs(20)`: twenty passes over the data, whatever the batch size."""

    n: int


@dataclass(frozen=True)
class Eval:
    """What `fit` evaluates, how often (every `every` steps; default once an epoch, and always at the
    end) and when it stops early: `stop_at={"val_acc": (">=", 0.95)}` ends training as soon as an
    evaluation meets every condition. Stop on a validation split, never on the one you report."""

    fn: Callable[[nn.Module], Metrics] | None = None  # None: only the running train_loss is logged
    every: int | None = None
    stop_at: dict[str, tuple[str, float]] = field(default_factory=dict)


class Result(dict):
    """The last evaluation plus `steps` and `train_loss`; `.history` holds every evaluation."""

    history: list[Metrics]


def fit(model: nn.Module, data: Sequence[torch.Tensor] | torch.Tensor,
        loss_fn: Callable[..., torch.Tensor], optimizer: torch.optim.Optimizer, *,
        steps: int | Epochs, batch_size: int | None = None,
        schedule: Callable[[int], float] | None = None,
        evaluate: Eval | Callable[[nn.Module], Metrics] | None = None,
        phase: Phase | None = None) -> Result:
    """Train `model` on in-memory tensors.

    data:       tensors sharing their first dimension; each step slices the same rows of each.
    loss_fn:    loss_fn(model, *batch) -> scalar loss.
    steps:      optimizer steps, or `Epochs(n)`. batch_size None means full batch.
    schedule:   schedule(step) -> factor on each parameter group's initial lr (as LambdaLR does),
                e.g. `scratch.optim.cosine(1.0, total_steps)`.
    evaluate:   an Eval, or a bare function evaluated once an epoch; run in eval mode, no gradients.
    phase:      `run.phase(name)`: log, checkpoint and resume inside a run. Its run also gives the
                seed of the shuffling and the --amp setting.
    Gradient clipping: `clip_grad_norm(optimizer, max_norm)` before calling fit.
    """
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all data tensors must have the same first dimension")
    full_batch = batch_size is None or batch_size >= n
    per_epoch = 1 if full_batch else math.ceil(n / batch_size)
    total = steps.n * per_epoch if isinstance(steps, Epochs) else int(steps)
    if total < 1:
        raise ValueError(f"fit needs at least one step, got {steps!r}")
    evaluation = evaluate if isinstance(evaluate, Eval) or evaluate is None else Eval(evaluate)
    every = (evaluation.every if evaluation is not None else None) or per_epoch
    phase = phase if phase is not None else Phase(None, "train")
    run = phase.run
    shuffle = torch.Generator().manual_seed(run.seed if run is not None else 0)
    # Data parallel (launched by --nproc or torchrun): every rank draws the same global batch and
    # trains on its own slice of it; DDP averages the gradients, so the update is the full batch's
    # and a checkpoint resumes on any number of processes.
    rank, world = _rank_and_world()
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    shards = tuple(t[rank::world] for t in tensors)
    # --amp: the forward pass in half precision where autocast deems it safe (matmuls, convs), the
    # weights and the optimizer in float32; float16 gradients need loss scaling, bfloat16 do not.
    device_type = tensors[0].device.type
    amp = run is not None and run.amp
    half = torch.float16 if device_type == "cuda" else torch.bfloat16
    scaler = torch.amp.GradScaler(device_type, enabled=amp and half is torch.float16)
    for group in optimizer.param_groups:
        group.setdefault("initial_lr", group["lr"])

    history: list[Metrics] = []
    with phase.track(models={"net": model}, optimizers={"opt": optimizer}) as ph:
        # What the loop carries besides weights and optimizer: the shuffling generator as of the
        # start of the current epoch (to redraw its permutation) and the running loss.
        if "shuffle" in ph.tensors:
            shuffle.set_state(ph.tensors["shuffle"])
        loss_sum = ph.tensors.get("loss_sum", torch.zeros(()))
        loss_count = int(ph.state.get("loss_count", 0))
        history = list(ph.state.get("history", []))
        last: Metrics = dict(ph.result or {})
        perm = None
        model.train()

        def carry():
            # After step ph.step - 1: at an epoch's end the generator is where the next epoch starts,
            # mid-epoch we keep the state this epoch's permutation was drawn from.
            at_boundary = full_batch or ph.step % per_epoch == 0
            ph.tensors.update(shuffle=shuffle.get_state() if at_boundary else epoch_start,
                              loss_sum=loss_sum.clone())
            ph.state.update(loss_count=loss_count, history=history)

        ph.on_save = carry
        epoch_start = shuffle.get_state()
        for step in ph.steps(total):
            position = step % per_epoch
            if full_batch:
                batch = shards
            else:
                if perm is None or position == 0:  # a new epoch, or the one a resume continues
                    epoch_start = shuffle.get_state()
                    perm = torch.randperm(n, generator=shuffle).to(tensors[0].device)
                idx = perm[position * batch_size:(position + 1) * batch_size][rank::world]
                batch = tuple(t[idx] for t in tensors)
            if schedule is not None:
                factor = schedule(step)
                for group in optimizer.param_groups:
                    group["lr"] = group["initial_lr"] * factor
            with torch.autocast(device_type, dtype=half, enabled=amp):
                loss = loss_fn(net, *batch)
            if not torch.isfinite(loss):
                where = f" in {run.dir}" if run is not None else ""
                raise TrainingDiverged(
                    f"loss became {loss.item()} at step {step} of phase {ph.name!r}; training stopped. "
                    f"The last good checkpoint{where} is kept. Try a smaller learning rate.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            loss_sum += loss.detach().float().cpu()
            loss_count += 1
            done = step + 1 == total
            if (step + 1) % every == 0 or done:
                if world > 1:  # every rank saw a different slice: report the mean over all of them
                    reduced = loss_sum.to(next(model.parameters()).device)
                    torch.distributed.all_reduce(reduced)
                    loss_sum = reduced.cpu() / world
                last = {"train_loss": (loss_sum / loss_count).item(), **_evaluate(model, evaluation)}
                loss_sum, loss_count = torch.zeros(()), 0
                history.append({"step": float(step + 1), **last})
                if run is not None:
                    run.log(step + 1, "eval", **last)
                if evaluation is not None and evaluation.stop_at and all(
                        m in last and OPS[op](last[m], v) for m, (op, v) in evaluation.stop_at.items()):
                    ph.stop()
        if ph.result is None:
            ph.result = {**last, "steps": float(ph.step)}
    result = Result(ph.result)
    result.history = history
    return result


def clip_grad_norm(optimizer: torch.optim.Optimizer, max_norm: float) -> torch.optim.Optimizer:
    """Clip the gradient norm of the optimizer's parameters before each of its steps (a standard
    optimizer pre-hook, so it works with any loop, AMP's unscaling included)."""
    params = [p for g in optimizer.param_groups for p in g["params"]]

    def clip(opt, args, kwargs):
        nn.utils.clip_grad_norm_(params, max_norm)

    optimizer.register_step_pre_hook(clip)
    return optimizer


@torch.no_grad()
def _evaluate(model: nn.Module, evaluation: Eval | None) -> Metrics:
    if evaluation is None or evaluation.fn is None:
        return {}
    model.eval()
    try:
        return {k: float(v) for k, v in evaluation.fn(model).items()}
    finally:
        model.train()


def _rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(-1) == labels).float().mean().item()


__all__ = ["fit", "Epochs", "Eval", "Result", "clip_grad_norm", "accuracy", "TrainingDiverged"]
