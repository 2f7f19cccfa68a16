"""Lesson configs: `--set key=value` strings turned into typed values, and the range checks that
every Config runs in its `__post_init__`.

A Config is a plain dataclass whose defaults are the full profile. Its `__post_init__` calls the
checks below, so a bad value is refused in one place whichever way it arrives (the command line,
the Python API, a resumed config.json):

    @dataclass
    class Config:
        epochs: int = 1000
        lr: float = 0.03
        noise: float = 0.2

        def __post_init__(self):
            positive(self, "epochs", "lr")
            at_least(self, 0, "noise")
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from typing import Any

from dlcourse.errors import UsageError

# --- range checks, called from each Config's __post_init__ ----------------------------------------

def positive(cfg, *names: str) -> None:
    """Each named field must be > 0 (a count, a size, a learning rate)."""
    for name in names:
        value = getattr(cfg, name)
        if not _number(value) or not value > 0:
            raise UsageError(f"{name} must be positive, got {value!r}")


def at_least(cfg, low: float, *names: str) -> None:
    for name in names:
        value = getattr(cfg, name)
        if not _number(value) or not value >= low:
            raise UsageError(f"{name} must be at least {low}, got {value!r}")


def in_range(cfg, name: str, low: float, high: float, *, closed: str = "[]") -> None:
    """low < value < high, with "[" / "]" making that end inclusive: in_range(c, "p", 0, 1, closed="(]")."""
    value = getattr(cfg, name)
    lo_ok = value >= low if closed[0] == "[" else value > low
    hi_ok = value <= high if closed[1] == "]" else value < high
    if not _number(value) or not (lo_ok and hi_ok):
        raise UsageError(f"{name} must be in {closed[0]}{low:g}, {high:g}{closed[1]}, got {value!r}")


def require(condition: bool, message: str) -> None:
    """Any other rule between fields ("max_len ≥ min_len + 3")."""
    if not condition:
        raise UsageError(message)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


# --- overrides: "--set key=value" checked against the config dataclass ----------------------------

def field_types(config: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config)
    return {f.name: hints[f.name] for f in dataclasses.fields(config)}


def describe(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _convert(text: str, tp: Any) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if text.lower() in ("none", "null", ""):
            return None
        return _convert(text, args[0])
    if origin in (tuple, list):
        (inner, *_) = typing.get_args(tp) or (str,)
        items = [s.strip() for s in text.strip("()[] ").split(",") if s.strip()]
        return origin(_convert(s, inner) for s in items)
    if origin is typing.Literal:
        allowed = typing.get_args(tp)
        if text not in allowed:
            raise ValueError(f"one of {', '.join(map(str, allowed))}")
        return text
    if tp is bool:
        lowered = text.lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise ValueError("true or false")
    if tp is int:
        return int(text)
    if tp is float:
        value = float(text)
        if not math.isfinite(value):  # nan and inf pass float() but no lesson can use them
            raise ValueError("a finite number")
        return value
    return text


def _check_type(key: str, value: Any, tp: Any) -> Any:
    """A value that arrived already typed (Python API, a resumed config.json) must still fit."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        return _check_type(key, value, [a for a in typing.get_args(tp) if a is not type(None)][0])
    if origin in (tuple, list) and isinstance(value, (list, tuple)):
        (inner, *_) = typing.get_args(tp) or (str,)
        return origin(_check_type(key, v, inner) for v in value)
    if origin is typing.Literal:
        if value not in typing.get_args(tp):
            raise UsageError(f"bad value {value!r} for config key {key!r}: expected one of "
                             f"{', '.join(map(str, typing.get_args(tp)))}")
        return value
    ok = {bool: isinstance(value, bool), int: isinstance(value, int) and not isinstance(value, bool),
          float: isinstance(value, (int, float)) and not isinstance(value, bool), str: isinstance(value, str)}
    if tp in ok and not ok[tp]:
        raise UsageError(f"bad value {value!r} for config key {key!r}: expected {describe(tp)}")
    if tp is float:
        if not math.isfinite(value):
            raise UsageError(f"bad value {value!r} for config key {key!r}: expected a finite number")
        return float(value)
    return value


def parse_overrides(config: type, overrides: dict[str, Any]) -> dict[str, Any]:
    """Strings from the command line → typed values; unknown keys and bad values are UsageErrors."""
    fields = field_types(config)
    out = {}
    for key, text in overrides.items():
        if key not in fields:
            allowed = ", ".join(f"{k} ({describe(t)})" for k, t in fields.items())
            hint = difflib.get_close_matches(key, fields, n=1)
            maybe = f" Did you mean {hint[0]!r}?" if hint else ""
            raise UsageError(f"unknown config key {key!r}.{maybe} Allowed keys: {allowed}")
        if not isinstance(text, str) or fields[key] is str:
            out[key] = _check_type(key, text, fields[key])
            continue
        try:
            out[key] = _convert(text, fields[key])
        except ValueError as e:
            tp = fields[key]
            expected = str(e) if typing.get_origin(tp) is typing.Literal or tp in (bool, float) else describe(tp)
            if tp is float and "finite" not in str(e):
                expected = "float"
            raise UsageError(f"bad value {text!r} for config key {key!r}: expected {expected}") from None
    return out


def make(config: type, values: dict[str, Any]):
    """config(**values), with a Config's own range checks turned into UsageErrors that name it."""
    try:
        return config(**values)
    except TypeError as e:  # a key the dataclass does not know (a hand-edited config.json)
        raise UsageError(f"bad configuration: {e}") from None
