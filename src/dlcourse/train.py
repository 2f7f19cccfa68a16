"""The training loop: explicit and short, no callbacks, no magic.

Small data sets live in memory as tensors, so a batch is an index into them (`x[idx]`), not a
DataLoader of Python objects: on a 2-core CPU that alone is often 10x (reference/anchors.md §5).
When the data fit in one batch we train full-batch and skip the shuffling altogether.

Inside a run, `fit` is one resumable *phase*: it checkpoints weights, optimizer state, RNG states
and the step to `checkpoint/<phase>.safetensors`, and on `--resume` it picks up at that step with the
same RNG state, so the run ends with exactly the metrics of an uninterrupted one. A finished phase
is restored whole (weights and result) without training again.
"""

from __future__ import annotations

import math
import sys
from typing import Callable, Sequence

import torch
from torch import nn

from dlcourse.registry import OPS

Metrics = dict[str, float]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""


def fit(model: nn.Module, data: Sequence[torch.Tensor] | torch.Tensor,
        loss_fn: Callable[..., torch.Tensor], *, optimizer: torch.optim.Optimizer,
        epochs: int | None = None, steps: int | None = None, batch_size: int | None = None,
        lr_at: Callable[[int], float] | None = None,
        evaluate: Callable[[nn.Module], Metrics] | None = None, eval_every: int | None = None,
        stop_at: dict[str, tuple[str, float]] | None = None,
        run=None, phase: str = "train", checkpoint_every: int | None = None,
        seed: int = 0, grad_clip: float | None = None) -> Metrics:
    """Train `model` on in-memory tensors; return the last evaluation plus `steps` and `train_loss`.

    data:        tensors sharing their first dimension; each step slices the same rows of each.
    loss_fn:     loss_fn(model, *batch) -> scalar loss.
    epochs/steps: how long (one of them); batch_size None means full batch.
    lr_at:       lr_at(step) -> learning rate, set on every parameter group before each step.
    evaluate:    evaluate(model) -> metrics, run in eval mode without gradients every `eval_every`
                 steps (default: once an epoch) and at the end.
    stop_at:     {metric: (op, value)}: stop as soon as an evaluation meets all of them.
    run:         a runs.Run: log metrics, checkpoint every `checkpoint_every` steps, resume.
    """
    tensors = (data,) if isinstance(data, torch.Tensor) else tuple(data)
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("all data tensors must have the same first dimension")
    full_batch = batch_size is None or batch_size >= n
    per_epoch = 1 if full_batch else math.ceil(n / batch_size)
    if (epochs is None) == (steps is None):
        raise ValueError("give exactly one of epochs or steps")
    total = steps if steps is not None else epochs * per_epoch
    eval_every = eval_every or per_epoch
    checkpoint_every = checkpoint_every or max(1, total // 10)
    shuffle = torch.Generator().manual_seed(seed)
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

    def run_phase() -> Metrics:
        step, epoch_state, result = 0, shuffle.get_state(), None
        loss_sum, loss_count = torch.zeros(()), 0
        if run is not None and (ckpt := run.load_checkpoint()) is not None:
            step, epoch_state, result, loss_sum, loss_count = _restore(ckpt, model, optimizer)
            if result is not None:  # this phase had finished before the interruption
                return result
        evaluation: Metrics = {}
        bar = _progress(total, step, phase, run)
        perm = None
        shuffle.set_state(epoch_state)
        model.train()
        while step < total:
            position = step % per_epoch
            if full_batch:
                batch = shards
            else:
                if perm is None or position == 0:
                    epoch_state = shuffle.get_state()  # to redraw this permutation on resume
                    perm = torch.randperm(n, generator=shuffle).to(tensors[0].device)
                idx = perm[position * batch_size:(position + 1) * batch_size][rank::world]
                batch = tuple(t[idx] for t in tensors)
            if lr_at is not None:
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
            with torch.autocast(device_type, dtype=half, enabled=amp):
                loss = loss_fn(net, *batch)
            if not torch.isfinite(loss):
                where = f" in {run.dir}" if run is not None else ""
                raise TrainingDiverged(
                    f"loss became {loss.item()} at step {step} of phase {phase!r}; training stopped. "
                    f"The last good checkpoint{where} is kept. Try a smaller learning rate.")
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            scaler.step(optimizer)
            scaler.update()
            step += 1
            loss_sum += loss.detach().cpu()
            loss_count += 1
            if bar is not None:
                bar.update(1)
            done = step == total
            if step % eval_every == 0 or done:
                if world > 1:  # every rank saw a different slice: report the mean over all of them
                    reduced = loss_sum.to(next(model.parameters()).device)
                    torch.distributed.all_reduce(reduced)
                    loss_sum = reduced.cpu() / world
                train_loss = (loss_sum / loss_count).item()
                loss_sum, loss_count = torch.zeros(()), 0
                evaluation = {"train_loss": train_loss, **_evaluate(model, evaluate)}
                if run is not None:
                    run.log(step, "eval", **evaluation)
                if stop_at and all(m in evaluation and OPS[op](evaluation[m], v)
                                   for m, (op, v) in stop_at.items()):
                    done = True
            if done:
                break
            if run is not None and step % checkpoint_every == 0:
                next_epoch = full_batch or step % per_epoch == 0
                _save(run, step, shuffle.get_state() if next_epoch else epoch_state, model, optimizer,
                      loss=(loss_sum, loss_count))
        if bar is not None:
            bar.close()
        result = {**evaluation, "steps": float(step)}
        if run is not None:
            _save(run, step, shuffle.get_state(), model, optimizer, loss=(loss_sum, 0), result=result)
        return result

    if run is None:
        return run_phase()
    with run.in_phase(phase):
        return run_phase()


@torch.no_grad()
def _evaluate(model: nn.Module, evaluate) -> Metrics:
    if evaluate is None:
        return {}
    model.eval()
    try:
        return {k: float(v) for k, v in evaluate(model).items()}
    finally:
        model.train()


def _rank_and_world() -> tuple[int, int]:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    return (logits.argmax(-1) == labels).float().mean().item()


# --- checkpoints: everything needed to continue exactly, in one safetensors file ------------------

def pack_state(step: int, models: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator], extra: dict | None = None):
    """Flatten modules, optimizers and RNG states into (tensors, JSON-able meta)."""
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    for name, g in generators.items():
        tensors[f"rng.gen.{name}"] = g.get_state()
    for name, m in models.items():
        for k, v in m.state_dict().items():
            tensors[f"model.{name}.{k}"] = v
    optim_meta = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"optim.{name}.{pid}.{k}"] = v
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        optim_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, {"step": step, "optimizers": optim_meta, **(extra or {})}


