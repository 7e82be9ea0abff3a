"""Two real nights of the canary suite on the default Debian kernel (real guests): the first fails on the canary's
WARNING and says so first; the second, with an expectations file naming that crash, passes with it as xfail, says the
crash was first seen the night before, quarantines the canary's flaky subtest (failed and passed on one kernel, two
nights running: known flaky, with its rate) and writes KCIDB that kcidb-io accepts."""
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import kcidb_io
import pytest

from tests.helpers import run_harness

pytestmark = pytest.mark.guest

CANARY = ["--suite", "suites/canary/canary.toml", "-k", "pass or warning or flaky"]


def test_two_nights_new_failure_then_expected_crash_with_kcidb(tmp_path: Path) -> None:
    out = tmp_path / "nights"
    first = run_harness("nightly", "--out", str(out), *CANARY, timeout=900)
    assert first.returncode == 1, first.stdout[-3000:] + first.stderr[-2000:]
    (night1,) = [p for p in out.iterdir() if p.is_dir()]
    summary1 = json.loads((night1 / "summary.json").read_text())
    assert summary1["changes"]["new_failures"] == ["prebuilt:canary/warning"]
    assert summary1["changes"]["new_flaky"] == ["prebuilt:canary/flaky"]
    assert summary1["known_flaky"] == {} and summary1["quarantine"] == []  # one failure: too little to tell
    text = (night1 / "summary.txt").read_text().splitlines()
    assert text[0].startswith(f"night {night1.name}: UNEXPECTED FAILURES") and text[1:3] == [
        "new failures: 1", "  prebuilt:canary/warning"]
    mode = night1 / "prebuilt"
    for artifact in ("results.ktap", "results.json", "junit.xml", "kernel.config", "kernel.json",
                     "tests/canary__warning.txt", "logs/canary/round-1/console.log"):
        assert (mode / artifact).is_file(), artifact
    assert "WARNING" in (mode / "tests/canary__warning.txt").read_text()

    expect = tmp_path / "expect.toml"
    expect.write_text('[[crash]]\nfingerprint = "canary_warning"\nreason = "the canary warns on purpose"\n'
                      '[[failure]]\ntest = "canary/pass"\nreason = "an entry that can go"\n'
                      '[[failure]]\ntest = "canary/flaky"\nreason = "old"\nexpires = 2020-01-01\n')
    second = run_harness("nightly", "--out", str(out), *CANARY, "--expectations", str(expect),
                         "--kcidb", str(tmp_path / "kcidb.json"), timeout=900)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-2000:]
    (night2,) = [p for p in out.iterdir() if p.is_dir() and p != night1]
    summary2 = json.loads((night2 / "summary.json").read_text())
    assert summary2["previous"] == night1.name
    assert {t: s for t, s in summary2["tests"].items()} == {
        "prebuilt:canary/pass": "xpass", "prebuilt:canary/warning": "xfail", "prebuilt:canary/flaky": "flaky"}
    assert summary2["changes"]["new_failures"] == [] and summary2["changes"]["new_crashes"] == []
    assert summary2["changes"]["new_flaky"] == [] and list(summary2["known_flaky"]) == ["prebuilt:canary/flaky"]
    assert summary2["known_flaky"]["prebuilt:canary/flaky"].startswith("2 failed of 4 (50 %, 95 %: 15-85 %)")
    assert summary2["quarantine"][0].startswith("quarantined: prebuilt:canary/flaky: 2 failed of 4")
    assert "known flaky, failing tonight: 1\n  prebuilt:canary/flaky flaky: 2 failed of 4" in \
        (night2 / "summary.txt").read_text()
    assert 'test = "canary/flaky"' in (out / "known-flaky.toml").read_text()
    assert f"crash (prebuilt): warning [canary_warning] seen first on {night1.name}; known: the canary warns on purpose" \
        in second.stdout
    assert "the entry for canary/flaky expired on 2020-01-01" in second.stdout
    assert "# TODO expected: the canary warns on purpose" in (night2 / "prebuilt/results.ktap").read_text()
    skipped = ET.parse(night2 / "prebuilt/junit.xml").getroot().find(".//testcase[@name='canary/warning']/skipped")
    assert skipped is not None and skipped.get("message", "").startswith("xfail: expected")
    kcidb_io.schema.LATEST.validate(json.loads((tmp_path / "kcidb.json").read_text()))


