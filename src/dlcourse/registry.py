"""How lessons register and are found.

A lesson is one module in `dlcourse.experiments` whose `run(cfg, run)` function is decorated with
`@experiment(...)`: its name, title, course parts and sources, config, targets, controls and budget,
all written as literals. Two ways to read them:

- `lessons()` / `info(name)` read the decorators' source without importing the lessons (no torch):
  what `list`, `syllabus`, `show` and `report` need, in milliseconds.
- `get(name)` imports the lesson and returns the `Experiment` that can run.

A test checks that both agree. A lesson whose declaration cannot be read is reported by name and left
out; it does not stop the other lessons.

More lessons can live outside the package: DLCOURSE_LESSONS_PATH names folders (separated by ":")
whose `*.py` files are lessons too (the tests keep a small lesson of their own there).
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import importlib
import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from dlcourse import config as _config
from dlcourse.errors import UsageError
from dlcourse.targets import PROFILES, validate

EXPERIMENTS_DIR = Path(__file__).resolve().parent / "experiments"
TRACKS = {"A": "foundations", "B": "vision", "C": "sequences, language, graphs",
          "D": "energy-based, generative, self-supervised, control"}


@dataclass(frozen=True)
class Lesson:
    """What is known of a lesson without running it."""

    name: str
    title: str  # English; also the gettext msgid of the translated title
    track: str  # A, B, C or D
    parts: tuple[str, ...]  # the course parts it implements ("02-3"): what maps weeks to lessons
    sources: tuple[str, ...]  # lecture notes "02-3", notebooks "nb04", "extra/a", decks "tokyo", "slides"
    quick: dict[str, Any]  # config overrides that make the quick profile
    targets: dict[str, dict[str, tuple[str, float]]]  # profile -> {metric: (op, value)}
    controls: dict[str, dict[str, tuple[str, float]]]  # profile -> {metric: (target metric, margin)}
    budget_s: float = 60.0  # full-profile wall-clock budget on one CPU thread
    threads: int = 1  # small models run fastest on one thread (no sync cost), and results depend on it
    module: str = ""

    @property
    def week(self) -> int:
        return int(self.parts[0][:2])

    path: Path = EXPERIMENTS_DIR


@dataclass(frozen=True)
class Experiment(Lesson):
    """A lesson imported and ready to run."""

    config: type = object  # a dataclass whose defaults are the full profile
    run: Callable[[Any, Any], dict[str, float]] = print

    def make_config(self, profile: str = "full", overrides: dict[str, Any] | None = None):
        """The resolved config: dataclass defaults, then the quick overrides, then the user's --set."""
        if profile not in PROFILES:
            raise UsageError(f"unknown profile {profile!r}; use one of {', '.join(PROFILES)}")
        values = dict(self.quick) if profile == "quick" else {}
        values.update(_config.parse_overrides(self.config, overrides or {}))
        return _config.make(self.config, values)


_DECLARED = ("name", "title", "track", "parts", "sources", "quick", "targets", "controls", "budget_s", "threads")


def _normalise(meta: dict, module: str) -> dict:
    """Check a declaration and put it in the one shape both readers produce."""
    name = meta.get("name", "?")
    missing = {"name", "title", "track", "parts", "sources", "quick", "targets", "controls"} - meta.keys()
    if missing:
        raise ValueError(f"{name}: @experiment lacks {', '.join(sorted(missing))}")
    if meta["track"] not in TRACKS:
        raise ValueError(f"{name}: track must be one of {', '.join(TRACKS)}")
    parts = tuple(meta["parts"])
    if not parts or not all(isinstance(p, str) and len(p) == 4 and p[:2].isdigit() and p[2] == "-" for p in parts):
        raise ValueError(f"{name}: parts must be course part ids such as '02-3'")
    targets = {p: {m: tuple(v) for m, v in meta["targets"].get(p, {}).items()} for p in PROFILES}
    controls = {p: {m: tuple(v) for m, v in meta["controls"].get(p, {}).items()} for p in PROFILES}
    validate(name, targets, controls)
    return {**meta, "parts": parts, "sources": tuple(meta["sources"]), "quick": dict(meta["quick"]),
            "targets": targets, "controls": controls, "module": module}


# --- reading the declarations without importing ---------------------------------------------------

