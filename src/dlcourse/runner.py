"""Run one lesson into a run directory and check its targets: what `run`, `verify` and the tests share."""

from __future__ import annotations

import contextlib
import os
import traceback
from pathlib import Path

import torch

from dlcourse import registry, targets
from dlcourse.errors import UsageError
from dlcourse.runs import DiskFull, Run, seed_everything
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
                   amp: bool = False, on_start=None) -> dict:
    """Returns the summary (also written to summary.json). User mistakes raise UsageError
    before anything is written; a failing lesson is recorded as status "failed", not raised."""
    if resume is not None:
        if overrides:
            raise UsageError("--set cannot change the configuration of a run being resumed")
        info = Run.read_resume_info(resume)
        if name != info["experiment"]:
            raise UsageError(f"{resume} is a run of {info['experiment']!r}, not {name!r}")
        exp = registry.get(name)
        profile, seed = info["profile"], info["seed"]
        cfg = exp.make_config(profile, info["config"])
        device = resolve_device(info.get("device", device))
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
    if on_start is not None and rank == 0:
        on_start(run.dir)
    metrics, status, error = {}, "ok", None
    try:
        if tensorboard:
            run.enable_tensorboard()
        metrics = {k: float(v) for k, v in exp.run(cfg, run).items()}
    except TrainingDiverged as e:
        status, error = "diverged", str(e)
    except (KeyboardInterrupt, DiskFull):  # Ctrl-C, SIGTERM, a full disk: resumable, not failed
        run.interrupted()
        raise
    except UsageError:  # found only once the lesson ran (a data folder it cannot read)
        run.interrupted("usage_error")
        raise
    except Exception as e:  # a broken lesson is a failed run, reported with its traceback in the summary
        status, error = "failed", "".join(traceback.format_exception(e))
    try:
        summary = finish(run, exp, profile, status, metrics, error)
    except BaseException:
        run.interrupted()
        raise
    summary["dir"] = str(run.dir)
    return summary


def finish(run: Run, exp, profile: str, status: str, metrics: dict, error: str | None) -> dict:
    """Check targets and controls and write summary.json: the one place a run's verdict is made."""
    target_rows = targets.check_targets(exp.targets[profile], metrics)
    control_rows = targets.check_controls(exp.controls[profile], exp.targets[profile], metrics)
    status, passed = targets.verdict(status, target_rows, control_rows)
    return run.finish(status, metrics, target_rows, control_rows, passed, error)


__all__ = ["run_experiment", "run_many", "run_seeds", "resolve_device"]


