"""Checkpoints and resumable phases.

A lesson trains in *phases* ("linear", "relu", "controller", ...). A phase saves everything needed to
continue exactly (weights, optimizer state, RNG states, the step, its metric lines, anything else the
loop carries) to `checkpoint/<phase>.safetensors`, and on `--resume` it restores all of that and
continues at the same step, so the run ends with the metrics of an uninterrupted one. A phase that
had finished is restored whole (weights and result) and not run again.

    with run.phase("controller", models={"net": net}, optimizers={"opt": opt}, generators={"g": g}) as ph:
        for step in ph.steps(cfg.iterations):
            ...                              # one step of training; run.log(...) as usual
        if ph.result is None:                # not restored from a finished checkpoint
            ph.result = {"dock_rate": evaluate(net)}
    result = ph.result

Integrity: `checkpoint/index.json` records the SHA-256 of every checkpoint file. A file that does not
match (a flipped byte, an edited weight or step) is refused on resume, naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
from torch import nn

from dlcourse.errors import UsageError

FORMAT = 2
INDEX = "index.json"


# --- state: modules, optimizers and generators flattened to (tensors, JSON-able meta) -------------

def pack_state(step: int, models: dict[str, nn.Module], optimizers: dict[str, torch.optim.Optimizer],
               generators: dict[str, torch.Generator], extra: dict | None = None):
    tensors = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    for name, g in generators.items():
        tensors[f"rng.gen.{name}"] = g.get_state()
    for name, m in models.items():
        for k, v in m.state_dict().items():
            tensors[f"model.{name}.{k}"] = v
    optim_meta = {}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = {}
        for pid, st in sd["state"].items():
            for k, v in st.items():
                if isinstance(v, torch.Tensor):
                    tensors[f"optim.{name}.{pid}.{k}"] = v
                else:
                    scalars.setdefault(str(pid), {})[k] = v
        optim_meta[name] = {"param_groups": sd["param_groups"], "scalars": scalars}
    return tensors, {"step": step, "optimizers": optim_meta, **(extra or {})}


def unpack_state(tensors: dict[str, torch.Tensor], meta: dict, models: dict[str, nn.Module],
                 optimizers: dict[str, torch.optim.Optimizer], generators: dict[str, torch.Generator]) -> int:
    """Inverse of pack_state: load everything back in place and return the step."""
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    for name, g in generators.items():
        g.set_state(tensors[f"rng.gen.{name}"])
    for name, m in models.items():
        prefix = f"model.{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        device = next(m.parameters(), torch.empty(0)).device
        m.load_state_dict({k: v.to(device) for k, v in state.items()})
    for name, opt in optimizers.items():
        om = meta["optimizers"][name]
        state: dict[int, dict] = {}
        for pid, scalars in om["scalars"].items():
            state.setdefault(int(pid), {}).update(scalars)
        prefix = f"optim.{name}."
        for k, v in tensors.items():
            if k.startswith(prefix):
                pid, key = k[len(prefix):].split(".", 1)
                state.setdefault(int(pid), {})[key] = v
        opt.load_state_dict({"state": state, "param_groups": om["param_groups"]})
    return int(meta["step"])


# --- files ----------------------------------------------------------------------------------------

def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode(tensors: dict[str, torch.Tensor], meta: dict) -> bytes:
    from safetensors.torch import save

    return save({k: v.detach().cpu().contiguous() for k, v in tensors.items()},
                metadata={"dlcourse": json.dumps({**meta, "format": FORMAT}, default=_jsonable)})


def decode(blob: bytes, where: Path) -> tuple[dict[str, torch.Tensor], dict]:
    from safetensors import SafetensorError
    from safetensors.torch import load

    try:
        tensors = load(blob)
        (n,) = struct.unpack("<Q", blob[:8])
        meta = json.loads(json.loads(blob[8:8 + n])["__metadata__"]["dlcourse"])
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT}")
        for key in ("step", "log", "finished", "config_hash"):
            if key not in meta:
                raise KeyError(key)
    except (SafetensorError, OSError, ValueError, KeyError, TypeError, struct.error) as e:
        raise UsageError(f"checkpoint {where} is corrupt or not a dlcourse checkpoint ({e})") from None
    return tensors, meta


def read_index(folder: Path) -> dict[str, list[str]]:
    """{file name: accepted SHA-256s}. Two hashes are accepted only while a save is under way."""
    path = Path(folder) / INDEX
    if not path.exists():
        return {}
    try:
        index = json.loads(path.read_text())
        files = index["files"]
        if not isinstance(files, dict) or not all(isinstance(v, list) for v in files.values()):
            raise ValueError("bad files table")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise UsageError(f"checkpoint index {path} is corrupt ({e})") from None
    return files


def verify(folder: Path, config_hash: str) -> dict[str, tuple[dict, dict]]:
    """Every checkpoint of a run directory, checked before anything is written: present in the
    index, matching its SHA-256, well-formed, and of this configuration. {phase: (tensors, meta)}."""
    folder = Path(folder)
    index = read_index(folder)
    found = {p.name for p in folder.glob("*.safetensors")} if folder.is_dir() else set()
    unlisted = sorted(found - set(index))
    if unlisted:
        raise UsageError(f"checkpoint {folder / unlisted[0]} is not recorded in {folder / INDEX}; "
                         "refusing to resume from a file this run did not write")
    out = {}
    for name, hashes in sorted(index.items()):
        path = folder / name
        if not path.exists():
            raise UsageError(f"checkpoint {path} is recorded in {folder / INDEX} but missing")
        blob = path.read_bytes()
        if sha256(blob) not in hashes:
            raise UsageError(f"checkpoint {path} does not match its recorded SHA-256 (changed or damaged "
                             "after it was written); refusing to resume from it")
        tensors, meta = decode(blob, path)
        if meta["config_hash"] != config_hash:
            raise UsageError(f"checkpoint {path} belongs to a different configuration; refusing to resume")
        out[path.stem] = (tensors, meta)
    return out


def save_file(folder: Path, name: str, blob: bytes, write) -> None:
    """Write a checkpoint so that a kill at any instant leaves a file the index accepts: the index
    first accepts both the old and the new hash, then the file is replaced, then only the new one."""
    index = read_index(folder)
    new = sha256(blob)
    index[name] = sorted({new, *index.get(name, [])})
    write(folder / INDEX, json.dumps({"format": FORMAT, "files": index}, indent=1))
    write(folder / name, blob)
    index[name] = [new]
    write(folder / INDEX, json.dumps({"format": FORMAT, "files": index}, indent=1))


def _jsonable(x):
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return x.item()
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    if isinstance(x, (tuple, set)):
        return list(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


# --- phases ---------------------------------------------------------------------------------------

class Phase:
    """One resumable stretch of training; see the module docstring. Without a run (the library used
    on its own) a phase only counts steps: nothing is saved or restored."""

    def __init__(self, run, name: str, models: dict[str, nn.Module] | None = None,
                 optimizers: dict[str, torch.optim.Optimizer] | None = None,
                 generators: dict[str, torch.Generator] | None = None):
        self.run, self.name = run, name
        self.models, self.optimizers, self.generators = dict(models or {}), dict(optimizers or {}), dict(generators or {})
        self.step = 0
        self.result: dict | None = None
        self.finished = False
        self.state: dict[str, Any] = {}  # JSON-able values the loop carries (best score so far, ...)
        self.tensors: dict[str, torch.Tensor] = {}  # tensors it carries (best weights, running sums)
        self.log: list[dict] = []
        self.on_save: Callable[[], None] | None = None  # fills state/tensors just before a save
        self._entered = False
        self._stopping = False
        self._saved_at = time.monotonic()

    def track(self, models=None, optimizers=None, generators=None) -> "Phase":
        """Add what the phase saves and restores, before it is entered (train.fit uses this)."""
        if self._entered:
            raise RuntimeError("track() after the phase started")
        self.models.update(models or {})
        self.optimizers.update(optimizers or {})
        self.generators.update(generators or {})
        return self

    def __enter__(self) -> "Phase":
        self._entered = True
        if self.run is not None:
            self.run._enter_phase(self)
            restored = self.run._restore_phase(self.name)
            if restored is not None:
                self._restore(*restored)
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if kind is None and self.run is not None and not self.finished:
                self.finished = True
                self.save()
        finally:
            if self.run is not None:
                self.run._leave_phase(self)

    def steps(self, total: int, every: int | None = None) -> Iterator[int]:
        """Yield the steps still to run, from where a restored phase left off, saving a checkpoint
        every `every` steps (default: a tenth of the phase) and showing progress on a terminal."""
        if self.finished:
            return
        every = every or max(1, total // 10)
        bar = self._progress(total)
        try:
            while self.step < total and not self._stopping:
                yield self.step
                self.step += 1
                if bar is not None:
                    bar.update(1)
                if self.step % every == 0 and self.step < total and not self._stopping:
                    self.maybe_save()
        finally:
            if bar is not None:
                bar.close()

    def stop(self) -> None:
        """End the loop of `steps` after the current step (early stopping), instead of `break`."""
        self._stopping = True

    def maybe_save(self) -> None:
        """Save unless the last save was very recent: on a fast lesson the checkpoint writes would
        cost more than the training (DLCOURSE_CHECKPOINT_SECONDS, default 1; 0 = every time)."""
        if self.run is None or not self.run.writer:
            return
        gap = float(os.environ.get("DLCOURSE_CHECKPOINT_SECONDS", "1"))
        if time.monotonic() - self._saved_at >= gap:
            self.save()

    def save(self) -> None:
        if self.run is None or not self.run.writer:
            return
        if self.on_save is not None:
            self.on_save()
        tensors, meta = pack_state(self.step, self.models, self.optimizers, self.generators)
        tensors.update({f"carry.{k}": v for k, v in self.tensors.items()})
        meta.update(result=self.result, finished=self.finished, state=self.state, log=self.log)
        self.run._save_phase(self.name, tensors, meta)
        self._saved_at = time.monotonic()

    def _restore(self, tensors: dict, meta: dict) -> None:
        try:
            self.step = unpack_state(tensors, meta, self.models, self.optimizers, self.generators)
        except (KeyError, RuntimeError, ValueError) as e:
            raise UsageError(f"checkpoint of phase {self.name!r} does not match this lesson's model: {e}") from None
        self.tensors = {k[len("carry."):]: v for k, v in tensors.items() if k.startswith("carry.")}
        self.result, self.finished = meta["result"], bool(meta["finished"])
        self.state, self.log = dict(meta.get("state") or {}), list(meta["log"])
        self.run._replay(self.log)

    def _progress(self, total: int):
        run = self.run
        if run is None or run.quiet or not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        return tqdm(total=total, initial=self.step, desc=f"{run.experiment}:{self.name}", leave=False,
                    dynamic_ncols=True, mininterval=0.5)
