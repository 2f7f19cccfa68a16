"""`dlcourse`: list, run and verify the lessons; show the syllabus.

Exit codes: 0 success, 1 a target missed or a run failed, 2 a usage error (bad name, key, value,
path). A usage error is one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path

from dlcourse.errors import UsageError
from dlcourse.i18n import _, ngettext, resolve_language, set_language


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # The language must be known before argparse builds its (translated) help texts.
    try:
        set_language(_language_from(argv))
    except ValueError as e:
        print(f"dlcourse: error: {e}", file=sys.stderr)
        return 2
    parser = build_parser()
    args = parser.parse_args(argv)  # argparse exits with 2 on its own usage errors
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    _terminate_like_ctrl_c()
    # Figures are drawn off-screen: a run on a server or in CI must not look for a display. Set
    # in the environment, not by importing matplotlib, so the commands that draw nothing stay fast.
    os.environ.setdefault("MPLBACKEND", "Agg")
    try:
        return args.func(args)
    except UsageError as e:
        print(f"dlcourse: {_('error')}: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dlcourse: {_('interrupted')}", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `dlcourse syllabus | head -1`: the reader left, nothing is wrong
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _terminate_like_ctrl_c() -> None:
    """SIGTERM (kill, a scheduler's time limit) ends a command as Ctrl-C does: the run is marked
    interrupted, its lock released, and it can be resumed."""
    import signal

    def terminate(signum, frame):
        raise KeyboardInterrupt

    with contextlib.suppress(ValueError):  # not in the main thread (embedded use): leave it alone
        signal.signal(signal.SIGTERM, terminate)


def _language_from(argv: list[str]) -> str | None:
    for i, a in enumerate(argv):
        if a == "--lang" and i + 1 < len(argv):
            return resolve_language(argv[i + 1])
        if a.startswith("--lang="):
            return resolve_language(a.split("=", 1)[1])
    return None


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lang", metavar="LANG", help=_("language: en, ja, zh or ko (default: from LANG)"))

    p = argparse.ArgumentParser(prog="dlcourse", parents=[common],
                                description=_("The NYU Deep Learning course as lessons that run and check their results."))
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    s = sub.add_parser("list", parents=[common], help=_("list the lessons by week with their last result"))
    s.add_argument("--out", default="runs", help=_("runs directory (default: runs)"))
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", parents=[common], help=_("show a lesson: what it teaches, checks and declares"))
    s.add_argument("name", help=_("lesson name (see 'dlcourse list')"))
    s.add_argument("--config", action="store_true", help=_("list the lesson's config keys, types and defaults"))
    s.set_defaults(func=cmd_show)

    running = argparse.ArgumentParser(add_help=False)
    running.add_argument("--quick", action="store_true", help=_("the quick profile: smaller, seconds, looser targets"))
    running.add_argument("--seed", type=_non_negative, default=0, help=_("random seed (default: 0)"))
    running.add_argument("--seeds", type=_positive, default=1, metavar="N",
                         help=_("run N seeds (from --seed on) in parallel and report mean ± std"))
    running.add_argument("--device", default="auto", help=_("cpu, cuda or auto: cuda when available (default: auto)"))
    running.add_argument("--amp", action="store_true",
                         help=_("mixed precision in the training loop (float16 on GPU, bfloat16 on CPU)"))
    running.add_argument("--out", default="runs", help=_("where run directories go (default: runs)"))
    running.add_argument("--threads", type=_positive, help=_("PyTorch CPU threads (default: the lesson's own choice)"))

    s = sub.add_parser("run", parents=[common, running], help=_("run one lesson and check its targets"))
    s.add_argument("name", help=_("lesson name (see 'dlcourse list')"))
    s.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help=_("override a config value; repeatable"))
    s.add_argument("--resume", metavar="DIR", help=_("continue an interrupted run directory"))
    s.add_argument("--tensorboard", action="store_true", help=_("also write TensorBoard event files"))
    s.add_argument("--nproc", type=_positive, default=1, metavar="N",
                   help=_("train data-parallel in N processes on this machine (gloo on CPU, nccl on GPU)"))
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("verify", parents=[common, running], help=_("run many lessons and print a table of targets"))
    s.add_argument("names", nargs="*", help=_("lesson names (default: all)"))
    s.add_argument("--jobs", type=_positive, default=1, metavar="N",
                   help=_("run N lessons at a time in separate processes (default: 1)"))
    s.set_defaults(func=cmd_verify)

    s = sub.add_parser("report", parents=[common], help=_("write the HTML report of runs"))
    s.add_argument("runs", nargs="*", help=_("run directories (default: the latest run of every lesson)"))
    s.add_argument("--runs-dir", default="runs", help=_("where to look for runs (default: runs)"))
    s.add_argument("--out", help=_("the HTML file to write (default: <runs-dir>/report.html)"))
    s.set_defaults(func=cmd_report)

    s = sub.add_parser("data", parents=[common], help=_("fetch or list the optional real data sets"))
    data_sub = s.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    d = data_sub.add_parser("fetch", parents=[common], help=_("download a data set, check its SHA-256"))
    d.add_argument("dataset", help="mnist, fashion-mnist, imdb")
    d.add_argument("--dir", help=_("where to put it (default: data/<dataset>)"))
    d.set_defaults(func=cmd_data_fetch)
    d = data_sub.add_parser("list", parents=[common], help=_("show which data sets are present"))
    d.add_argument("--root", default="data", help=_("where the data sets live (default: data)"))
    d.set_defaults(func=cmd_data_list)

    s = sub.add_parser("bench", parents=[common], help=_("time every lesson's full profile against its budget"))
    s.add_argument("names", nargs="*", help=_("lesson names (default: all)"))
    s.add_argument("--quick", action="store_true", help=_("the quick profile: smaller, seconds, looser targets"))
    s.set_defaults(func=cmd_bench)

    s = sub.add_parser("notebook", parents=[common], help=_("write a lesson as a Jupyter notebook"))
    s.add_argument("name", nargs="?", help=_("lesson name (see 'dlcourse list')"))
    s.add_argument("--all", action="store_true", help=_("every lesson"))
    s.add_argument("--out", default="notebooks", help=_("where the notebooks go (default: notebooks)"))
    s.set_defaults(func=cmd_notebook)

    s = sub.add_parser("syllabus", parents=[common], help=_("the 15 weeks of the course and the lessons for each"))
    s.set_defaults(func=cmd_syllabus)
    return p


# --- commands ------------------------------------------------------------------------------------

def cmd_list(args) -> int:
    from dlcourse import registry

    rows = []
    for lesson in registry.lessons():
        last = _last_summary(Path(args.out), lesson.name)
        result = "-" if last is None else (
            f"{_('pass') if last['passed'] else _('FAIL')} ({_word(last['profile'])}, {last['seconds']:.1f} s)")
        rows.append((lesson.week, lesson.name, _(lesson.title), result))
    print(_table([_("week"), _("lesson"), _("title"), _("last result")], rows))
    return 0


def cmd_show(args) -> int:
    from dlcourse import registry, targets

    lesson = registry.info(args.name)
    if args.config:
        rows = registry.config_fields(lesson.name)
        quick = lesson.quick
        print(_table([_("key"), _("type"), _("default"), _("quick")],
                     [(k, t, d, repr(quick[k]) if k in quick else "") for k, t, d in rows]))
        return 0
    print(f"{_(lesson.title)}  ({lesson.name}, {_('week')} {lesson.week})")
    print(f"{_('sources')}: {', '.join(lesson.sources)}")
    print(f"{_('file')}: {lesson.path}")
    text = _lesson_text(lesson.name)
    if text:
        print()
        print(text.rstrip())
    for profile in ("full", "quick"):
        print()
        print(f"{_word(profile)}:")
        for metric, spec in lesson.targets[profile].items():
            print(f"  {_('target')}   {targets.describe_target({'metric': metric, 'op': spec[0], 'target': spec[1]})}")
        for metric, (against, margin) in lesson.controls[profile].items():
            op, bound = targets.control_bound(lesson.targets[profile][against], margin)
            print(f"  {_('control')}  {metric} {op} {bound:.4g}  "
                  f"({_('misses {target} by {margin}').format(target=against, margin=f'{margin:g}')})")
    return 0


def _lesson_text(name: str) -> str:
    try:
        from dlcourse import lessontext
    except ImportError:
        return ""
    from dlcourse.i18n import get_language

    return lessontext.render_terminal(name, get_language())


def cmd_run(args) -> int:
    from dlcourse.runner import run_experiment, run_seeds

    overrides = _parse_sets(args.set)
    profile = "quick" if args.quick else "full"
    if args.nproc != 1:
        return _launch(args.nproc, args.seeds)
    if args.seeds != 1:
        if args.resume or args.tensorboard:
            raise UsageError(_("--seeds cannot be combined with --resume or --tensorboard"))
        summary = run_seeds(args.name, args.seeds, profile, overrides, args.seed, args.device, args.out,
                            threads=args.threads)
    else:
        started = []

        def announce(run_dir):
            started.append(run_dir)
            print(f"{_('run directory')}: {run_dir}", flush=True)

        try:
            summary = run_experiment(args.name, profile, overrides, args.seed, args.device, args.out,
                                     args.resume, quiet=_quiet(), threads=args.threads,
                                     tensorboard=args.tensorboard, amp=args.amp, on_start=announce)
        except KeyboardInterrupt:
            if started:
                print(f"dlcourse: {_('interrupted; continue with')}: dlcourse run {args.name} --resume {started[0]}",
                      file=sys.stderr)
            raise
    _print_summary(summary, seeds=args.seeds != 1)
    print(_("lesson file: {path} · notebook: dlcourse notebook {name} · report: dlcourse report").format(
        path=_lesson_path(args.name), name=args.name))
    return 0 if summary["passed"] else 1


def _lesson_path(name: str) -> str:
    from dlcourse import registry

    path = registry.info(name).path
    with contextlib.suppress(ValueError):
        return str(path.relative_to(Path.cwd()))
    return str(path)


def _print_summary(summary: dict, seeds: bool) -> None:
    if seeds:
        print(f"{_('run directory')}: {summary['dir']}")
    for path in sorted(Path(summary["dir"]).glob("texts/*.txt")):  # samples and other text results
        print(f"--- {path.stem} ---\n{path.read_text(encoding='utf-8').rstrip()}\n---")
    for k, v in summary["metrics"].items():
        spread = f" ± {summary['std'][k]:.3g}" if "std" in summary else ""
        print(f"  {k} = {v:.6g}{spread}")
    rows = [_check_cells(r, "target", summary.get("std")) for r in summary["targets"]]
    rows += [_check_cells(r, "control", summary.get("std")) for r in summary.get("controls", [])]
    print(_table([_("kind"), _("check"), _("achieved"), _("result")], rows))
    if summary.get("error"):
        print(summary["error"].rstrip().splitlines()[-1], file=sys.stderr)
    print(f"{_('status')}: {_word(summary['status'])} ({summary['seconds']:.1f} s)")


def cmd_verify(args) -> int:
    from dlcourse import registry

    names = args.names or [lesson.name for lesson in registry.lessons()]
    for name in names:  # every name is checked before the first lesson runs
        registry.info(name)
    from dlcourse.runner import resolve_device, run_many, run_seeds

    resolve_device(args.device)
    profile = "quick" if args.quick else "full"
    if args.seeds != 1:
        summaries = (run_seeds(name, args.seeds, profile, None, args.seed, args.device, args.out,
                               threads=args.threads) for name in names)
    else:
        summaries = run_many(names, profile, args.seed, args.device, args.out, jobs=args.jobs,
                             quiet=_quiet(), threads=args.threads, amp=args.amp)
    rows, all_passed = [], True
    for name, summary in zip(names, summaries):
        all_passed &= summary["passed"]
        budget = registry.info(name).budget_s
        seconds = f"{summary['seconds']:.1f}"
        if profile == "full" and summary["seconds"] > budget * max(1, args.seeds):
            seconds += f" (> {budget:g})"
        checks = [_check_cells(r, "target", summary.get("std")) for r in summary["targets"]]
        checks += [_check_cells(r, "control", summary.get("std")) for r in summary.get("controls", [])]
        if not checks:
            checks = [("", "-", "-", _("pass") if summary["passed"] else _("FAIL"))]
        for i, cells in enumerate(checks):
            rows.append((name if i == 0 else "", *cells, seconds if i == 0 else ""))
        if summary["status"] not in ("ok", "target_missed"):
            last = (summary.get("error") or "").strip().splitlines()[-1:] or [""]
            rows.append(("", "", f"{_word(summary['status'])}: {last[0]}", "", "", ""))
        if not _quiet():
            print(f"{name}: {_word(summary['status'])}", file=sys.stderr)
    header = [_("experiment"), _("kind"), _("check"), _("achieved"), _("result"), _("seconds")]
    if args.seeds != 1:
        header[3] = _("worst seed (mean ± std)")
    print(_table(header, rows))
    from dlcourse import report

    path = report.write(report.latest_runs(Path(args.out)), Path(args.out) / "report.html")
    print(f"{_('report')}: {path}")
    verdict = _("all targets met") if all_passed else _("some targets missed")
    print(ngettext("{n} lesson", "{n} lessons", len(names)).format(n=len(names)) + f", {_word(profile)}: {verdict}")
    return 0 if all_passed else 1


def cmd_report(args) -> int:
    from dlcourse import report

    root = Path(args.runs_dir)
    dirs = [Path(d) for d in args.runs] or report.latest_runs(root)
    if not dirs:
        raise UsageError(_("no finished runs under {root}; run 'dlcourse verify --quick' first").format(root=root))
    path = report.write(dirs, Path(args.out) if args.out else root / "report.html")
    print(f"{_('report')}: {path}")
    return 0


def cmd_data_fetch(args) -> int:
    from dlcourse.data import fetch

    ds = fetch.get(args.dataset)
    directory = fetch.fetch(ds, Path(args.dir or Path("data") / ds.name))
    print(f"{ds.name}: {directory} ({ds.note})")
    return 0


def cmd_data_list(args) -> int:
    from dlcourse.data import fetch

    rows = []
    for ds in fetch.DATASETS.values():
        st = fetch.status(ds, Path(args.root) / ds.name)
        if all(v == "ok" for v in st.values()):
            state = _("present")
        elif all(v == "missing" for v in st.values()):
            state = _("missing: dlcourse data fetch {name}").format(name=ds.name)
        else:
            state = ", ".join(f"{f}: {v}" for f, v in st.items() if v != "ok")
        rows.append((ds.name, str(Path(args.root) / ds.name), state))
    print(_table([_("data set"), _("folder"), _("state")], rows))
    return 0


def cmd_bench(args) -> int:
    from dlcourse import bench, registry

    for name in args.names:
        registry.get(name)
    print(bench.machine_line())
    print()
    print(bench.format_spiral(bench.spiral_time_to_target()))
    print()
    rows = bench.lesson_table(args.names or None, "quick" if args.quick else "full")
    print(bench.format_lesson_table(rows))
    return 0 if all(r["passed"] for r in rows) else 1


def cmd_notebook(args) -> int:
    from dlcourse import notebook, registry
    from dlcourse.i18n import get_language

    if bool(args.name) == args.all:
        raise UsageError(_("give a lesson name or --all"))
    names = [lesson.name for lesson in registry.lessons()] if args.all else [registry.info(args.name).name]
    for name in names:
        print(notebook.write(name, Path(args.out), get_language()))
    return 0


def cmd_syllabus(args) -> int:
    from dlcourse import registry, syllabus
    from dlcourse.i18n import get_language

    titles = {lesson.name: _(lesson.title) for lesson in registry.lessons()}
    for week in syllabus.weeks(get_language()):
        print(_("Week {n}").format(n=week["week"]))
        for item in week["items"]:
            print(f"  {item['id']}  {item['title']}")
            for name in item["lessons"]:
                print(f"        → {name}: {titles[name]}")
    return 0


# --- helpers -------------------------------------------------------------------------------------

def _launch(nproc: int, seeds: int) -> int:
    """Start `nproc` copies of this command as ranks of one process group on this machine (what
    torchrun does with --standalone); rank 0 writes the run and its exit code is ours."""
    import socket
    import subprocess

    if seeds != 1:
        raise UsageError(_("--seeds cannot be combined with --nproc"))
    argv = [a for a in sys.argv[1:]]
    i = argv.index("--nproc") if "--nproc" in argv else None
    argv = argv[:i] + argv[i + 2:] if i is not None else [a for a in argv if not a.startswith("--nproc=")]
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    procs = []
    for rank in range(nproc):
        env = {**os.environ, "WORLD_SIZE": str(nproc), "RANK": str(rank), "LOCAL_RANK": str(rank),
               "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        procs.append(subprocess.Popen([sys.executable, "-m", "dlcourse", *argv], env=env,
                                      stdout=None if rank == 0 else subprocess.DEVNULL,
                                      stderr=None if rank == 0 else subprocess.PIPE))
    import time

    while any(p.poll() is None for p in procs):
        if any(p.returncode not in (None, 0) for p in procs):  # a rank died: the others would wait forever
            for p in procs:
                if p.poll() is None:
                    p.kill()
        time.sleep(0.05)
    codes = [p.returncode for p in procs]
    if codes[0] == 0 and any(codes[1:]):
        return 1
    return codes[0] if codes[0] >= 0 else 1


def _parse_sets(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(_("--set expects KEY=VALUE, got {item!r}").format(item=item))
        out[key.strip()] = value
    return out


def _quiet() -> bool:
    return bool(os.environ.get("CI")) or not sys.stderr.isatty()


def _last_summary(root: Path, name: str) -> dict | None:
    """The newest readable summary of a lesson; a malformed one is skipped with a warning."""
    from dlcourse.report import read_summary

    folder = root / name
    if not folder.is_dir():
        return None
    for d in sorted(folder.iterdir(), reverse=True):
        if (d / "summary.json").exists():
            summary = read_summary(d)
            if summary is not None:
                return summary
    return None


def _word(value: str) -> str:
    """A profile or a status in the user's language (a literal for each, so they are extracted)."""
    words = {"full": _("full"), "quick": _("quick"), "ok": _("ok"), "target_missed": _("target missed"),
             "failed": _("failed"), "diverged": _("diverged"), "interrupted": _("interrupted"),
             "usage_error": _("usage error")}
    return words.get(value, value)


def _check_cells(row: dict, kind: str, std: dict | None = None) -> tuple[str, str, str, str]:
    """(kind, check, achieved, result) of a target or control row for the tables."""
    from dlcourse import targets

    achieved = "-" if row.get("achieved") is None else f"{row['achieved']:.4g}"
    if "worst_seed" in row:
        achieved += f" (seed {row['worst_seed']})"
    if std and row["metric"] in std:
        achieved += f" ± {std[row['metric']]:.2g}"
    check = targets.describe_target(row) if kind == "target" else targets.describe_control(row)
    return _(kind), check, achieved, _("pass") if row["passed"] else _("FAIL")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(_("must be at least 1, got {value}").format(value=value))
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(_("must be at least 0, got {value}").format(value=value))
    return value


def _width(s: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def _table(header: list[str], rows: list[tuple]) -> str:
    rows = [tuple(str(c) for c in r) for r in rows]
    widths = [max([_width(h)] + [_width(r[i]) for r in rows]) for i, h in enumerate(header)]

    def line(cells):
        return "  ".join(c + " " * (w - _width(c)) for c, w in zip(cells, widths)).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


if __name__ == "__main__":
    sys.exit(main())
