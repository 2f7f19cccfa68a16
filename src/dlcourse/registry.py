"""How lessons register and are found.

A lesson is one module in `dlcourse.experiments` that decorates its `run(cfg, run)` function with
`@experiment(...)`. Importing the package's modules is all the discovery there is: no entry points,
no config files. Each experiment declares its targets per profile as data, so the CLI, the tests and
the report can all check them the same way.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import pkgutil
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable

OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}
PROFILES = ("full", "quick")


class UsageError(Exception):
    """A mistake in what the user asked for (bad name, key, value or path): exit code 2, no traceback."""


@dataclass(frozen=True)
class Experiment:
    name: str
    week: int
    sources: tuple[str, ...]
    title: str  # English; it is also the gettext msgid of the translated title
    config: type  # a dataclass whose defaults are the full profile
    quick: dict[str, Any]  # overrides that make the quick profile
    targets: dict[str, dict[str, tuple[str, float]]]  # profile -> {metric: (op, value)}
    run: Callable[[Any, Any], dict[str, float]]
    budget_s: float = 60.0  # full-profile wall-clock budget on a 2-core CPU
    threads: int = 1  # PyTorch CPU threads: small models run fastest on one (no sync cost)
    module: str = ""

    def make_config(self, profile: str = "full", overrides: dict[str, str] | None = None):
        """The resolved config: dataclass defaults, then the quick overrides, then the user's --set."""
        if profile not in PROFILES:
            raise UsageError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
        values = dict(self.quick) if profile == "quick" else {}
        values.update(parse_overrides(self.config, overrides or {}))
        return self.config(**values)


def check_targets(targets: dict[str, tuple[str, float]], metrics: dict[str, float]) -> list[dict]:
    """One row per target: the achieved value and whether it passed. A missing metric fails."""
    rows = []
    for metric, (op, value) in targets.items():
        achieved = metrics.get(metric)
        passed = achieved is not None and achieved == achieved and OPS[op](achieved, value)
        rows.append({"metric": metric, "op": op, "target": value, "achieved": achieved, "passed": bool(passed)})
    return rows


# --- overrides: "--set key=value" checked against the config dataclass --------------------------

def _field_types(config: type) -> dict[str, Any]:
    hints = typing.get_type_hints(config)
    return {f.name: hints[f.name] for f in dataclasses.fields(config)}


def _describe(tp: Any) -> str:
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
        return float(text)
    return text


def parse_overrides(config: type, overrides: dict[str, str]) -> dict[str, Any]:
    """Strings from the command line → typed values; unknown keys and bad values are UsageErrors."""
    fields = _field_types(config)
    out = {}
    for key, text in overrides.items():
        if key not in fields:
            allowed = ", ".join(f"{k} ({_describe(t)})" for k, t in fields.items())
            hint = difflib.get_close_matches(key, fields, n=1)
            maybe = f" Did you mean {hint[0]!r}?" if hint else ""
            raise UsageError(f"unknown config key {key!r}.{maybe} Allowed keys: {allowed}")
        if not isinstance(text, str):  # already typed (from the Python API or a resumed config.json)
            out[key] = text
            continue
        try:
            out[key] = _convert(text, fields[key])
        except ValueError as e:
            expected = str(e) if typing.get_origin(fields[key]) is typing.Literal or fields[key] is bool \
                else _describe(fields[key])
            raise UsageError(f"bad value {text!r} for config key {key!r}: expected {expected}") from None
    return out


# --- the registry -------------------------------------------------------------------------------

_REGISTRY: dict[str, Experiment] = {}


def experiment(*, name: str, config: type, quick: dict[str, Any],
               targets: dict[str, dict[str, tuple[str, float]]], budget_s: float = 60.0, threads: int = 1):
    """Decorator for a lesson's `run(cfg, run) -> metrics` function.

    The week, the course sources and the title come from the syllabus (`dlcourse.syllabus`), the one
    place that maps the course to its lessons.
    """
    from dlcourse import syllabus

    lesson = syllabus.lesson(name)
    week, sources, title = lesson.week, lesson.sources, lesson.title
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{name}: config must be a dataclass")
    for profile in PROFILES:
        for metric, (op, _) in targets.get(profile, {}).items():
            if op not in OPS:
                raise ValueError(f"{name}: target {metric} uses unknown operator {op!r}")
    parse_overrides(config, quick)  # a typo in the quick overrides fails at import, not at run time

    def register(fn):
        if name in _REGISTRY and _REGISTRY[name].module != fn.__module__:
            raise ValueError(f"experiment {name!r} registered twice")
        _REGISTRY[name] = Experiment(name, week, tuple(sources), title, config, dict(quick),
                                     {p: dict(targets.get(p, {})) for p in PROFILES}, fn, budget_s,
                                     threads, fn.__module__)
        return fn

    return register


def _discover() -> None:
    import dlcourse.experiments as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{pkg.__name__}.{info.name}")


def all_experiments() -> list[Experiment]:
    """Every registered lesson, ordered by week then name."""
    _discover()
    return sorted(_REGISTRY.values(), key=lambda e: (e.week, e.name))


def get(name: str) -> Experiment:
    _discover()
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, _REGISTRY, n=3, cutoff=0.4)
        if not close:  # prefixes and substrings help with long names ("spir" -> "spiral")
            close = [n for n in sorted(_REGISTRY) if name.lower() in n][:3]
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise UsageError(f"no experiment named {name!r}.{hint} Run 'dlcourse list' to see them all.")
    return _REGISTRY[name]
