"""The HTML report: one self-contained page (figures embedded, no external assets, no network).

The syllabus by week in the chosen language; for each lesson its title, source lectures, targets with
achieved values and pass/fail, the metric curves of metrics.jsonl, the lesson's own figures and the
run's manifest. Readable on a phone: one column, images scale down.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import sys
from collections import defaultdict
from pathlib import Path

from dlcourse import registry, syllabus
from dlcourse.errors import UsageError
from dlcourse.files import atomic_write
from dlcourse.i18n import _, get_language

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK JP","Noto Sans",sans-serif;margin:0;
 background:#f6f7f9;color:#1d2330;line-height:1.45}
main{max-width:1100px;margin:0 auto;padding:1rem}
h1{font-size:1.6rem;margin:.5rem 0}h2{margin-top:2rem;border-bottom:2px solid #d6dae2}
.summary{display:flex;gap:1rem;flex-wrap:wrap}.stat{background:#fff;border-radius:8px;padding:.6rem 1rem;
 box-shadow:0 1px 2px #0001}.stat b{font-size:1.4rem;display:block}
.item{color:#555;margin:.2rem 0}
.lesson{background:#fff;border-radius:10px;padding:1rem;margin:1rem 0;box-shadow:0 1px 3px #0002}
.lesson h3{margin:.1rem 0 .4rem}.meta{color:#666;font-size:.85rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem;max-width:100%}
td,th{border-bottom:1px solid #e3e6eb;padding:.25rem .6rem;text-align:left}
.pass{color:#127a2e;font-weight:600}.fail{color:#b3261e;font-weight:600}.todo{color:#888}
.figs{display:flex;flex-wrap:wrap;gap:.6rem}.figs figure{margin:0;flex:1 1 320px;max-width:100%}
.figs img{max-width:100%;height:auto;border:1px solid #eee;border-radius:4px}
figcaption{font-size:.8rem;color:#666}
.curves{display:flex;flex-wrap:wrap;gap:.4rem}.curve{margin:0;flex:0 1 260px}.curve svg{width:100%;height:auto;
 background:#fafbfc;border:1px solid #eee;border-radius:4px}.curve .t{font-size:10px;fill:#333}.curve .a{font-size:8px;fill:#777}
details{margin-top:.5rem}pre{white-space:pre-wrap;word-break:break-word;font-size:.8rem;background:#f3f4f6;
 padding:.5rem;border-radius:6px}
.scroll{overflow-x:auto}
@media (max-width:600px){main{padding:.5rem}h1{font-size:1.3rem}td,th{padding:.2rem .3rem}}
"""


def latest_runs(root: Path) -> list[Path]:
    """The newest finished run directory of every lesson under `root`."""
    out = []
    for lesson_dir in sorted(p for p in Path(root).glob("*") if p.is_dir()):
        finished = [d for d in sorted(lesson_dir.iterdir()) if (d / "summary.json").is_file()]
        if finished:
            out.append(finished[-1])
    return out


def _warn(message: str) -> None:
    print(f"dlcourse: warning: {message}", file=sys.stderr)


def _number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _valid_rows(rows, keys) -> bool:
    return isinstance(rows, list) and all(isinstance(r, dict) and keys <= r.keys() for r in rows)


def read_summary(run_dir: Path) -> dict | None:
    """summary.json of a run, checked: a file that is not what a run writes (hand-edited, from
    another program, damaged) is skipped with a warning instead of breaking `list` or `report`."""
    path = Path(run_dir) / "summary.json"
    try:
        s = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        _warn(f"skipping {run_dir}: summary.json unreadable ({e})")
        return None
    ok = (isinstance(s, dict) and isinstance(s.get("experiment"), str) and isinstance(s.get("profile"), str)
          and isinstance(s.get("passed"), bool) and _number(s.get("seconds"))
          and isinstance(s.get("status"), str) and isinstance(s.get("metrics", {}), dict)
          and all(isinstance(k, str) and _number(v) for k, v in s.get("metrics", {}).items())
          and _valid_rows(s.get("targets", []), {"metric", "op", "target", "achieved", "passed"})
          and _valid_rows(s.get("controls", []), {"metric", "op", "bound", "achieved", "passed"}))
    if not ok:
        _warn(f"skipping {run_dir}: summary.json is not a dlcourse summary")
        return None
    return s


