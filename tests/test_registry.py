"""Config overrides and target checks: the rules the CLI relies on."""

import dataclasses
from typing import Literal

import pytest

from dlcourse import registry
from dlcourse.registry import UsageError, check_targets, parse_overrides


@dataclasses.dataclass
class Cfg:
    epochs: int = 10
    lr: float = 0.1
    amp: bool = False
    name: str = "x"
    kind: Literal["a", "b"] = "a"
    widths: tuple[int, ...] = (8, 8)
    limit: float | None = None


def test_values_are_converted_to_the_declared_types():
    out = parse_overrides(Cfg, {"epochs": "3", "lr": "1e-3", "amp": "yes", "name": "y", "kind": "b",
                                "widths": "4,5,6", "limit": "none"})
    assert out == {"epochs": 3, "lr": 1e-3, "amp": True, "name": "y", "kind": "b", "widths": (4, 5, 6),
                   "limit": None}
    assert parse_overrides(Cfg, {"limit": "0.5"}) == {"limit": 0.5}


@pytest.mark.parametrize("key,value,fragment", [
    ("epoch", "3", "Did you mean 'epochs'"), ("epochs", "3.5", "expected int"),
    ("amp", "maybe", "true or false"), ("kind", "c", "one of a, b"), ("widths", "4,x", "widths"),
])
def test_bad_overrides_are_usage_errors(key, value, fragment):
    with pytest.raises(UsageError, match=fragment):
        parse_overrides(Cfg, {key: value})


def test_targets_pass_fail_and_missing_metrics():
    rows = check_targets({"a": (">=", 0.9), "b": ("<=", 0.1), "c": ("==", 0), "d": (">=", 0)},
                         {"a": 0.95, "b": 0.2, "c": 0.0, "e": 1.0})
    assert [r["passed"] for r in rows] == [True, False, True, False]
    assert not check_targets({"a": (">=", 0)}, {"a": float("nan")})[0]["passed"]


def test_unknown_experiment_suggests_close_names():
    with pytest.raises(UsageError, match="spiral"):
        registry.get("spirl")


def test_quick_overrides_and_profiles():
    exp = registry.get("spiral")
    assert exp.make_config("quick").epochs < exp.make_config("full").epochs
    with pytest.raises(UsageError):
        exp.make_config("medium")
