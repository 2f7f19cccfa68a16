"""CI: write every lesson's notebook and execute it top to bottom in a fresh Jupyter kernel (quick
profile). A cell that raises, a missed target or a control that reaches its target fails the run.

    python .ci/run_notebooks.py [--jobs 2] [--lang en] [NAMES...]
"""

import argparse
import concurrent.futures as cf
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError


def execute(path: Path, workdir: Path) -> tuple[str, float, str | None]:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    t = time.perf_counter()
    try:
        NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}).execute()
    except CellExecutionError as e:
        return path.stem, time.perf_counter() - t, str(e).strip().splitlines()[-1]
    return path.stem, time.perf_counter() - t, None


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("names", nargs="*")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--lang", default="en")
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "notebooks"
        cmd = [sys.executable, "-m", "dlcourse", "notebook", "--lang", args.lang, "--out", str(out)]
        for name in args.names or [None]:
            subprocess.run(cmd + ([name] if name else ["--all"]), check=True, stdout=subprocess.DEVNULL)
        paths = sorted(out.glob("*.ipynb"))
        start, failed = time.perf_counter(), []
        with cf.ThreadPoolExecutor(args.jobs) as pool:  # each notebook runs in its own kernel process
            for name, seconds, error in pool.map(lambda p: execute(p, Path(tmp)), paths):
                print(f"{name:24s} {seconds:6.1f} s  {'ok' if error is None else 'FAILED: ' + error}", flush=True)
                if error is not None:
                    failed.append(name)
        print(f"{len(paths)} notebooks in {time.perf_counter() - start:.0f} s, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
