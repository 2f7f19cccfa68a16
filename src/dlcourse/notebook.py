"""Jupyter notebooks made from the lessons' own code, so that the two cannot drift apart.

A lesson function is written in steps marked `# %% Title` (see docs/LESSONS.md). The notebook of a
lesson is, in order: the lesson's text as Markdown; one cell with the lesson module's own code
(imports, helpers, the Config class); a cell that makes `cfg` (the quick profile) and `run` (a run
directory whose figures also show inline); one cell per step of the lesson function; and a last
cell that checks the targets and controls, which fails loudly if a target is missed.

    dlcourse notebook spiral --lang ja --out notebooks/
    dlcourse notebook --all --out notebooks/

The file is plain nbformat 4 JSON, written without the nbformat package.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

from dlcourse import lessontext, registry
from dlcourse.errors import UsageError
from dlcourse.files import atomic_write

CELL = re.compile(r"^# %%(?:\s+(.*))?$")


def _markdown(source: str) -> dict:
    return {"cell_type": "markdown", "metadata": {}, "source": source.strip("\n").splitlines(keepends=True)}


def _code(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [],
            "source": source.strip("\n").splitlines(keepends=True)}


def _lesson_function(tree: ast.Module) -> ast.FunctionDef:
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and any(
                isinstance(d, ast.Call) and getattr(d.func, "id", None) == "experiment" for d in node.decorator_list):
            return node
    raise ValueError("no function decorated with @experiment")


def _top_level_returns(fn: ast.FunctionDef) -> list[ast.Return]:
    """Return statements of `fn` itself, not of the functions defined inside it."""
    found, todo = [], list(fn.body)
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Return):
            found.append(node)
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            todo.extend(ast.iter_child_nodes(node))
    return found


def split(source: str) -> tuple[str, list[tuple[str, str]]]:
    """(module code without its docstring and the lesson function, [(step title, step code)])."""
    tree = ast.parse(source)
    fn = _lesson_function(tree)
    lines = source.splitlines()
    last = fn.body[-1]
    if not isinstance(last, ast.Return) or _top_level_returns(fn) != [last] or last.value is None:
        raise ValueError(f"{fn.name}() must end with its only return statement (the metrics)")
    body = fn.body[1:] if isinstance(fn.body[0], ast.Expr) and isinstance(fn.body[0].value, ast.Constant) else fn.body
    start = body[0].lineno - 1
    while start - 1 >= fn.lineno and (not lines[start - 1].strip() or lines[start - 1].strip().startswith("#")) \
            and not lines[start - 1].rstrip().endswith(":"):
        start -= 1  # comments just above the first statement belong to the body
    body_lines = textwrap.dedent("\n".join(line if line.strip() else "" for line in lines[start:fn.end_lineno]))
    body_lines = body_lines.splitlines()
    ret = last.lineno - 1 - start
    body_lines[ret] = re.sub(r"^return\b", "metrics =", body_lines[ret])
    steps, title, chunk = [], "", []
    for line in body_lines:
        m = CELL.match(line)
        if m:
            if any(x.strip() for x in chunk):
                steps.append((title, "\n".join(chunk)))
            title, chunk = (m.group(1) or "").strip(), []
        else:
            chunk.append(line)
    if any(x.strip() for x in chunk):
        steps.append((title, "\n".join(chunk)))
    # The module without its docstring and without the decorated lesson function.
    first = fn.decorator_list[0].lineno - 1 if fn.decorator_list else fn.lineno - 1
    doc_end = tree.body[0].end_lineno if isinstance(tree.body[0], ast.Expr) and \
        isinstance(tree.body[0].value, ast.Constant) else 0
    module = "\n".join(lines[doc_end:first] + lines[fn.end_lineno:]).strip("\n")
    return module, steps


def build(name: str, lang: str = "en") -> dict:
    lesson = registry.info(name)
    module, steps = split(lesson.path.read_text(encoding="utf-8"))
    from dlcourse.i18n import _, set_language, get_language

    previous = get_language()
    set_language(lang)
    try:
        title = _(lesson.title)
        cells = [_markdown(f"# {title}\n\n`{name}` · {', '.join(lesson.parts)} · "
                           f"{_('this notebook is generated from')} `src/dlcourse/experiments/{name}.py`")]
        text = lessontext.load(name, lang)
        if text is not None:
            for key, heading, body in zip(lessontext.SECTIONS, text.headings, text.bodies):
                if key == "source":
                    body += "\n\n" + "\n".join(f"- [{label}]({url})" if url else f"- {label}"
                                               for label, url in lessontext.source_links(lesson, lang))
                cells.append(_markdown(f"## {heading}\n\n{body}"))
        cells.append(_markdown(f"## {_('The code')}\n\n{_('The lesson module: imports, helpers and its Config.')}"))
        cells.append(_code("%matplotlib inline\n" + module))
        quick = ", ".join(f"{k}={v!r}" for k, v in lesson.quick.items())
        cells.append(_code(
            f"from dlcourse.notebook import start\n\n"
            f"cfg = Config({quick})  # {_('the quick profile; Config() is the full lesson')}\n"
            f"run = start({name!r}, cfg)  # {_('a run directory; its figures also show here')}"))
        for step_title, code in steps:
            if step_title:
                cells.append(_markdown(f"### {step_title}"))
            cells.append(_code(code))
        cells.append(_markdown(f"## {_('Check')}\n\n{_('Every target met, every control missing its target.')}"))
        cells.append(_code("run.check(metrics)"))
    finally:
        set_language(previous)
    for i, cell in enumerate(cells):
        cell["id"] = f"{name}-{i}"
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                         "language_info": {"name": "python"}, "dlcourse": {"lesson": name, "lang": lang}}}


def write(name: str, out: Path, lang: str = "en") -> Path:
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UsageError(f"cannot create {out}: {e.strerror}") from None
    path = out / (f"{name}.ipynb" if lang == "en" else f"{name}.{lang}.ipynb")
    try:
        atomic_write(path, json.dumps(build(name, lang), indent=1, ensure_ascii=False) + "\n")
    except PermissionError:
        raise UsageError(f"cannot write {path}: permission denied") from None
    return path


# --- what the notebook calls -----------------------------------------------------------------------

def start(name: str, cfg, seed: int = 0, out: str | Path = "runs", device: str = "cpu"):
    """The `run` of a notebook: a real run directory (manifest, metrics, checkpoints, figures) whose
    figures are also shown inline, seeded and with the lesson's thread count as `dlcourse run` does."""
    import torch

    from dlcourse.runs import Run, seed_everything

    lesson = registry.info(name)
    torch.set_num_threads(lesson.threads)
    seed_everything(seed)
    profile = "quick" if all(getattr(cfg, k) == v for k, v in lesson.quick.items()) and lesson.quick else "full"
    run = Run.create(out, name, profile, cfg, seed, device)
    run.inline = True
    run.quiet = True
    print(f"run directory: {run.dir}")
    return run
