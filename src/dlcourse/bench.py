"""Time-to-target, measured: each lesson's full profile against its declared budget, and the spiral
lesson against the notebook's own recipe in the same process (so the two numbers share a machine).

Timings are printed, never asserted: a test that depends on the wall clock fails on a busy machine.
"""

from __future__ import annotations

import tempfile
import time

import torch
import torch.nn.functional as F

from dlcourse import registry
from dlcourse.runner import run_experiment


def lesson_table(names: list[str] | None = None, profile: str = "full", out: str | None = None) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names or [lesson.name for lesson in registry.lessons()]:
            exp = registry.info(name)
            summary = run_experiment(name, profile, out=out or tmp)
            rows.append({"lesson": name, "seconds": summary["seconds"], "budget_s": exp.budget_s,
                         "threads": exp.threads, "passed": summary["passed"]})
    return rows


def spiral_time_to_target(target: float = 0.95, repeats: int = 3) -> dict:
    """Seconds for a 2-100-3 ReLU net to reach `target` train accuracy on the 3000-point spiral:
    the notebook's recipe (Adam lr 1e-3, accuracy checked every step, up to 1000 steps) vs ours
    (the lesson's config, lr 0.03, checked every 10 steps), best of `repeats`, one thread."""
    from dlcourse.data.spiral import spiral
    from dlcourse.experiments.spiral import Config
    from dlcourse.models.mlp import mlp
    from dlcourse.train import Eval, accuracy, fit

    torch.set_num_threads(1)
    cfg = Config()
    x, y = spiral(cfg.points_per_arm, cfg.arms, cfg.noise, seed=0)

    def notebook():
        model = mlp([2, 100, 3])
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-5)
        for step in range(1000):
            logits = model(x)
            loss = F.cross_entropy(logits, y)
            acc = (logits.argmax(1) == y).float().mean().item()
            if acc >= target:
                return step, acc
            opt.zero_grad()
            loss.backward()
            opt.step()
        return 1000, acc

    def ours():
        model = mlp([2, cfg.hidden, cfg.arms])
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        r = fit(model, (x, y), lambda m, a, b: F.cross_entropy(m(a), b), opt, steps=cfg.epochs,
                evaluate=Eval(lambda m: {"acc": accuracy(m(x), y)}, every=10, stop_at={"acc": (">=", target)}))
        return int(r["steps"]), r["acc"]

    result = {}
    for label, fn in (("notebook", notebook), ("dlcourse", ours)):
        best = float("inf")
        for i in range(repeats):
            torch.manual_seed(i)
            t = time.perf_counter()
            steps, acc = fn()
            best = min(best, time.perf_counter() - t)
        result[label] = {"seconds": best, "steps": steps, "acc": acc}
    result["speedup"] = result["notebook"]["seconds"] / result["dlcourse"]["seconds"]
    return result


def machine_line() -> str:
    """Where a table was measured: timings mean nothing without the machine and how busy it was."""
    import datetime as dt
    import os
    import platform

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"Measured {dt.date.today().isoformat()} on {platform.machine()} {platform.system()}, "
            f"{os.cpu_count()} logical CPUs, torch {torch.__version__}, Python {platform.python_version()}; "
            f"load average {load:.2f} when it started.")


def format_lesson_table(rows: list[dict]) -> str:
    lines = ["| lesson | seconds | budget | threads | within budget | targets |", "|---|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(f"| {r['lesson']} | {r['seconds']:.1f} | {r['budget_s']:g} | {r['threads']} | "
                     f"{'yes' if r['seconds'] <= r['budget_s'] else 'NO'} | {'pass' if r['passed'] else 'FAIL'} |")
    total = sum(r["seconds"] for r in rows)
    lines.append(f"| **total** | {total:.1f} | | | | |")
    return "\n".join(lines)


def format_spiral(result: dict) -> str:
    nb, us = result["notebook"], result["dlcourse"]
    return "\n".join([
        "| spiral, time to 0.95 train acc (1 thread) | seconds | steps | accuracy |", "|---|---:|---:|---:|",
        f"| notebook recipe (Adam 1e-3, full batch) | {nb['seconds']:.3f} | {nb['steps']} | {nb['acc']:.3f} |",
        f"| dlcourse (Adam 0.03, full batch, stop at target) | {us['seconds']:.3f} | {us['steps']} | {us['acc']:.3f} |",
        f"| speed-up | {result['speedup']:.1f}x | | |"])