def _import_once() -> None:
    """Pay the one-time import costs before a run's clock starts: the first optimizer a process
    builds imports torch._dynamo (seconds), and the first figure imports pyplot. Otherwise whichever
    lesson runs first in a process is charged for them and its time says nothing about the lesson."""
    import torch._dynamo  # noqa: F401

    import dlcourse.plots  # noqa: F401  (imports pyplot)


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
    aggregate directory whose summary.json holds mean ± std of every metric and, for each target and
    control, its worst seed: a target holds only if it holds on every seed."""
    import datetime as dt

    import numpy as np

    from dlcourse.runs import write_json

    if seeds < 1:
        raise UsageError(f"--seeds must be at least 1, not {seeds}")
    exp = registry.get(name)
    exp.make_config(profile, overrides)  # a bad override fails here, before any process starts
    resolve_device(device)
    workers = workers or max(1, min(seeds, (os.cpu_count() or 1) // (threads or exp.threads)))
    members = list(range(seed, seed + seeds))
    summaries = list(_in_processes(_one_seed, [(name, profile, overrides, s, device, str(out), threads)
                                               for s in members], workers))
    keys = sorted(set.intersection(*(set(s["metrics"]) for s in summaries)))
    values = {k: np.array([s["metrics"][k] for s in summaries]) for k in keys}
    mean = {k: float(v.mean()) for k, v in values.items()}
    std = {k: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for k, v in values.items()}
    finished = [s for s in summaries if s["status"] in ("ok", "target_missed")]
    status = "ok" if len(finished) == len(summaries) else "failed"
    if finished:
        target_rows = targets.worst([s["targets"] for s in finished], [s["seed"] for s in finished])
        control_rows = targets.worst([s["controls"] for s in finished], [s["seed"] for s in finished])
    else:
        target_rows, control_rows = [], []
    status, passed = targets.verdict(status, target_rows, control_rows)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    agg = Path(out) / name / f"{stamp}-seeds{seed}-{seed + seeds - 1}"
    agg.mkdir(parents=True, exist_ok=False)
    summary = {"experiment": name, "profile": profile, "seeds": members, "status": status,
               "seconds": round(sum(s["seconds"] for s in summaries), 3), "metrics": mean, "std": std,
               "targets": target_rows, "controls": control_rows, "passed": passed,
               "runs": [s["dir"] for s in summaries]}
    write_json(agg / "manifest.json", {"experiment": name, "profile": profile, "seeds": members,
                                       "workers": workers, "runs": summary["runs"], "status": status})
    write_json(agg / "summary.json", summary)
    summary["dir"] = str(agg)
    return summary


def run_many(names: list[str], profile: str = "full", seed: int = 0, device: str | None = "cpu",
             out: str | Path = "runs", jobs: int = 1, quiet: bool = True, threads: int | None = None,
             amp: bool = False):
    """Yield the summary of each lesson in `names`, in order. With jobs > 1 the lessons run in that
    many fresh processes at once (most lessons use one thread, so a 2-core machine verifies two at a
    time); a worker that dies is reported as that lesson's failed run, not as a crash of the rest."""
    if jobs <= 1:
        for name in names:
            yield run_experiment(name, profile, None, seed, device, out, quiet=quiet, threads=threads, amp=amp)
        return
    args = [(name, profile, None, seed, device, str(out), threads, amp) for name in names]
    yield from _in_processes(_one_lesson, args, jobs, names)


def _in_processes(fn, args: list, workers: int, names: list[str] | None = None):
    """fn(*a) for each a in `args`, in `workers` fresh spawn processes, results in order. Ctrl-C (or
    SIGTERM) stops every worker at once: each marks its run interrupted and exits, no tracebacks."""
    import concurrent.futures as cf
    import multiprocessing
    import signal

    ctx = multiprocessing.get_context("spawn")  # a clean interpreter per worker: no forked torch state
    pool = cf.ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init)
    futures = [pool.submit(fn, a) for a in args]
    try:
        for i, future in enumerate(futures):
            try:
                yield future.result()
            except (cf.process.BrokenProcessPool, OSError, EOFError) as e:  # killed, out of memory
                name = names[i] if names else str(args[i][0])
                yield {"experiment": name, "status": "failed", "seconds": 0.0, "metrics": {}, "targets": [],
                       "controls": [], "passed": False, "error": f"worker process failed: {e!r}", "dir": ""}
    except BaseException:
        for f in futures:
            f.cancel()
        for p in list((pool._processes or {}).values()):  # let each worker mark its run interrupted
            with contextlib.suppress(OSError):
                os.kill(p.pid, signal.SIGTERM)
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _worker_init() -> None:
    """In a worker, Ctrl-C at the terminal reaches every process of the group: ignore it here and
    let the parent stop us with SIGTERM, which ends the run as interrupted (no traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    install_signal_handlers()


def install_signal_handlers() -> None:
    """SIGTERM ends a run as Ctrl-C does: status "interrupted", lock released, resumable."""
    import signal

    def terminate(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)


def _one_lesson(args) -> dict:
    name, profile, overrides, seed, device, out, threads, amp = args
    try:
        return run_experiment(name, profile, overrides, seed, device, out, threads=threads, amp=amp)
    except KeyboardInterrupt:
        return {"experiment": name, "status": "interrupted", "seconds": 0.0, "metrics": {}, "targets": [],
                "controls": [], "passed": False, "error": "interrupted", "dir": ""}
    except UsageError as e:
        return {"experiment": name, "status": "usage_error", "seconds": 0.0, "metrics": {}, "targets": [],
                "controls": [], "passed": False, "error": str(e), "dir": ""}


def _one_seed(args) -> dict:
    name, profile, overrides, seed, device, out, threads = args
    return _one_lesson((name, profile, overrides, seed, device, out, threads, False))
