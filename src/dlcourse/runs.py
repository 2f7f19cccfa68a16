"""Run directories: what a run writes, written so that a killed run leaves a valid directory.

    runs/<experiment>/<UTC timestamp>-<8-hex config hash>/
        config.json     resolved config, profile, seed
        manifest.json   versions, threads, device, host, git revision, times, status
        metrics.jsonl   one JSON object per logged point: phase, step, split, name, value
        summary.json    final metrics, every target and control with its value and pass/fail
        checkpoint/     <phase>.safetensors (weights, optimizer, RNG states, step, log so far)
                        and index.json (the SHA-256 of each)
        figures/*.png   texts/*.txt
        .lock           held (flock) by the process that runs in the directory

What a run directory guarantees:
- Every whole-file write goes to a temporary file that is renamed over the old one: readers see the
  old or the new file, never half of one, and a write that fails removes its temporary file.
- A checkpoint is resumed only if it matches the SHA-256 recorded when it was written.
- A resume checks everything (config, lock, every checkpoint) before it writes anything: a resume
  that is refused leaves the directory byte for byte as it was.
- Ctrl-C or SIGTERM: status "interrupted", the lock released, resumable with --resume. SIGKILL or
  a power cut: status stays "running", the lock is free (the OS drops it), resumable as well. A full
  disk: one line "no space left on DIR", the last complete checkpoint kept, resumable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dlcourse import __version__, checkpoint
from dlcourse.errors import UsageError
from dlcourse.files import DiskFull, _jsonable, atomic_write, read_json, write_json  # noqa: F401  (re-exported)


def config_hash(name: str, profile: str, cfg: dict, seed: int) -> str:
    blob = json.dumps({"experiment": name, "profile": profile, "config": cfg, "seed": seed},
                      sort_keys=True, default=_jsonable)
    return hashlib.sha256(blob.encode()).hexdigest()[:8]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _git_revision() -> str | None:
    src = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True, timeout=5)
        if out.returncode == 0:
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src,
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Run:
    """One run directory. Lessons use `log`, `figure`, `text`, `phase`, `device` and `seed`."""

    def __init__(self, path: Path, experiment: str, profile: str, config, seed: int, device: str,
                 resumed: bool = False):
        self.dir = Path(path)
        self.experiment, self.profile, self.config, self.seed = experiment, profile, config, seed
        self.device = torch.device(device)
        self.resumed = resumed
        self.quiet = False  # progress bars off (set by the CLI when not on a terminal)
        self.amp = False  # mixed precision in train.fit (--amp)
        self.writer = True  # in data-parallel training only rank 0 writes
        self.inline = False  # in a notebook: figures are shown as well as saved
        self._active: checkpoint.Phase | None = None
        self._restorable: dict[str, tuple[dict, dict]] = {}
        self._lock_fd: int | None = None
        self._started = time.time()
        self._tensorboard = None

    @classmethod
    def follower(cls, path: Path, experiment: str, profile: str, config, seed: int, device: str) -> "Run":
        """A non-zero rank's view of rank 0's run directory: reads checkpoints, writes nothing."""
        run = cls(path, experiment, profile, config, seed, device)
        run.writer, run.quiet = False, True
        if (run.dir / "checkpoint").is_dir():
            run._restorable = checkpoint.verify(run.dir / "checkpoint", run._config_hash())
        return run

    def enable_tensorboard(self) -> None:
        """Also write scalars and figures as TensorBoard events under <run>/tensorboard/."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise UsageError("--tensorboard needs the tensorboard package: pip install tensorboard") from None
        self._tensorboard = SummaryWriter(str(self.dir / "tensorboard"))

    # -- creation ---------------------------------------------------------------------------------

    @classmethod
    def create(cls, root: Path, experiment: str, profile: str, config, seed: int, device: str) -> "Run":
        cfg = dataclasses.asdict(config)
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise UsageError(f"--out {root} is a file, not a folder")
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        base = root / experiment
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise UsageError(f"cannot create run directories under {root}: {e.strerror}") from None
        if not os.access(base, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write into {base}: permission denied")
        name = f"{stamp}-{config_hash(experiment, profile, cfg, seed)}"
        for attempt in range(1000):  # mkdir is atomic: two runs at once never share a directory
            path = base / (name if attempt == 0 else f"{name}-{attempt + 1}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
            except OSError as e:
                raise UsageError(f"cannot create a run directory under {base}: {e.strerror}") from None
        else:
            raise UsageError(f"could not create a fresh run directory under {base}")
        run = cls(path, experiment, profile, config, seed, device)
        run._lock()
        (path / "figures").mkdir()
        (path / "checkpoint").mkdir()
        write_json(path / "config.json", {"experiment": experiment, "profile": profile, "seed": seed,
                                          "device": device, "config": cfg})
        atomic_write(path / "metrics.jsonl", "")
        run._write_manifest("running")
        return run

    @staticmethod
    def read_resume_info(path: Path) -> dict:
        """The experiment, profile, seed and config of a directory to resume; reads, never writes."""
        path = Path(path)
        if not path.is_dir():
            raise UsageError(f"cannot resume {path}: no such run directory")
        info = read_json(path / "config.json")
        if not isinstance(info, dict) or not {"experiment", "profile", "seed", "config"} <= info.keys():
            raise UsageError(f"cannot resume {path}: config.json lacks experiment/profile/seed/config")
        if not isinstance(info["config"], dict) or not isinstance(info["experiment"], str):
            raise UsageError(f"cannot resume {path}: config.json has the wrong types")
        if isinstance(info["seed"], bool) or not isinstance(info["seed"], int):
            raise UsageError(f"cannot resume {path}: the seed in config.json is {info['seed']!r}, not an integer")
        return info

    @classmethod
    def reopen(cls, path: Path, experiment: str, profile: str, config, seed: int, device: str) -> "Run":
        """Continue a run directory. Every check (checkpoints, their hashes and configuration, the
        lock) comes before the first write, so a refused resume changes nothing."""
        run = cls(path, experiment, profile, config, seed, device, resumed=True)
        locked = run._acquire(create=False)  # "in use" is the first thing to know
        try:
            run._restorable = checkpoint.verify(run.dir / "checkpoint", run._config_hash())
        except BaseException:
            if locked:
                os.close(run._lock_fd)  # released untouched: a refused resume changes no byte
            raise
        if not locked:
            run._acquire()
        run._claim()
        try:
            for leftover in run.dir.rglob(".*.tmp*"):  # temporary files of a killed process
                leftover.unlink(missing_ok=True)
            (run.dir / "figures").mkdir(exist_ok=True)
            (run.dir / "checkpoint").mkdir(exist_ok=True)
            (run.dir / "summary.json").unlink(missing_ok=True)
            # The replay rewrites the log: each restored phase puts its own lines back.
            atomic_write(run.dir / "metrics.jsonl", "")
            run._write_manifest("running")
        except BaseException:
            run.close()
            raise
        return run

    def _lock(self) -> None:
        self._acquire()
        self._claim()

    def _acquire(self, create: bool = True) -> bool:
        """Take the OS lock of the directory, held for the run's life: the kernel drops it when
        the process dies, so a killed run never leaves a lock that blocks its resume, and two live
        processes never share a directory. Without `create`, a missing lock file is left alone."""
        path = self.dir / ".lock"
        if not create and not path.exists():
            return False
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise UsageError(f"cannot lock {self.dir}: {e.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise UsageError(f"{self.dir} is in use by process {holder}") from None
        self._lock_fd = fd
        return True

    def _claim(self) -> None:
        """Write our PID into the held lock file (for the "in use by" message of others)."""
        fd = self._lock_fd
        previous = os.pread(fd, 32, 0).decode(errors="replace").strip()
        if previous.isdigit() and int(previous) != os.getpid() and not _pid_alive(int(previous)):
            print(f"dlcourse: {self.dir}: process {previous}, which held the lock, is gone; lock recovered",
                  file=sys.stderr)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)  # an empty lock file: nobody holds it
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    # -- what lessons call ------------------------------------------------------------------------

    def log(self, step: int, split: str, **values: float) -> None:
        """Append metric points; cheap enough to call every few steps, not every step."""
        phase = self._active.name if self._active is not None else None
        records = [{"phase": phase, "step": int(step), "split": split, "name": k, "value": float(v)}
                   for k, v in values.items()]
        if self._active is not None:
            self._active.log.extend(records)
        if not self.writer:
            return
        self._append(records)
        if self._tensorboard is not None:
            prefix = f"{phase}/" if phase else ""
            for name, value in values.items():
                self._tensorboard.add_scalar(f"{prefix}{split}/{name}", float(value), int(step))

    def figure(self, fig, name: str) -> Path:
        """Save a matplotlib figure as figures/<name>.png (atomically) and close it."""
        import matplotlib.pyplot as plt

        path = self.dir / "figures" / f"{name}.png"
        if not self.writer:
            plt.close(fig)
            return path
        if self.inline:
            from IPython.display import display

            display(fig)
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp.png")
        try:
            fig.savefig(tmp, dpi=90, bbox_inches="tight")
            if self._tensorboard is not None:
                self._tensorboard.add_figure(f"figures/{name}", fig, close=False)
            os.replace(tmp, path)
        except BaseException as e:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(f"no space left on {path.parent} (writing {path.name})") from None
            raise
        finally:
            plt.close(fig)
        return path

    def text(self, name: str, text: str) -> Path:
        """Save a text result (decoded samples, a table) as texts/<name>.txt; `dlcourse run` prints it."""
        path = self.dir / "texts" / f"{name}.txt"
        if self.writer:
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, text if text.endswith("\n") else text + "\n")
        return path

    def phase(self, name: str, models=None, optimizers=None, generators=None) -> checkpoint.Phase:
        """A resumable phase of training (see dlcourse.checkpoint): `with run.phase(...) as ph:`."""
        return checkpoint.Phase(self, name, models, optimizers, generators)

    # -- what checkpoint.Phase calls --------------------------------------------------------------

    def _enter_phase(self, phase: checkpoint.Phase) -> None:
        if self._active is not None:
            raise RuntimeError(f"phase {phase.name!r} started inside phase {self._active.name!r}")
        self._active = phase

    def _leave_phase(self, phase: checkpoint.Phase) -> None:
        self._active = None

    def _restore_phase(self, name: str):
        return self._restorable.pop(name, None)

    def _replay(self, records: list[dict]) -> None:
        if self.writer and records:
            self._append(records)

    def _save_phase(self, name: str, tensors: dict, meta: dict) -> None:
        meta = {**meta, "phase": name, "config_hash": self._config_hash()}
        blob = checkpoint.encode(tensors, meta)
        checkpoint.save_file(self.dir / "checkpoint", f"{name}.safetensors", blob, atomic_write)
        _maybe_crash_for_tests()

    def checkpoint_path(self, phase: str) -> Path:
        return self.dir / "checkpoint" / f"{phase}.safetensors"

    def _append(self, records: list[dict]) -> None:
        try:
            with open(self.dir / "metrics.jsonl", "a") as f:
                f.write("".join(json.dumps(r) + "\n" for r in records))
        except OSError as e:
            if e.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFull(f"no space left on {self.dir} (writing metrics.jsonl)") from None
            raise

    def _config_hash(self) -> str:
        return config_hash(self.experiment, self.profile, dataclasses.asdict(self.config), self.seed)

    # -- the end ----------------------------------------------------------------------------------

    def _write_manifest(self, status: str, **extra) -> None:
        manifest = {
            "experiment": self.experiment, "profile": self.profile, "seed": self.seed,
            "status": status, "resumed": self.resumed,
            "dlcourse": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "numpy": np.__version__, "threads": torch.get_num_threads(), "device": str(self.device),
            "host_cpu": _cpu_name(), "platform": platform.platform(), "git_revision": _git_revision(),
            "command": sys.argv, "amp": self.amp, "world_size": _world_size(),
            "start": dt.datetime.fromtimestamp(self._started, dt.timezone.utc).isoformat(timespec="seconds"),
            **extra,
        }
        if self.device.type == "cuda":
            manifest["cuda_device"] = torch.cuda.get_device_name(self.device)
        write_json(self.dir / "manifest.json", manifest)

    def interrupted(self, status: str = "interrupted") -> None:
        """Ctrl-C, SIGTERM or a full disk: say so in the manifest (best effort) and release the lock."""
        if self.writer:
            with contextlib.suppress(OSError, UsageError):
                self._write_manifest(status, end=_utc_now(), wall_seconds=round(time.time() - self._started, 3))
        self.close()

    def finish(self, status: str, metrics: dict[str, float], targets: list[dict], controls: list[dict],
               passed: bool, error: str | None = None) -> dict:
        seconds = time.time() - self._started
        summary = {"experiment": self.experiment, "profile": self.profile, "seed": self.seed,
                   "status": status, "seconds": round(seconds, 3), "metrics": metrics,
                   "targets": targets, "controls": controls, "passed": passed}
        if error:
            summary["error"] = error
        if self.writer:
            write_json(self.dir / "summary.json", summary)
            self._write_manifest(status, end=_utc_now(), wall_seconds=round(seconds, 3))
        self.close()
        return summary


    def check(self, metrics: dict[str, float]):
        """A notebook's last cell: check the lesson's targets and controls, write summary.json and
        show the table; an AssertionError if a target is missed or a control reaches its target."""
        from dlcourse import registry
        from dlcourse.result import LessonResult
        from dlcourse.runner import finish

        summary = LessonResult(finish(self, registry.info(self.experiment), self.profile, "ok",
                                      {k: float(v) for k, v in metrics.items()}, None))
        summary["dir"] = str(self.dir)
        if not summary["passed"]:
            raise AssertionError(f"{self.experiment}: {summary['status']}\n{summary!r}")
        return summary


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


# --- fault injection for the tests: real failures at deterministic points, no sleeps ---------------

_checkpoints_written = 0


def _maybe_crash_for_tests() -> None:
    """Real signals at deterministic points, for the tests (no sleeps, no timing):
    DLCOURSE_KILL_AFTER_CHECKPOINTS=N    the process SIGKILLs itself right after its N-th checkpoint;
    DLCOURSE_SIGNAL_AFTER_CHECKPOINTS=SIG:N  it sends itself SIGINT or SIGTERM there instead;
    DLCOURSE_SIGNAL_PARENT_AFTER_CHECKPOINTS=SIG:N  it sends the signal to its parent (a Ctrl-C
    reaching `verify --jobs`)."""
    import signal

    global _checkpoints_written
    _checkpoints_written += 1
    limit = os.environ.get("DLCOURSE_KILL_AFTER_CHECKPOINTS")
    if limit and _checkpoints_written >= int(limit):
        os.kill(os.getpid(), signal.SIGKILL)
    for var, pid in (("DLCOURSE_SIGNAL_AFTER_CHECKPOINTS", os.getpid()),
                     ("DLCOURSE_SIGNAL_PARENT_AFTER_CHECKPOINTS", os.getppid())):
        name, _, at = os.environ.get(var, "").partition(":")
        if at and _checkpoints_written == int(at):
            os.kill(pid, getattr(signal, f"SIG{name}"))