def _literal(node: ast.AST) -> Any:
    """ast.literal_eval, plus dict(k=v) calls and arithmetic on numbers (1e-3 * 2)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" \
            and not node.args and all(k.arg for k in node.keywords):
        return {k.arg: _literal(k.value) for k in node.keywords}
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:
                out.update(_literal(v))
            else:
                out[_literal(k)] = _literal(v)
        return out
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_literal(e) for e in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow)):
        return _arith(node.op, _literal(node.left), _literal(node.right))
    return ast.literal_eval(node)


def _arith(op: ast.operator, a, b):
    if not all(isinstance(x, (int, float)) for x in (a, b)):
        raise ValueError("arithmetic on numbers only")
    return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
            ast.Div: lambda: a / b, ast.Pow: lambda: a ** b}[type(op)]()


def _decorator(tree: ast.Module) -> tuple[ast.Call, str | None] | None:
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for d in node.decorator_list:
                if isinstance(d, ast.Call) and getattr(d.func, "id", getattr(d.func, "attr", None)) == "experiment":
                    return d, node.name
    return None


def read_declaration(path: Path) -> dict:
    """The @experiment(...) keywords of a lesson file, as data (`config` as the class's name)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    found = _decorator(tree)
    if found is None:
        raise ValueError(f"{path.name}: no @experiment(...) on a function")
    meta = {}
    for kw in found[0].keywords:
        if kw.arg == "config":
            meta["config"] = ast.unparse(kw.value)
        elif kw.arg in _DECLARED:
            try:
                meta[kw.arg] = _literal(kw.value)
            except (ValueError, TypeError, SyntaxError):
                raise ValueError(f"{path.name}: @experiment({kw.arg}=...) must be written as a literal") from None
        else:
            raise ValueError(f"{path.name}: @experiment got an unknown keyword {kw.arg!r}")
    meta["docstring"] = ast.get_docstring(tree) or ""
    return meta


def _lesson_files() -> list[tuple[Path, str]]:
    """(file, module name) of every lesson: the package's own, then DLCOURSE_LESSONS_PATH's."""
    files = [(p, f"dlcourse.experiments.{p.stem}") for p in sorted(EXPERIMENTS_DIR.glob("*.py"))]
    for folder in filter(None, os.environ.get("DLCOURSE_LESSONS_PATH", "").split(os.pathsep)):
        files += [(p, f"dlcourse_lessons.{p.stem}") for p in sorted(Path(folder).glob("*.py"))]
    return [(p, m) for p, m in files if not p.name.startswith("_")]


@functools.lru_cache(maxsize=4)
def _index(path_setting: str | None = None) -> tuple[dict[str, Lesson], tuple[str, ...]]:
    lessons, broken = {}, []
    for path, module in _lesson_files():
        try:
            meta = read_declaration(path)
            norm = {**_normalise(meta, module), "path": path}
            if norm["name"] != path.stem:
                raise ValueError(f"{path.name}: declares name {norm['name']!r}; one lesson per file, named after it")
            if norm["name"] in lessons:
                raise ValueError(f"{path}: a lesson named {norm['name']!r} exists already")
            lessons[norm["name"]] = Lesson(**{k: v for k, v in norm.items() if k in _FIELDS})
        except (ValueError, SyntaxError, OSError) as e:
            broken.append(str(e))
    return dict(sorted(lessons.items(), key=lambda kv: (kv[1].week, kv[0]))), tuple(broken)


_FIELDS = {f.name for f in dataclasses.fields(Lesson)}


def _current_index():
    return _index(os.environ.get("DLCOURSE_LESSONS_PATH"))


def lessons() -> list[Lesson]:
    """Every lesson, ordered by week then name, read without importing any of them."""
    index, broken = _current_index()
    for message in broken:
        print(f"dlcourse: warning: a lesson is left out: {message}", file=sys.stderr)
    return list(index.values())


def declaration_errors() -> tuple[str, ...]:
    return _current_index()[1]


def info(name: str) -> Lesson:
    index, _ = _current_index()
    if name not in index:
        close = difflib.get_close_matches(name, index, n=3, cutoff=0.4)
        if not close:  # prefixes and substrings help with long names ("spir" -> "spiral")
            close = [n for n in index if name.lower() in n][:3]
        hint = f" Closest: {', '.join(close)}." if close else ""
        raise UsageError(f"no lesson named {name!r}.{hint} Run 'dlcourse list' to see them all.")
    return index[name]


def config_fields(name: str) -> list[tuple[str, str, str]]:
    """(key, type, default) of a lesson's Config, read from its source (no import)."""
    lesson = info(name)
    tree = ast.parse(lesson.path.read_text(encoding="utf-8"))
    class_name = read_declaration(lesson.path).get("config", "Config")
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == class_name:
            return [(st.target.id, ast.unparse(st.annotation), ast.unparse(st.value) if st.value else "")
                    for st in node.body if isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)]
    return []


# --- registering on import ------------------------------------------------------------------------

_REGISTRY: dict[str, Experiment] = {}


def experiment(*, name: str, title: str, track: str, parts: tuple[str, ...], sources: tuple[str, ...],
               config: type, quick: dict[str, Any], targets: dict, controls: dict,
               budget_s: float = 60.0, threads: int = 1):
    """Decorator for a lesson's `run(cfg, run) -> metrics`. Write every argument but `config` as a
    literal: the CLI reads them from the source without importing the lesson."""
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{name}: config must be a dataclass")

    def register(fn):
        meta = _normalise(dict(name=name, title=title, track=track, parts=parts, sources=sources, quick=quick,
                               targets=targets, controls=controls, budget_s=budget_s, threads=threads),
                          fn.__module__)
        meta["path"] = Path(sys.modules[fn.__module__].__file__).resolve()
        _config.parse_overrides(config, meta["quick"])  # a typo in the quick overrides fails here
        if name in _REGISTRY and _REGISTRY[name].module != fn.__module__:
            raise ValueError(f"experiment {name!r} registered twice")
        _REGISTRY[name] = Experiment(**{k: v for k, v in meta.items() if k in _FIELDS}, config=config, run=fn)
        return fn

    return register


def get(name: str) -> Experiment:
    """The lesson, imported. An error in the lesson's module is that lesson's failure only."""
    lesson = info(name)
    if name not in _REGISTRY:
        if lesson.module.startswith("dlcourse.experiments."):
            importlib.import_module(lesson.module)
        else:  # a lesson from DLCOURSE_LESSONS_PATH: imported from its file
            spec = importlib.util.spec_from_file_location(lesson.module, lesson.path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[lesson.module] = module
            spec.loader.exec_module(module)
    if name not in _REGISTRY:
        raise UsageError(f"{lesson.module} does not register a lesson named {name!r}")
    return _REGISTRY[name]


def all_experiments() -> list[Experiment]:
    """Every lesson, imported, ordered by week then name."""
    return [get(lesson.name) for lesson in lessons()]
