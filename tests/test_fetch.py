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
    connection half-way through the first request; /endless/F sends bytes without a Content-Length
    (100 x GOOD, then it gives up, so that a client without a cap still ends); /huge/F announces a
    terabyte; /slow/F trickles GOOD one byte every 20 ms; /norange/F serves GOOD whole whatever Range
    asks for; anything else is 404."""

    def __init__(self):
        self.requests = []
        self.cut_once = True
        self.stop = threading.Event()  # ends the trickle when the test is over
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                kind = self.path.split("/")[1]
                if kind in ("endless", "huge", "slow"):
                    self.misbehave(kind)
                    return
                body = {"good": GOOD, "cut": GOOD, "norange": GOOD, "bad": b"x" * len(GOOD)}.get(kind)
                if body is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range") and kind != "norange":
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

            def misbehave(self, kind):
                self.send_response(200)
                if kind != "endless":
                    self.send_header("Content-Length", str(10**12 if kind == "huge" else len(GOOD)))
                self.end_headers()
                try:
                    if kind == "endless":
                        for _ in range(100):
                            self.wfile.write(GOOD)
                    elif kind == "huge":
                        self.wfile.write(GOOD)
                    else:
                        for byte in GOOD:
                            if server.stop.wait(0.02):
                                break
                            self.wfile.write(bytes([byte]))
                            self.wfile.flush()
                except OSError:  # the client hung up, as it should
                    pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop.set()
    s.httpd.shutdown()


def dataset(**kw):
    return fetch.Dataset("toy", {"a.bin": (SHA, len(GOOD)), "b.bin": (SHA, len(GOOD))}, (), **kw)


def quiet(*_):
    pass


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


def test_server_ignoring_range_starts_over(server, tmp_path):
    (tmp_path / "a.bin.part").write_bytes(GOOD[:1000])
    fetch.fetch(dataset(), tmp_path, (f"{server.base}/norange/",), log=quiet)
    assert (tmp_path / "a.bin").read_bytes() == GOOD
    assert [p for p, _ in server.requests].count("/norange/a.bin") == 1


def test_offline_message_says_what_to_place_where(tmp_path):
    with pytest.raises(UsageError) as e:
        fetch.fetch(dataset(), tmp_path, ("http://127.0.0.1:9/",), timeout=2, log=lambda *_: None)
    msg = str(e.value)
    assert str(tmp_path) in msg and "a.bin" in msg and "b.bin" in msg and SHA in msg


def test_archive_is_unpacked(server, tmp_path):
    ds = archive(tmp_path, (tarfile.TarInfo("aclImdb/train/pos/0_9.txt"), b"a fine film"))
    fetch.fetch(ds, tmp_path, (f"{server.base}/missing/",), log=quiet)
    assert (tmp_path / "aclImdb" / "train" / "pos" / "0_9.txt").read_text() == "a fine film"


def test_known_data_sets_and_unknown_name():
    assert set(fetch.DATASETS) == {"mnist", "fashion-mnist", "imdb"}
    assert all(len(h) == 64 and n > 0 for ds in fetch.DATASETS.values() for h, n in ds.files.values())
    with pytest.raises(UsageError, match="mnist"):
        fetch.get("cifar")


def test_endless_body_is_cut_at_the_expected_size(server, tmp_path):
    with pytest.raises(UsageError, match="more than") as e:
        fetch.fetch(dataset(), tmp_path, (f"{server.base}/endless/",), log=quiet)
    assert "a.bin" in str(e.value)
    assert not (tmp_path / "a.bin.part").exists(), "an oversized download is garbage: discarded"
    assert [p for p, _ in server.requests].count("/endless/a.bin") == 1, "and not retried"


def test_announced_oversize_is_refused_before_reading(server, tmp_path):
    with pytest.raises(UsageError, match="announces 1000000000000 bytes"):
        fetch.fetch(dataset(), tmp_path, (f"{server.base}/huge/",), log=quiet)
    assert not (tmp_path / "a.bin.part").exists()


def test_trickle_hits_the_deadline_and_keeps_the_part(server, tmp_path):
    # 1 byte per 20 ms never trips a 30 s socket timeout; only the per-file deadline ends it.
    with pytest.raises(UsageError, match="deadline") as e:
        fetch.fetch(dataset(), tmp_path, (f"{server.base}/slow/",), deadline=0.2, log=quiet)
    assert "resumed next time" in str(e.value)
    assert (tmp_path / "a.bin.part").exists(), "what arrived is kept for the next run to resume"


def test_slow_mirror_gives_way_to_the_next(server, tmp_path):
    fetch.fetch(dataset(), tmp_path, (f"{server.base}/slow/", f"{server.base}/good/"), deadline=0.2, log=quiet)
    assert fetch.status(dataset(), tmp_path) == {"a.bin": "ok", "b.bin": "ok"}


@pytest.mark.parametrize("below", ["", "sub"])
def test_dir_that_is_a_file_is_a_usage_error(tmp_path, below):
    (tmp_path / "x").write_text("not a folder")
    with pytest.raises(UsageError, match="not a folder"):
        fetch.fetch(dataset(), tmp_path / "x" / below, ("http://127.0.0.1:9/",), log=quiet)


def test_cli_dir_that_is_a_file_is_one_line(tmp_path, capsys):
    from dlcourse import cli

    (tmp_path / "x").write_text("not a folder")
    assert cli.main(["data", "fetch", "mnist", "--dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(tmp_path / "x") in err and "Traceback" not in err


def archive(tmp_path, *members) -> fetch.Dataset:
    """Write t.tar.gz with `members` (TarInfo, bytes or None) into tmp_path; its checked Dataset."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    blob = buf.getvalue()
    (tmp_path / "t.tar.gz").write_bytes(blob)
    return fetch.Dataset("toy", {"t.tar.gz": (hashlib.sha256(blob).hexdigest(), len(blob))}, (), extract=True)


def link(name, target, kind=tarfile.SYMTYPE):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


# (An absolute member name is no escape: the "data" filter re-roots it inside the folder.)
@pytest.mark.parametrize("bad", [(tarfile.TarInfo("../evil.txt"), b"x"),
                                 (link("aclImdb/passwd", "/etc/passwd"), None),
                                 (link("aclImdb/up", "../../.."), None),
                                 (link("aclImdb/hard", "../evil.txt", tarfile.LNKTYPE), None)])
def test_archive_members_outside_the_folder_are_refused(tmp_path, bad):
    folder = tmp_path / "d"
    folder.mkdir()
    ds = archive(folder, (tarfile.TarInfo("aclImdb/train/pos/0_9.txt"), b"fine"), bad)
    with pytest.raises(UsageError, match="outside|absolute|refus") as e:
        fetch.fetch(ds, folder, ("http://127.0.0.1:9/",), log=quiet)
    assert bad[0].name in str(e.value)
    assert not (folder / "aclImdb").exists(), "nothing is unpacked from an archive that has a bad member"
    assert not (tmp_path / "evil.txt").exists()


def test_corrupt_archive_is_a_usage_error(tmp_path):
    blob = b"\x1f\x8b" + b"not really gzip" * 10  # its checksum is right: the archive itself is broken
    (tmp_path / "t.tar.gz").write_bytes(blob)
    ds = fetch.Dataset("toy", {"t.tar.gz": (hashlib.sha256(blob).hexdigest(), len(blob))}, (), extract=True)
    with pytest.raises(UsageError, match="cannot unpack t.tar.gz"):
        fetch.fetch(ds, tmp_path, ("http://127.0.0.1:9/",), log=quiet)
