"""Targets and controls: what a lesson must reach, and what must fail to reach it.

A *target* states the lesson's point as data: `{"relu/train_acc": (">=", 0.98)}`.

A *control* is the simplest thing that should NOT show the effect (the same net without its ReLU, an
untrained model, a hand-written rule, chance). A target means something only if its control misses
it, so a control names the target it must miss and by how much:

    controls={"full": {"linear/train_acc": ("relu/train_acc", 0.38)}}

reads "the linear net's accuracy stays at least 0.38 below the ReLU net's target of 0.98", that is
linear/train_acc <= 0.60. A control that reaches its target is a defect of the lesson: the run fails.
"""

from __future__ import annotations

import math
from typing import Callable

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}
# The side a control must stay on, for the operator of the target it misses.
MISSES = {">=": "<=", ">": "<=", "<=": ">=", "<": ">=", "==": "!="}
PROFILES = ("full", "quick")

Targets = dict[str, tuple[str, float]]
Controls = dict[str, tuple[str, float]]


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_targets(targets: Targets, metrics: dict[str, float]) -> list[dict]:
    """One row per target: the achieved value and whether it passed. A missing or NaN metric fails."""
    rows = []
    for metric, (op, value) in targets.items():
        achieved = metrics.get(metric)
        passed = _finite(achieved) and OPS[op](achieved, value)
        rows.append({"metric": metric, "op": op, "target": value, "achieved": achieved, "passed": bool(passed)})
    return rows


def control_bound(target: tuple[str, float], margin: float) -> tuple[str, float]:
    """(op, bound) a control's value must satisfy to miss `target` by `margin`."""
    op, value = target
    if op in (">=", ">"):
        return "<=", value - margin
    if op in ("<=", "<"):
        return ">=", value + margin
    return "!=", value  # "==": at least `margin` away from the value


def check_controls(controls: Controls, targets: Targets, metrics: dict[str, float]) -> list[dict]:
    """One row per control: its value, the bound it must stay beyond, and whether it did (passed).
    A missing control metric fails: a control that was not run proves nothing."""
    rows = []
    for metric, (against, margin) in controls.items():
        op, bound = control_bound(targets[against], margin)
        achieved = metrics.get(metric)
        if not _finite(achieved):
            passed = False
        elif op == "!=":
            passed = abs(achieved - bound) >= margin
        else:
            passed = OPS[op](achieved, bound)
        rows.append({"metric": metric, "against": against, "margin": margin, "op": op, "bound": bound,
                     "target": targets[against][1], "achieved": achieved, "passed": bool(passed)})
    return rows


def validate(name: str, targets: dict, controls: dict) -> None:
    """Declaration errors are the lesson author's: raised as ValueError when the lesson is read."""
    for profile, table in targets.items():
        if profile not in PROFILES:
            raise ValueError(f"{name}: unknown profile {profile!r} in targets")
        for metric, spec in table.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in OPS and _finite(spec[1])):
                raise ValueError(f"{name}: target {metric} must be (op, number) with op in {', '.join(OPS)}")
    for profile, table in controls.items():
        if profile not in PROFILES:
            raise ValueError(f"{name}: unknown profile {profile!r} in controls")
        for metric, spec in table.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str) and _finite(spec[1])):
                raise ValueError(f"{name}: control {metric} must be (target metric, margin)")
            against, margin = spec
            if against not in targets.get(profile, {}):
                raise ValueError(f"{name}: control {metric} names {against!r}, not a {profile} target")
            if margin < 0:
                raise ValueError(f"{name}: control {metric} has a negative margin")
            if metric in targets.get(profile, {}):
                raise ValueError(f"{name}: {metric} is both a target and a control")


def verdict(status: str, targets: list[dict], controls: list[dict]) -> tuple[str, bool]:
    """(status, passed) of a finished run: every target met and every control missed its target."""
    if status == "ok" and not all(r["passed"] for r in targets + controls):
        status = "target_missed"
    return status, status == "ok"


def describe_target(t: dict) -> str:
    return f"{t['metric']} {t['op']} {t['target']:g}"


def describe_control(c: dict) -> str:
    return f"{c['metric']} {c['op']} {c['bound']:.4g}"


def worst(rows_per_seed: list[list[dict]], seeds: list[int]) -> list[dict]:
    """Across seeds, each row with its worst achieved value (and which seed): a target holds only
    if it holds on every seed. Rows are matched by position (same declaration, same order)."""
    out = []
    for i, row in enumerate(rows_per_seed[0]):
        column = [rows[i] for rows in rows_per_seed]
        bad = [k for k, r in enumerate(column) if not r["passed"]]
        # "worse" is the direction that fails: lower for >= targets, higher for <= ones
        lower_is_worse = row["op"] in (">=", ">") if "against" not in row else row["op"] == ">="
        values = [r["achieved"] if _finite(r["achieved"]) else math.nan for r in column]
        if bad:
            k = bad[0]
        else:
            k = min(range(len(values)), key=lambda j: values[j] if lower_is_worse else -values[j])
        out.append({**row, "achieved": column[k]["achieved"], "worst_seed": seeds[k],
                    "passed": not bad, "values": values})
    return out
