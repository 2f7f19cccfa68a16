"""`dlcourse data fetch` against a local HTTP server on 127.0.0.1 that the test starts: mirrors,
404s, corrupt and truncated transfers, resume, checksums. Nothing leaves this machine."""

import hashlib
import http.server
import io
import tarfile
import threading

import pytest

from dlcourse.data import fetch
from dlcourse.registry import UsageError

GOOD = bytes(range(256)) * 400  # 100 kB
SHA = hashlib.sha256(GOOD).hexdigest()


class Server:
    """Routes: /good/F serves GOOD with Range support; /bad/F serves corrupt bytes; /cut/F drops the
    connection half-way through the first request; anything else is 404."""

    def __init__(self):
        self.requests = []
        self.cut_once = True
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                kind = self.path.split("/")[1]
                body = {"good": GOOD, "cut": GOOD, "bad": b"x" * len(GOOD)}.get(kind)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].rstrip("-"))
                    self.send_response(206)
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if kind == "cut" and server.cut_once:
                    server.cut_once = False
                    self.wfile.write(body[start:start + len(body) // 2])
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.httpd.shutdown()


def dataset(**kw):
    return fetch.Dataset("toy", {"a.bin": SHA, "b.bin": SHA}, (), **kw)


def test_first_mirror_404_second_serves(server, tmp_path):
    fetch.fetch(dataset(), tmp_path, (f"{server.base}/missing/", f"{server.base}/good/"), log=lambda *_: None)
    assert (tmp_path / "a.bin").read_bytes() == GOOD and (tmp_path / "b.bin").read_bytes() == GOOD
    assert fetch.status(dataset(), tmp_path) == {"a.bin": "ok", "b.bin": "ok"}
    n = len(server.requests)
    fetch.fetch(dataset(), tmp_path, (f"{server.base}/good/",), log=lambda *_: None)
    assert len(server.requests) == n, "verified files are not downloaded again"


def test_corrupt_mirror_is_rejected_by_checksum(server, tmp_path):
    fetch.fetch(dataset(), tmp_path, (f"{server.base}/bad/", f"{server.base}/good/"), log=lambda *_: None)
    assert fetch.sha256(tmp_path / "a.bin") == SHA
    with pytest.raises(UsageError, match="checksum mismatch"):
        fetch.fetch(dataset(), tmp_path / "other", (f"{server.base}/bad/",), log=lambda *_: None)
    assert not (tmp_path / "other" / "a.bin").exists()


def test_truncated_transfer_resumes_with_range(server, tmp_path):
    fetch.fetch(dataset(), tmp_path, (f"{server.base}/cut/",), log=lambda *_: None)
    assert (tmp_path / "a.bin").read_bytes() == GOOD
    ranges = [r for p, r in server.requests if p == "/cut/a.bin"]
    assert ranges[0] is None and ranges[1] == f"bytes={len(GOOD) // 2}-"


def test_offline_message_says_what_to_place_where(tmp_path):
    with pytest.raises(UsageError) as e:
        fetch.fetch(dataset(), tmp_path, ("http://127.0.0.1:9/",), timeout=2, log=lambda *_: None)
    msg = str(e.value)
    assert str(tmp_path) in msg and "a.bin" in msg and "b.bin" in msg and SHA in msg


def test_archive_is_unpacked_safely(server, tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("aclImdb/train/pos/0_9.txt")
        text = b"a fine film"
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    blob = buf.getvalue()
    ds = fetch.Dataset("toy", {"t.tar.gz": hashlib.sha256(blob).hexdigest()}, (), extract=True)
    (tmp_path / "t.tar.gz").write_bytes(blob)
    fetch.fetch(ds, tmp_path, (f"{server.base}/missing/",), log=lambda *_: None)
    assert (tmp_path / "aclImdb" / "train" / "pos" / "0_9.txt").read_text() == "a fine film"


def test_known_data_sets_and_unknown_name():
    assert set(fetch.DATASETS) == {"mnist", "fashion-mnist", "imdb"}
    assert all(len(h) == 64 for ds in fetch.DATASETS.values() for h in ds.files.values())
    with pytest.raises(UsageError, match="mnist"):
        fetch.get("cifar")
