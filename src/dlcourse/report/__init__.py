"""The HTML report: one self-contained page (figures embedded, no external assets, no network).

The syllabus by week in the chosen language; for each lesson its title, source lectures, targets with
achieved values and pass/fail, the metric curves of metrics.jsonl, the lesson's own figures and the
run's manifest. Readable on a phone: one column, images scale down.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections import defaultdict
from pathlib import Path

from dlcourse import registry, syllabus
from dlcourse.i18n import _, get_language
from dlcourse.registry import UsageError
from dlcourse.runs import atomic_write

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
details{margin-top:.5rem}pre{white-space:pre-wrap;word-break:break-word;font-size:.8rem;background:#f3f4f6;
 padding:.5rem;border-radius:6px}
.scroll{overflow-x:auto}
@media (max-width:600px){main{padding:.5rem}h1{font-size:1.3rem}td,th{padding:.2rem .3rem}}
"""


def latest_runs(root: Path) -> list[Path]:
    """The newest finished run directory of every lesson under `root`."""
    out = []
    for lesson_dir in sorted(p for p in Path(root).glob("*") if p.is_dir()):
        finished = [d for d in sorted(lesson_dir.iterdir()) if (d / "summary.json").exists()]
        if finished:
            out.append(finished[-1])
    return out


def _load(run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    try:
        summary = json.loads((run_dir / "summary.json").read_text())
        manifest = json.loads((run_dir / "manifest.json").read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"{run_dir} is not a finished run directory (summary.json/manifest.json: {e})") from None
    metrics = []
    try:
        for line in (run_dir / "metrics.jsonl").read_text().splitlines():
            try:
                metrics.append(json.loads(line))
            except ValueError:
                continue  # a line cut by a killed run
    except OSError:
        pass
    figures = sorted((run_dir / "figures").glob("*.png"))
    return {"dir": run_dir, "summary": summary, "manifest": manifest, "metrics": metrics, "figures": figures}


def _img(data: bytes, alt: str) -> str:
    return (f'<img alt="{html.escape(alt)}" loading="lazy" '
            f'src="data:image/png;base64,{base64.b64encode(data).decode()}">')


def _curves_png(points: list[dict]) -> bytes | None:
    """Small multiples: one panel per metric name, one line per phase and split."""
    series: dict[str, dict[str, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for p in points:
        label = "/".join(x for x in (p.get("phase"), p.get("split")) if x)
        series[p["name"]][label].append((p["step"], p["value"]))
    names = [n for n in series if sum(len(v) for v in series[n].values()) > 1][:6]
    if not names:
        return None
    from dlcourse import plots

    fig, axes = plots.figure(ncols=min(3, len(names)), nrows=(len(names) + 2) // 3,
                             size=(3.6 * min(3, len(names)), 2.6 * ((len(names) + 2) // 3)))
    for ax in axes.flat[len(names):]:
        ax.axis("off")
    for ax, name in zip(axes.flat, names):
        for label, pts in series[name].items():
            pts.sort()
            ax.plot([s for s, _ in pts], [v for _, v in pts], label=label or name, lw=1.2)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        if len(series[name]) > 1:
            ax.legend(fontsize=7)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plots.plt.close(fig)
    return buf.getvalue()


def _fmt(v) -> str:
    return "-" if v is None else (f"{v:.4g}" if isinstance(v, float) else html.escape(str(v)))


def _lesson_html(name: str, run: dict | None) -> str:
    lesson = syllabus.lesson(name)
    title = html.escape(_(lesson.title))
    head = (f'<h3 id="{name}">{title}</h3><div class="meta"><code>{name}</code> · '
            f'{_("sources")}: {html.escape(", ".join(lesson.sources))}</div>')
    if run is None:
        registered = name in {e.name for e in registry.all_experiments()}
        note = _("not run yet") if registered else _("to come")
        return f'<section class="lesson">{head}<p class="todo">{html.escape(note)}</p></section>'
    s, m = run["summary"], run["manifest"]
    ok = s.get("passed")
    verdict = f'<span class="{"pass" if ok else "fail"}">{_("pass") if ok else _("FAIL")}</span>'
    std = s.get("std", {})
    spread = lambda k: f" ± {std[k]:.2g}" if k in std else ""  # noqa: E731
    rows = "".join(
        f'<tr><td><code>{html.escape(t["metric"])}</code></td><td>{html.escape(t["op"])} {_fmt(t["target"])}</td>'
        f'<td>{_fmt(t["achieved"])}{spread(t["metric"])}</td><td class="{"pass" if t["passed"] else "fail"}">'
        f'{_("pass") if t["passed"] else _("FAIL")}</td></tr>' for t in s.get("targets", []))
    table = (f'<div class="scroll"><table><tr><th>{_("target")}</th><th></th><th>{_("achieved")}</th>'
             f'<th>{_("result")}</th></tr>{rows}</table></div>')
    figs = []
    curves = _curves_png(run["metrics"])
    if curves:
        figs.append(f'<figure>{_img(curves, name + " curves")}<figcaption>{_("metric curves")}</figcaption></figure>')
    for f in run["figures"]:
        figs.append(f'<figure>{_img(f.read_bytes(), f.stem)}<figcaption>{html.escape(f.stem)}</figcaption></figure>')
    keys = ("profile", "seed", "threads", "device", "torch", "python", "dlcourse", "host_cpu", "start",
            "wall_seconds", "git_revision")
    manifest = "".join(f"<tr><td>{k}</td><td>{_fmt(m.get(k))}</td></tr>" for k in keys if k in m)
    error = f"<pre>{html.escape(s['error'])}</pre>" if s.get("error") else ""
    seeds = f' · {len(s["seeds"])} {_("seeds, mean ± std")}' if "seeds" in s else ""
    return (f'<section class="lesson">{head}<p>{verdict} · {s["profile"]} · {s["seconds"]:.1f} s{seeds}</p>{table}'
            f'{error}<div class="figs">{"".join(figs)}</div><details><summary>{_("manifest")}</summary>'
            f'<div class="scroll"><table>{manifest}</table></div><p class="meta">{html.escape(str(run["dir"]))}</p>'
            f'</details></section>')


def build(run_dirs: list[Path]) -> str:
    runs = {}
    for d in run_dirs:
        r = _load(d)
        runs[r["summary"]["experiment"]] = r  # a later directory of the same lesson wins
    lang = get_language()
    passed = sum(1 for r in runs.values() if r["summary"].get("passed"))
    seconds = sum(r["summary"].get("seconds", 0) for r in runs.values())
    parts = [f'<h1>{html.escape(_("dlcourse report"))}</h1>',
             '<div class="summary">'
             f'<div class="stat"><b>{passed} / {len(runs)}</b>{_("lessons meet their targets")}</div>'
             f'<div class="stat"><b>{seconds:.0f} s</b>{_("total run time")}</div>'
             f'<div class="stat"><b>{len(syllabus.LESSONS)}</b>{_("lessons in the course")}</div></div>']
    shown = set()
    for week in syllabus.weeks(lang):
        parts.append(f'<h2>{html.escape(_("Week {n}").format(n=week["week"]))}</h2>')
        parts += [f'<p class="item">{item["id"]} · {html.escape(item["title"])}</p>' for item in week["items"]]
        for name in week["lessons"]:
            if name not in shown and syllabus.lesson(name).week == week["week"]:
                shown.add(name)
                parts.append(_lesson_html(name, runs.get(name)))
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
    atomic_write(out, build(run_dirs))
    return out
