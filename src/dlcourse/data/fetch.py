"""`dlcourse data fetch`: the one place that may touch the network, and only when asked.

Every lesson runs on generated or bundled data. Real data sets are optional extras that a user asks
for explicitly; this module downloads them from several mirrors, resumes a partial download
(HTTP Range), checks each file's SHA-256 and says exactly what to place where when it cannot.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dlcourse.registry import UsageError

CHUNK = 1 << 16


@dataclass(frozen=True)
class Dataset:
    name: str
    files: dict[str, str]  # file name -> SHA-256
    mirrors: tuple[str, ...]  # base URLs ending in "/"
    extract: bool = False  # unpack .tar.gz archives after checking them
    note: str = ""


DATASETS = {
    "mnist": Dataset("mnist", {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    }, ("https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/"),
        note="used by: dlcourse run convnet --set data_dir=DIR"),
    "fashion-mnist": Dataset("fashion-mnist", {
        "train-images-idx3-ubyte.gz": "08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc",
        "train-labels-idx1-ubyte.gz": "b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc",
        "t10k-images-idx3-ubyte.gz": "78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229",
        "t10k-labels-idx1-ubyte.gz": "42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf",
    }, ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        note="same IDX format as MNIST: dlcourse run convnet --set data_dir=DIR"),
    "imdb": Dataset("imdb", {
        "aclImdb_v1.tar.gz": "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    }, ("https://ai.stanford.edu/~amaas/data/sentiment/",), extract=True,
        note="unpacks to DIR/aclImdb: dlcourse run attention_transformer --set data_dir=DIR/aclImdb"),
}


def get(name: str) -> Dataset:
    if name not in DATASETS:
        raise UsageError(f"unknown data set {name!r}; choose from {', '.join(DATASETS)}")
    return DATASETS[name]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def status(ds: Dataset, directory: Path) -> dict[str, str]:
    """Per file: "ok", "missing", "partial" (a resumable .part exists) or "bad checksum"."""
    out = {}
    for fname, expected in ds.files.items():
        path = Path(directory) / fname
        if path.exists():
            out[fname] = "ok" if sha256(path) == expected else "bad checksum"
        elif path.with_name(fname + ".part").exists():
            out[fname] = "partial"
        else:
            out[fname] = "missing"
    return out


def _download(url: str, part: Path, timeout: float) -> None:
    """Append to `part` from where it stops (HTTP Range); start over if the server ignores Range."""
    have = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "dlcourse-fetch"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # fetch-command
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the part is already whole
            return
        raise
    with response:
        mode = "ab" if have and response.status == 206 else "wb"
        with open(part, mode) as f:
            while block := response.read(CHUNK):
                f.write(block)
        expected = response.headers.get("Content-Length")
        if expected is not None and response.status in (200, 206):
            if part.stat().st_size < int(expected) + (have if mode == "ab" else 0):
                raise ConnectionError("transfer ended early")


def fetch(ds: Dataset, directory: Path, mirrors: tuple[str, ...] | None = None, timeout: float = 30.0,
          log=print) -> Path:
    """Make every file of `ds` present and verified in `directory`; returns the directory."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    mirrors = mirrors or ds.mirrors
    for fname, expected in ds.files.items():
        target = directory / fname
        if target.exists() and sha256(target) == expected:
            log(f"{fname}: present, checksum ok")
            continue
        part = target.with_name(fname + ".part")
        errors = []
        for base in mirrors:
            url = base + fname
            for attempt in range(2):  # a dropped connection gets one resumed retry per mirror
                try:
                    _download(url, part, timeout)
                except (urllib.error.URLError, OSError, ConnectionError) as e:
                    errors.append(f"{url}: {getattr(e, 'reason', None) or e}")
                    if isinstance(e, urllib.error.HTTPError):
                        break
                    continue
                if sha256(part) == expected:
                    os.replace(part, target)
                    log(f"{fname}: downloaded from {base}, checksum ok")
                    break
                errors.append(f"{url}: checksum mismatch, discarded")
                part.unlink()
                break
            if target.exists():
                break
        if not target.exists():
            raise UsageError(_offline_message(ds, directory, fname, errors))
    if ds.extract:
        for fname in ds.files:
            if fname.endswith(".tar.gz"):
                with tarfile.open(directory / fname) as tar:
                    tar.extractall(directory, filter="data")  # no absolute paths or links out of DIR
                log(f"{fname}: unpacked into {directory}")
    return directory


def _offline_message(ds: Dataset, directory: Path, failed: str, errors: list[str]) -> str:
    lines = [f"could not fetch {failed} of {ds.name} from any mirror:"]
    lines += [f"  {e}" for e in errors]
    lines.append(f"Without network, copy these files into {directory} and run the command again:")
    lines += [f"  {f}  (sha256 {h})" for f, h in ds.files.items()]
    lines.append("A partial download (.part) is kept and resumed next time.")
    return "\n".join(lines)
