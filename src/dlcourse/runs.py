"""Run directories: what a run writes, written so that a killed run leaves a valid directory.

    runs/<experiment>/<UTC timestamp>-<8-hex config hash>/
        config.json     resolved config, profile, seed
        manifest.json   versions, threads, device, host, git revision, times, status
        metrics.jsonl   one JSON object per logged point: phase, step, split, name, value
        summary.json    final metrics and every target with its achieved value and pass/fail
        checkpoint/     <phase>.safetensors: weights, optimizer, RNG states, step, log so far
        figures/*.png

Every whole-file write goes to a temporary file that is then renamed over the old one, so readers
see the old or the new file, never half of one. A resumed run replays the lesson from the top; each
training phase restores itself from its checkpoint (see train.py), so the final metrics are the same
as those of an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import random
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlcourse import __version__
from dlcourse.registry import UsageError

CHECKPOINT_FORMAT = 1


def atomic_write(path: Path, data: bytes | str) -> None:
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(x):
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return x.item()
    if isinstance(x, (tuple, set)):
        return list(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise UsageError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid JSON ({e})") from None


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
    """One run directory. Experiments use `log`, `figure`, `device`, `seed`; train.fit uses the rest."""

    def __init__(self, path: Path, experiment: str, profile: str, config, seed: int, device: str,
                 resumed: bool = False):
        self.dir = Path(path)
        self.experiment, self.profile, self.config, self.seed = experiment, profile, config, seed
        self.device = torch.device(device)
        self.resumed = resumed
        self.phase: str | None = None
        self._phase_log: list[dict] = []
        self._started = time.time()
        self.quiet = False  # progress bars off (set by the CLI when not on a terminal)
        self._tensorboard = None
        # In data-parallel training every rank runs the lesson, but only rank 0 writes.
        self.writer = True
        self.amp = False  # mixed precision in train.fit (--amp)

    @classmethod
    def follower(cls, path: Path, experiment: str, profile: str, config, seed: int, device: str) -> "Run":
        """A non-zero rank's view of rank 0's run directory: reads checkpoints, writes nothing."""
        run = cls(path, experiment, profile, config, seed, device)
        run.writer, run.quiet = False, True
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
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        base = Path(root) / experiment
        base.mkdir(parents=True, exist_ok=True)
        name = f"{stamp}-{config_hash(experiment, profile, cfg, seed)}"
        for attempt in range(1000):  # mkdir is atomic: two runs at once never share a directory
            path = base / (name if attempt == 0 else f"{name}-{attempt + 1}")
            try:
                path.mkdir()
                break
            except FileExistsError:
                continue
        else:
            raise UsageError(f"could not create a fresh run directory under {base}")
        run = cls(path, experiment, profile, config, seed, device)
        (path / "figures").mkdir()
        (path / "checkpoint").mkdir()
        run._lock()
        write_json(path / "config.json", {"experiment": experiment, "profile": profile, "seed": seed,
                                          "device": device, "config": cfg})
        atomic_write(path / "metrics.jsonl", "")
        run._write_manifest("running")
        return run

    @staticmethod
    def read_resume_info(path: Path) -> dict:
        """Validate a directory to resume, before anything in it is touched."""
        path = Path(path)
        if not path.is_dir():
            raise UsageError(f"cannot resume {path}: no such run directory")
        info = read_json(path / "config.json")
        if not isinstance(info, dict) or not {"experiment", "profile", "seed", "config"} <= info.keys():
            raise UsageError(f"cannot resume {path}: config.json lacks experiment/profile/seed/config")
        for ckpt in sorted((path / "checkpoint").glob("*.safetensors")):
            _read_checkpoint(ckpt)  # raises UsageError if corrupt
        return info

    @classmethod
    def reopen(cls, path: Path, experiment: str, profile: str, config, seed: int, device: str) -> "Run":
        run = cls(path, experiment, profile, config, seed, device, resumed=True)
        run._lock()
        (run.dir / "figures").mkdir(exist_ok=True)
        (run.dir / "checkpoint").mkdir(exist_ok=True)
        # The replay rewrites the log: checkpointed phases restore their own lines (train.fit).
        atomic_write(run.dir / "metrics.jsonl", "")
        run._write_manifest("running")
        return run

    def _lock(self) -> None:
        lock = self.dir / ".lock"
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(lock.read_text().strip() or 0)
            except (OSError, ValueError):
                pid = 0
            if pid and pid != os.getpid() and _pid_alive(pid):
                raise UsageError(f"{self.dir} is in use by process {pid}") from None
            lock.unlink(missing_ok=True)  # left by a killed run
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)

    def close(self) -> None:
        if self._tensorboard is not None:
            self._tensorboard.close()
            self._tensorboard = None
        (self.dir / ".lock").unlink(missing_ok=True)

    # -- what experiments call --------------------------------------------------------------------

    def log(self, step: int, split: str, **values: float) -> None:
        """Append metric points; cheap enough to call every few steps, not every step."""
        if not self.writer:
            return
        lines = []
        for name, value in values.items():
            rec = {"phase": self.phase, "step": int(step), "split": split, "name": name, "value": float(value)}
            lines.append(json.dumps(rec))
            if self.phase is not None:
                self._phase_log.append(rec)
        with open(self.dir / "metrics.jsonl", "a") as f:
            f.write("\n".join(lines) + "\n")
        if self._tensorboard is not None:
            prefix = f"{self.phase}/" if self.phase else ""
            for name, value in values.items():
                self._tensorboard.add_scalar(f"{prefix}{split}/{name}", float(value), int(step))

    def figure(self, fig, name: str) -> Path:
        """Save a matplotlib figure as figures/<name>.png (atomically) and close it."""
        import matplotlib.pyplot as plt

        path = self.dir / "figures" / f"{name}.png"
        if not self.writer:
            plt.close(fig)
            return path
        tmp = path.with_name(f".{name}.{os.getpid()}.tmp.png")
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
        if self._tensorboard is not None:
            self._tensorboard.add_figure(f"figures/{name}", fig, close=False)
        plt.close(fig)
        os.replace(tmp, path)
        return path

    def text(self, name: str, text: str) -> Path:
        """Save a text result (decoded samples, a table) as texts/<name>.txt; `dlcourse run` prints it."""
        path = self.dir / "texts" / f"{name}.txt"
        if self.writer:
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, text if text.endswith("\n") else text + "\n")
        return path

    # -- phases and checkpoints (used by train.fit) -----------------------------------------------

    def checkpoint_path(self, phase: str) -> Path:
        return self.dir / "checkpoint" / f"{phase}.safetensors"

    @contextlib.contextmanager
    def in_phase(self, phase: str):
        if self.phase is not None:
            raise RuntimeError(f"phase {phase!r} started inside phase {self.phase!r}")
        self.phase, self._phase_log = phase, []
        try:
            yield
        finally:
            self.phase = None

    def save_checkpoint(self, tensors: dict[str, torch.Tensor], meta: dict) -> None:
        from safetensors.torch import save

        if not self.writer:
            return
        meta = {**meta, "format": CHECKPOINT_FORMAT, "phase": self.phase, "log": self._phase_log,
                "config_hash": self._config_hash()}
        blob = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                    metadata={"dlcourse": json.dumps(meta, default=_jsonable)})
        atomic_write(self.checkpoint_path(self.phase), blob)
        _maybe_crash_for_tests()

    def load_checkpoint(self) -> tuple[dict[str, torch.Tensor], dict] | None:
        """The current phase's checkpoint, or None. Its log lines go back into metrics.jsonl."""
        path = self.checkpoint_path(self.phase)
        if not path.exists():
            return None
        tensors, meta = _read_checkpoint(path)
        if meta.get("config_hash") != self._config_hash():
            raise UsageError(f"{path} belongs to a different configuration; refusing to resume from it")
        self._phase_log = list(meta["log"])
        if self._phase_log and self.writer:
            with open(self.dir / "metrics.jsonl", "a") as f:
                f.write("".join(json.dumps(r) + "\n" for r in self._phase_log))
        return tensors, meta

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
            "command": sys.argv, "amp": self.amp, "world_size": _world_size(), "start": dt.datetime.fromtimestamp(self._started, dt.timezone.utc)
            .isoformat(timespec="seconds"), **extra,
        }
        if self.device.type == "cuda":
            manifest["cuda_device"] = torch.cuda.get_device_name(self.device)
        write_json(self.dir / "manifest.json", manifest)

    def finish(self, status: str, metrics: dict[str, float], targets: list[dict], error: str | None = None):
        seconds = time.time() - self._started
        if not self.writer:
            return {"experiment": self.experiment, "profile": self.profile, "status": status,
                    "seconds": seconds, "metrics": metrics, "targets": targets,
                    "passed": status == "ok" and all(t["passed"] for t in targets)}
        summary = {"experiment": self.experiment, "profile": self.profile, "seed": self.seed,
                   "status": status, "seconds": round(seconds, 3), "metrics": metrics,
                   "targets": targets, "passed": status == "ok" and all(t["passed"] for t in targets)}
        if error:
            summary["error"] = error
        write_json(self.dir / "summary.json", summary)
        self._write_manifest(status, end=_utc_now(), wall_seconds=round(seconds, 3))
        self.close()
        return summary


def _world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


_checkpoints_written = 0


def _maybe_crash_for_tests() -> None:
    """Fault injection for the resume test: DLCOURSE_KILL_AFTER_CHECKPOINTS=N makes the process
    SIGKILL itself right after its N-th checkpoint, a real kill at a deterministic point."""
    global _checkpoints_written
    _checkpoints_written += 1
    limit = os.environ.get("DLCOURSE_KILL_AFTER_CHECKPOINTS")
    if limit and _checkpoints_written >= int(limit):
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _read_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        blob = Path(path).read_bytes()
        tensors = load(blob)
        (n,) = struct.unpack("<Q", blob[:8])
        meta = json.loads(json.loads(blob[8:8 + n])["__metadata__"]["dlcourse"])
        if meta.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"format {meta.get('format')!r}")
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, struct.error) as e:
        raise UsageError(f"checkpoint {path} is corrupt or not a dlcourse checkpoint ({e})") from None
    return tensors, meta