def test_two_nightlies_started_at_once_into_one_dir_each_complete_their_own_night(tmp_path: Path) -> None:
    """Found at 1191709: both would pick the same free name (exists(), then mkdir) and one died on the mkdir, or
    their files mixed. Now each wins its own dir by mkdir; neither compares with the other, still running."""
    import subprocess
    import sys

    from tests.helpers import REPO_ROOT, pytest_env

    out = tmp_path / "nights"
    argv = [sys.executable, "-m", "harness", "nightly", "--out", str(out), "--suite", "suites/canary/canary.toml",
            "-k", "pass"]
    runs = [subprocess.Popen(argv, cwd=REPO_ROOT, env=pytest_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=900)[0] for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    nights = sorted(p for p in out.iterdir() if p.is_dir())
    assert len(nights) == 2 and nights[1].name == f"{nights[0].name}-2"
    summaries = {n.name: json.loads((n / "summary.json").read_text()) for n in nights}
    for name, summary in summaries.items():
        assert summary["modes"]["prebuilt"]["counts"] == {"passed": 1}, summary
        assert (out / name / "prebuilt" / "tests" / "canary__pass.txt").is_file()
        other = next(s for n, s in summaries.items() if n != name)
        # the night before is one that started earlier: never the other when it started at the same second or later
        assert summary["previous"] is None or (summary["previous"] == other["night"] and other["started"] < summary["started"])


PINGS = """name = "pings"
runner = "shell"
test = "pings"
timeout = 30
subtests = ["fails"]

[commands]
fails = "ping -c 2 -i 0.2 127.0.0.1; exit 1"

[capture]
fails = "tcpdump -i lo -s 128 -U --immediate-mode -w lo.pcap"
"""


def test_a_nights_failure_keeps_its_pcap_in_the_night_linked_from_the_dashboard_and_kcidb(tmp_path: Path) -> None:
    """--pcap in the nightly: the failing subtest's capture stays in the night's dir, KCIDB names it in the test's
    output_files (validated), and the dashboard's failing cell links it."""
    out, suite, kcidb = tmp_path / "nights", tmp_path / "pings.toml", tmp_path / "kcidb.json"
    suite.write_text(PINGS)
    night = run_harness("nightly", "--out", str(out), "--suite", str(suite), "--pcap", "--retries", "0",
                        "--history", "off", "--kcidb", str(kcidb), timeout=900)
    assert night.returncode == 1, night.stdout[-3000:] + night.stderr[-2000:]
    (here,) = [p for p in out.iterdir() if p.is_dir()]
    (failed,) = json.loads((here / "prebuilt/results.json").read_text())["tests"]
    (pcap,) = [Path(p) for p in failed["pcaps"]]
    assert pcap.is_file() and pcap.is_relative_to(here / "prebuilt/logs"), failed
    assert "[pcap] lo.pcap: 4 packets" in (here / "prebuilt/tests/pings__fails.txt").read_text()
    data = json.loads(kcidb.read_text())
    kcidb_io.schema.LATEST.validate(data)
    (test,) = [t for t in data["tests"] if t["path"] == "pings.fails"]
    assert test["output_files"] == [{"name": "lo.pcap", "url": pcap.resolve().as_uri()}]
    page = tmp_path / "site/index.html"
    assert run_harness("report", "--html", str(page), str(out)).returncode == 0
    links = re.findall(r'<a class="pcap" href="([^"]+)"', page.read_text())
    assert [(page.parent / href).resolve() for href in links] == [pcap.resolve()]
