"""Config overrides and target checks: the rules the CLI relies on."""

import dataclasses
from typing import Literal

import pytest

from dlcourse import registry
from dlcourse.config import parse_overrides
from dlcourse.errors import UsageError
from dlcourse.targets import check_controls, check_targets, validate, worst


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
    with pytest.raises(UsageError, match="spiral"):
        registry.info("spir")


def test_quick_overrides_and_profiles():
    exp = registry.get("spiral")
    assert exp.make_config("quick").epochs < exp.make_config("full").epochs
    with pytest.raises(UsageError):
        exp.make_config("medium")


def test_a_control_must_miss_its_target_by_the_margin():
    targets = {"relu/acc": (">=", 0.9), "err": ("<=", 1e-6)}
    controls = {"linear/acc": ("relu/acc", 0.3), "wrong/err": ("err", 1e-3)}
    rows = check_controls(controls, targets, {"linear/acc": 0.55, "wrong/err": 0.5})
    assert [(r["op"], r["bound"], r["passed"]) for r in rows] == [("<=", pytest.approx(0.6), True),
                                                                   (">=", pytest.approx(1e-3 + 1e-6), True)]
    rows = check_controls(controls, targets, {"linear/acc": 0.65, "wrong/err": 1e-5})
    assert [r["passed"] for r in rows] == [False, False]  # too close to the target: the check proves nothing
    assert not check_controls(controls, targets, {})[0]["passed"]  # a control that did not run fails


def test_declarations_are_checked():
    with pytest.raises(ValueError, match="not a full target"):
        validate("x", {"full": {"a": (">=", 1)}}, {"full": {"b": ("nope", 0.1)}})
    with pytest.raises(ValueError, match="both a target and a control"):
        validate("x", {"full": {"a": (">=", 1)}}, {"full": {"a": ("a", 0.1)}})
    with pytest.raises(ValueError, match="op"):
        validate("x", {"full": {"a": ("~", 1)}}, {})


def test_worst_seed_decides():
    rows = [check_targets({"a": (">=", 0.9)}, {"a": v}) for v in (0.95, 0.91, 0.97)]
    (row,) = worst(rows, [0, 1, 2])
    assert row["passed"] and row["achieved"] == 0.91 and row["worst_seed"] == 1
    rows.append(check_targets({"a": (">=", 0.9)}, {"a": 0.5}))
    (row,) = worst(rows, [0, 1, 2, 3])
    assert not row["passed"] and row["worst_seed"] == 3


def test_nan_and_infinite_overrides_are_refused():
    with pytest.raises(UsageError, match="finite"):
        parse_overrides(Cfg, {"lr": "nan"})
    with pytest.raises(UsageError, match="finite"):
        parse_overrides(Cfg, {"lr": "inf"})
    with pytest.raises(UsageError, match="expected int"):
        parse_overrides(Cfg, {"epochs": "abc"})
    with pytest.raises(UsageError, match="expected int"):
        parse_overrides(Cfg, {"epochs": True})  # a typed value from a hand-edited config.json


def test_the_source_declaration_equals_the_registered_one():
    """What `list` reads without importing a lesson is exactly what the lesson registers."""
    for lesson in registry.lessons():
        exp = registry.get(lesson.name)
        for field in ("name", "title", "track", "parts", "sources", "quick", "targets", "controls",
                      "budget_s", "threads", "module"):
            assert getattr(lesson, field) == getattr(exp, field), (lesson.name, field)
    assert registry.declaration_errors() == ()


def test_a_broken_declaration_leaves_out_one_lesson_only(tmp_path, monkeypatch):
    (tmp_path / "broken.py").write_text("from dlcourse.registry import experiment\n"
                                        "@experiment(name='broken', title=f'{1}')\ndef run(cfg, run): pass\n")
    monkeypatch.setenv("DLCOURSE_LESSONS_PATH", str(tmp_path))
    names = [lesson.name for lesson in registry.lessons()]
    assert "spiral" in names and "broken" not in names
    assert any("broken.py" in e for e in registry.declaration_errors())


def test_config_fields_are_read_without_importing():
    fields = {k: (t, d) for k, t, d in registry.config_fields("spiral")}
    assert fields["epochs"][0] == "int" and fields["lr"][0] == "float"
