"""The HTML report, rendered by a real headless Chromium: not blank, every title and result in the
page text, no horizontal overflow at phone width, no external resources."""

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import matplotlib.image
import pytest

from dlcourse import registry, report
from dlcourse.i18n import set_language
from dlcourse.runner import run_experiment

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    run_experiment("spiral", "quick", out=root)
    run_experiment("spiral", "quick", overrides={"epochs": "2"}, out=root)  # the newest one: a failed run
    set_language("en")
    return report.write(report.latest_runs(root), root / "report.html")


def chromium(tmp_path, *args):
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is required in CI (.ci/run installs Debian's chromium)")
        pytest.skip("chromium not installed (apt-get install chromium); CI runs this test")
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--no-first-run", "--disable-component-update", "--disable-sync", "--disable-quic",
           f"--user-data-dir={tmp_path / 'profile'}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_report_is_self_contained(report_file):
    text = report_file.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text), "no external assets"
    assert text.count("data:image/png;base64,") >= 1  # the lesson's figure
    assert "<polyline" in text  # its metric curves, drawn as inline SVG


def test_report_renders_with_titles_and_results(report_file, tmp_path):
    shot = tmp_path / "shot.png"
    chromium(tmp_path, "--window-size=1200,1600", f"--screenshot={shot}", report_file.as_uri())
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.05, "the screenshot is blank"
    dom = chromium(tmp_path, "--dump-dom", report_file.as_uri()).stdout
    for lesson in registry.lessons():
        assert lesson.title in dom
    spiral = dom[dom.index('id="spiral"'):]
    assert "FAIL" in spiral[:3000] and "relu/train_acc" in spiral[:3000]  # the newest run, which failed


def test_report_fits_a_phone_screen(report_file, tmp_path):
    probe = tmp_path / "probe.html"
    probe.write_text(report_file.read_text().replace(
        "</body>", "<script>document.body.dataset.overflow ="
        " document.documentElement.scrollWidth > window.innerWidth;</script></body>"))
    dom = chromium(tmp_path, "--window-size=390,844", "--dump-dom", probe.as_uri()).stdout
    assert 'data-overflow="false"' in dom


def test_report_in_japanese(report_file, tmp_path):
    set_language("ja")
    try:
        page = report.build(report.latest_runs(report_file.parent))
    finally:
        set_language("en")
    assert 'lang="ja"' in page and "第2週" in page


def test_crafted_summaries_are_escaped_or_skipped(tmp_path, capsys):
    root = tmp_path / "runs"
    summary = run_experiment("spiral", "quick", overrides={"epochs": "5"}, out=root)
    run_dir = Path(summary["dir"])
    data = json.loads((run_dir / "summary.json").read_text())
    data["profile"] = "<script>alert(1)</script>"
    data["targets"][0]["metric"] = "<img src=x onerror=alert(2)>"
    (run_dir / "summary.json").write_text(json.dumps(data))
    page = report.build([run_dir])
    assert "<script>alert" not in page and "<img src=x" not in page and "&lt;script&gt;" in page
    for bad in ({}, [], {"experiment": "spiral", "profile": 3}, {"experiment": "spiral", "profile": "quick",
                "passed": True, "seconds": 1, "status": "ok", "metrics": {"a": "x"}}):
        (run_dir / "summary.json").write_text(json.dumps(bad))
        page = report.build([run_dir])
        assert "spiral" in page
        assert "skipping" in capsys.readouterr().err
    (run_dir / "metrics.jsonl").write_text('[]\n{"name": 1}\n{}\n')
    report.build([run_dir])