def _load(run_dir: Path) -> dict | None:
    run_dir = Path(run_dir)
    summary = read_summary(run_dir)
    if summary is None:
        return None
    try:
        manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
        if not isinstance(manifest, dict):
            raise ValueError("not an object")
    except (OSError, ValueError):
        manifest = {}
    metrics = []
    try:
        for line in (run_dir / "metrics.jsonl").read_text(encoding="utf-8").splitlines():
            try:
                p = json.loads(line)
            except ValueError:
                continue  # a line cut by a killed run
            if isinstance(p, dict) and isinstance(p.get("name"), str) and _number(p.get("step")) \
                    and _number(p.get("value")):
                metrics.append(p)
    except (OSError, UnicodeDecodeError):
        pass
    figures = sorted((run_dir / "figures").glob("*.png"))
    return {"dir": run_dir, "summary": summary, "manifest": manifest, "metrics": metrics, "figures": figures}


def _img(data: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" loading="lazy" '
            f'src="data:image/png;base64,{base64.b64encode(data).decode()}">')


def _curves_svg(points: list[dict]) -> str:
    """Small multiples drawn as inline SVG: one panel per metric, one line per phase and split.
    Plain text and numbers, no plotting library: the report is written without matplotlib."""
    series: dict[str, dict[str, list[tuple[float, float]]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        label = "/".join(str(x) for x in (p.get("phase"), p.get("split")) if x)
        if p["value"] == p["value"] and abs(p["value"]) != float("inf"):
            series[p["name"]][label].append((float(p["step"]), float(p["value"])))
    names = [n for n in series if sum(len(v) for v in series[n].values()) > 1][:6]
    colors = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f")
    panels = []
    for name in names:
        lines = series[name]
        xs = [x for pts in lines.values() for x, _ in pts]
        ys = [y for pts in lines.values() for _, y in pts]
        x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
        w, h, pad = 260, 150, 28
        sx = lambda x: pad + (x - x0) / ((x1 - x0) or 1) * (w - pad - 6)  # noqa: E731
        sy = lambda y: h - pad + 8 - (y - y0) / ((y1 - y0) or 1) * (h - pad - 4)  # noqa: E731
        body = [f'<text x="{w / 2}" y="11" text-anchor="middle" class="t">{html.escape(name)}</text>',
                f'<text x="2" y="{sy(y1) + 4:.0f}" class="a">{y1:.3g}</text>',
                f'<text x="2" y="{sy(y0):.0f}" class="a">{y0:.3g}</text>',
                f'<text x="{w - 4}" y="{h - 2}" text-anchor="end" class="a">{x1:.0f}</text>']
        legend = []
        for i, (label, pts) in enumerate(sorted(lines.items())):
            pts.sort()
            c = colors[i % len(colors)]
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)
            body.append(f'<polyline fill="none" stroke="{c}" stroke-width="1.5" points="{path}"/>')
            legend.append(f'<span style="color:{c}">■</span> {html.escape(label or name)}')
        panels.append(f'<figure class="curve"><svg viewBox="0 0 {w} {h}" role="img" '
                      f'aria-label="{html.escape(name)}">{"".join(body)}</svg>'
                      f'<figcaption>{" ".join(legend)}</figcaption></figure>')
    return "".join(panels)


def _fmt(v) -> str:
    if v is None:
        return "-"
    return f"{v:.4g}" if isinstance(v, float) else html.escape(str(v))


def _check_rows(s: dict) -> str:
    out = []
    for kind, rows in ((_("target"), s.get("targets", [])), (_("control"), s.get("controls", []))):
        for t in rows:
            bound = t.get("target") if "bound" not in t else t["bound"]
            extra = f' <span class="meta">({_("misses {target} by {margin}").format(target=html.escape(str(t.get("against"))), margin=_fmt(t.get("margin")))})</span>' if "bound" in t else ""
            std = s.get("std", {})
            spread = f" ± {std[t['metric']]:.2g}" if isinstance(std, dict) and t["metric"] in std else ""
            out.append(f'<tr><td>{html.escape(kind)}</td><td><code>{html.escape(str(t["metric"]))}</code>{extra}</td>'
                       f'<td>{html.escape(str(t["op"]))} {_fmt(bound)}</td><td>{_fmt(t["achieved"])}{spread}</td>'
                       f'<td class="{"pass" if t["passed"] else "fail"}">{_("pass") if t["passed"] else _("FAIL")}</td></tr>')
    return "".join(out)


def _lesson_html(lesson, run: dict | None) -> str:
    title = html.escape(_(lesson.title))
    name = html.escape(lesson.name)
    head = (f'<h3 id="{name}">{title}</h3><div class="meta"><code>{name}</code> · '
            f'{_("sources")}: {html.escape(", ".join(lesson.sources))}</div>')
    if run is None:
        return f'<section class="lesson">{head}<p class="todo">{html.escape(_("not run yet"))}</p></section>'
    s, m = run["summary"], run["manifest"]
    ok = s["passed"]
    verdict = f'<span class="{"pass" if ok else "fail"}">{_("pass") if ok else _("FAIL")}</span>'
    table = (f'<div class="scroll"><table><tr><th>{_("kind")}</th><th>{_("metric")}</th><th>{_("check")}</th>'
             f'<th>{_("achieved")}</th><th>{_("result")}</th></tr>{_check_rows(s)}</table></div>')
    figs = [f'<figure>{_img(f.read_bytes(), f.stem)}<figcaption>{html.escape(f.stem)}</figcaption></figure>'
            for f in run["figures"]]
    curves = _curves_svg(run["metrics"])
    keys = ("profile", "seed", "threads", "device", "torch", "python", "dlcourse", "host_cpu", "start",
            "wall_seconds", "git_revision")
    manifest = "".join(f"<tr><td>{k}</td><td>{_fmt(m.get(k))}</td></tr>" for k in keys if k in m)
    error = f"<pre>{html.escape(str(s['error']))}</pre>" if s.get("error") else ""
    seeds = f' · {len(s["seeds"])} {_("seeds, mean ± std")}' if isinstance(s.get("seeds"), list) else ""
    return (f'<section class="lesson">{head}<p>{verdict} · {html.escape(_(s["profile"]))} · {s["seconds"]:.1f} s'
            f'{seeds}</p>{table}{error}<div class="curves">{curves}</div><div class="figs">{"".join(figs)}</div>'
            f'<details><summary>{_("manifest")}</summary><div class="scroll"><table>{manifest}</table></div>'
            f'<p class="meta">{html.escape(str(run["dir"]))}</p></details></section>')


def build(run_dirs: list[Path]) -> str:
    runs = {}
    for d in run_dirs:
        r = _load(d)
        if r is not None:
            runs[r["summary"]["experiment"]] = r  # a later directory of the same lesson wins
    lang = get_language()
    lessons = {lesson.name: lesson for lesson in registry.lessons()}
    passed = sum(1 for r in runs.values() if r["summary"]["passed"])
    seconds = sum(r["summary"]["seconds"] for r in runs.values())
    parts = [f'<h1>{html.escape(_("dlcourse report"))}</h1>',
             '<div class="summary">'
             f'<div class="stat"><b>{passed} / {len(runs)}</b>{_("lessons meet their targets")}</div>'
             f'<div class="stat"><b>{seconds:.0f} s</b>{_("total run time")}</div>'
             f'<div class="stat"><b>{len(lessons)}</b>{_("lessons in the course")}</div></div>']
    shown = set()
    for week in syllabus.weeks(lang):
        parts.append(f'<h2>{html.escape(_("Week {n}").format(n=week["week"]))}</h2>')
        parts += [f'<p class="item">{item["id"]} · {html.escape(item["title"])}</p>' for item in week["items"]]
        for name in week["lessons"]:
            if name not in shown and lessons[name].week == week["week"]:
                shown.add(name)
                parts.append(_lesson_html(lessons[name], runs.get(name)))
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join(parts)
    return (f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f'<title>{html.escape(_("dlcourse report"))}</title><style>{CSS}</style></head>'
            f'<body><main>{body}<p class="meta">{stamp}</p></main></body></html>')


def write(run_dirs: list[Path], out: Path) -> Path:
    out = Path(out)
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name such as {out / 'report.html'}")
    if not out.parent.exists():
        raise UsageError(f"cannot write {out}: folder {out.parent} does not exist")
    try:
        atomic_write(out, build(run_dirs))
    except PermissionError:
        raise UsageError(f"cannot write {out}: permission denied") from None
    except IsADirectoryError:
        raise UsageError(f"cannot write {out}: it is a folder") from None
    return out
