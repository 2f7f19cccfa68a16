"""Whole-file writes that a kill cannot leave half done, and JSON reading with clear errors.

Only the standard library: the CLI's fast commands (list, report) use this without importing torch.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
from pathlib import Path
from typing import Any

from dlcourse.errors import UsageError


class DiskFull(UsageError):
    """A write failed for lack of space (or quota): a usage problem, not a bug of the lesson."""


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write to a temporary file, then rename it over `path`: readers see the old or the new file,
    never half of one; on any failure (Ctrl-C, a full disk) the temporary file is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        _maybe_fail_write_for_tests(path)
        with open(tmp, "wb") as f:
            f.write(data.encode() if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"no space left on {path.parent} (writing {path.name}); "
                           "the last complete checkpoint is kept") from None
        raise


def write_json(path: Path, obj: Any) -> None:
    atomic_write(path, json.dumps(obj, indent=2, sort_keys=False, default=_jsonable) + "\n")


def _jsonable(x):
    if hasattr(x, "item") and getattr(x, "ndim", 0) == 0:  # numpy and torch scalars
        return x.item()
    if isinstance(x, (tuple, set)):
        return list(x)
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path} is missing") from None
    except IsADirectoryError:
        raise UsageError(f"{path} is a folder, not a file") from None
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UsageError(f"{path} is not valid JSON ({e})") from None


_writes = 0


def _maybe_fail_write_for_tests(path: Path) -> None:
    """Fault injection, DLCOURSE_DISK_FULL_AFTER=N: every atomic write after the N-th fails as on
    a full disk (a real OSError at a deterministic point, no sleeps, no special file system)."""
    global _writes
    limit = os.environ.get("DLCOURSE_DISK_FULL_AFTER")
    if limit is None:
        return
    _writes += 1
    if _writes > int(limit):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
