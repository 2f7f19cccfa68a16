"""Run one lesson into a run directory and check its targets: what `run`, `verify` and the tests share."""

from __future__ import annotations

import traceback
from pathlib import Path

import torch

from dlcourse import registry
from dlcourse.registry import UsageError, check_targets
from dlcourse.runs import Run, seed_everything
from dlcourse.train import TrainingDiverged


def resolve_device(device: str | None) -> str:
    if device in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise UsageError(f"unknown device {device!r}: use cpu, cuda or auto")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but this PyTorch build sees no CUDA device")
    return device


def run_experiment(name: str, profile: str = "full", overrides: dict | None = None, seed: int = 0,
                   device: str | None = "cpu", out: str | Path = "runs", resume: str | Path | None = None,
                   quiet: bool = True, threads: int | None = None, tensorboard: bool = False,
                   amp: bool = False) -> dict:
    """Returns the summary (also written to summary.json). User mistakes raise UsageError
    before anything is written; a failing lesson is recorded as status "failed", not raised."""
    if resume is not None:
        info = Run.read_resume_info(resume)
        if name != info["experiment"]:
            raise UsageError(f"{resume} is a run of {info['experiment']!r}, not {name!r}")
        exp = registry.get(name)
        profile, seed = info["profile"], int(info["seed"])
        cfg = exp.make_config(profile, info["config"])
        device = resolve_device(info.get("device", device))
        if overrides:
            raise UsageError("--set cannot change the configuration of a run being resumed")
    else:
        exp = registry.get(name)
        cfg = exp.make_config(profile, overrides)
        device = resolve_device(device)
    # The thread count is part of the result (reduction order), so it is set, not inherited.
    torch.set_num_threads(threads or exp.threads)
    _import_once()
    rank, device = _init_distributed(device)
    seed_everything(seed)
    if rank == 0:
        run = Run.reopen(resume, exp.name, profile, cfg, seed, device) if resume is not None \
            else Run.create(out, exp.name, profile, cfg, seed, device)
    run_dir = _broadcast(str(run.dir) if rank == 0 else None)
    if rank != 0:
        run = Run.follower(run_dir, exp.name, profile, cfg, seed, device)
    run.quiet = quiet or rank != 0
    run.amp = amp
    if tensorboard:
        run.enable_tensorboard()
    metrics, status, error = {}, "ok", None
    try:
        metrics = {k: float(v) for k, v in exp.run(cfg, run).items()}
    except TrainingDiverged as e:
        status, error = "diverged", str(e)
    except UsageError:
        run.finish("usage_error", {}, [])
        raise
    except Exception as e:  # a broken lesson is a failed run, reported with its traceback in the summary
        status, error = "failed", "".join(traceback.format_exception(e))
    rows = check_targets(exp.targets[profile], metrics)
    if status == "ok" and not all(r["passed"] for r in rows):
        status = "target_missed"
    summary = run.finish(status, metrics, rows, error)
    summary["dir"] = str(run.dir)
    return summary



__all__ = ["run_experiment", "run_many", "run_seeds", "resolve_device"]


def _import_once() -> None:
    """Pay the one-time import costs before a run's clock starts: the first optimizer a process
    builds imports torch._dynamo (seconds), and the first figure imports pyplot. Otherwise whichever
    lesson runs first in a process is charged for them and its time says nothing about the lesson."""
    import torch._dynamo  # noqa: F401
    import dlcourse.plots  # noqa: F401  (selects the Agg backend, then imports pyplot)


def _init_distributed(device: str) -> tuple[int, str]:
    """Join the process group when started by `--nproc` or torchrun (WORLD_SIZE > 1): gloo on CPU,
    nccl on GPU, one GPU per local rank. Returns (rank, device)."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, device
    if not dist.is_initialized():
        cuda = device.startswith("cuda")
        if cuda:
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), device


def _broadcast(value):
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def run_seeds(name: str, seeds: int, profile: str = "full", overrides: dict | None = None, seed: int = 0,
              device: str | None = "cpu", out: str | Path = "runs", quiet: bool = True,
              threads: int | None = None, workers: int | None = None) -> dict:
    """Run seeds seed, seed+1, ... in parallel processes (one run directory each) and write an
    aggregate directory whose summary.json holds mean ± std of every metric; the targets are
    checked on the mean."""
    import concurrent.futures as cf
    import datetime as dt
    import multiprocessing
    import os

    import numpy as np

    from dlcourse.runs import write_json

    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, not {seeds}")
    exp = registry.get(name)
    exp.make_config(profile, overrides)  # a bad override fails here, before any process starts
    resolve_device(device)
    workers = workers or max(1, min(seeds, (os.cpu_count() or 1) // (threads or exp.threads)))
    members = list(range(seed, seed + seeds))
    ctx = multiprocessing.get_context("spawn")  # a clean interpreter per worker: no forked torch state
    with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
        summaries = list(pool.map(_one_seed, [(name, profile, overrides, s, device, str(out), threads)
                                              for s in members]))
    keys = sorted(set.intersection(*(set(s["metrics"]) for s in summaries)))
    values = {k: np.array([s["metrics"][k] for s in summaries]) for k in keys}
    mean = {k: float(v.mean()) for k, v in values.items()}
    std = {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}
    rows = check_targets(exp.targets[profile], mean)
    status = "ok" if all(s["status"] in ("ok", "target_missed") for s in summaries) else "failed"
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    agg = Path(out) / name / f"{stamp}-seeds{seed}-{seed + seeds - 1}"
    agg.mkdir(parents=True, exist_ok=False)
    summary = {"experiment": name, "profile": profile, "seeds": members, "status": status,
               "seconds": round(sum(s["seconds"] for s in summaries), 3), "metrics": mean, "std": std,
               "targets": rows, "passed": status == "ok" and all(r["passed"] for r in rows),
               "runs": [s["dir"] for s in summaries]}
    write_json(agg / "manifest.json", {"experiment": name, "profile": profile, "seeds": members,
                                       "workers": workers, "runs": summary["runs"]})
    write_json(agg / "summary.json", summary)
    summary["dir"] = str(agg)
    return summary


def run_many(names: list[str], profile: str = "full", seed: int = 0, device: str | None = "cpu",
             out: str | Path = "runs", jobs: int = 1, quiet: bool = True, threads: int | None = None,
             amp: bool = False):
    """Yield the summary of each lesson in `names`, in order. With jobs > 1 the lessons run in that
    many fresh processes at once (most lessons use one thread, so a 2-core machine verifies two at a
    time); a worker that dies is reported as that lesson's failed run, not as a crash of the rest."""
    import concurrent.futures as cf
    import multiprocessing

    if jobs <= 1:
        for name in names:
            yield run_experiment(name, profile, None, seed, device, out, quiet=quiet, threads=threads, amp=amp)
        return
    ctx = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        futures = [pool.submit(run_experiment, name, profile, None, seed, device, str(out), threads=threads,
                               amp=amp) for name in names]
        for name, future in zip(names, futures):
            try:
                yield future.result()
            except Exception as e:  # the worker process died (killed, out of memory): the run is lost
                yield {"experiment": name, "status": "failed", "seconds": 0.0, "metrics": {}, "targets": [],
                       "passed": False, "error": f"worker process failed: {e!r}", "dir": ""}


def _one_seed(args) -> dict:
    name, profile, overrides, seed, device, out, threads = args
    return run_experiment(name, profile, overrides, seed, device, out, threads=threads)