def unpack_state(tensors: dict[str, torch.Tensor], meta: dict, models: dict[str, nn.Module],
                 optimizers: dict[str, torch.optim.Optimizer], generators: dict[str, torch.Generator]) -> int:
    """Inverse of pack_state: load everything back in place and return the step."""
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    for name, g in generators.items():
        g.set_state(tensors[f"rng.gen.{name}"])
    for name, m in models.items():
        prefix = f"model.{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        device = next(m.parameters(), torch.empty(0)).device
        m.load_state_dict({k: v.to(device) for k, v in state.items()})
    for name, opt in optimizers.items():
        om = meta["optimizers"][name]
        state: dict[int, dict] = {}
        for pid, scalars in om["scalars"].items():
            state.setdefault(int(pid), {}).update(scalars)
        prefix = f"optim.{name}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    return int(meta["step"])


def _save(run, step, shuffle_state, model, optimizer, loss, result=None):
    # The running loss sum travels too: the next logged train_loss must not depend on a restart.
    tensors, meta = pack_state(step, {"net": model}, {"opt": optimizer}, {})
    tensors["rng.shuffle"], tensors["loss_sum"] = shuffle_state, loss[0]
    run.save_checkpoint(tensors, {**meta, "loss_count": loss[1], "result": result})


def _restore(ckpt, model, optimizer):
    tensors, meta = ckpt
    try:
        step = unpack_state(tensors, meta, {"net": model}, {"opt": optimizer}, {})
    except (KeyError, RuntimeError, ValueError) as e:
        from dlcourse.registry import UsageError

        raise UsageError(f"checkpoint does not match this model: {e}") from None
    return step, tensors["rng.shuffle"], meta.get("result"), tensors["loss_sum"], meta["loss_count"]


def _progress(total: int, start: int, phase: str, run):
    if run is None or run.quiet or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=start, desc=f"{run.experiment}:{phase}", leave=False,
                dynamic_ncols=True, mininterval=0.5)


__all__ = ["fit", "accuracy", "TrainingDiverged", "pack_state", "unpack_state"]
