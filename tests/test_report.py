"""Reports render the same decided results; KTAP is checked by the kernel's own kunit_tool parser."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.cli import main
from harness.results import Status
from tests.helpers import linux_source

DATA = Path(__file__).parent / "data" / "test_progs"
FAILING = str(DATA / "concurrent-unisolated-mptcpify-fail.log")
PASSING = str(DATA / "full-mptcp-7.3-ok.log")


def write_reports(tmp_path: Path, *logs: str) -> tuple[int, dict[str, str]]:
    paths = {k: tmp_path / f"r.{k}" for k in ("ktap", "junit", "json")}
    code = main(["parse", *logs, *(a for k, p in paths.items() for a in (f"--{k}", str(p)))])
    return code, {k: p.read_text() for k, p in paths.items()}


def test_json_has_every_subtest_with_status_and_duration(tmp_path: Path) -> None:
    code, out = write_reports(tmp_path, PASSING, FAILING)
    assert code == 1
    tests = json.loads(out["json"])["tests"]
    assert [(t["name"], t["status"]) for t in tests] == [
        ("mptcp/base", "passed"), ("mptcp/mptcpify", "passed"), ("mptcp/subflow", "passed"),
        ("mptcp/sockmap", "passed"), ("mptcp/mptcpify", "failed")]
    assert all(t["duration_s"] is None for t in tests)  # a saved log has no timing: null, not a made-up number


def test_junit_failure_carries_the_subtest_lines(tmp_path: Path) -> None:
    _, out = write_reports(tmp_path, FAILING)
    (case,) = ET.fromstring(out["junit"]).iter("testcase")
    (failure,) = case.iter("failure")
    assert case.get("name") == "mptcp/mptcpify"
    assert "test_mptcpify:FAIL:netns_new unexpected error: -2" in (failure.text or "")


def kunit_tool() -> Path:
    return linux_source() / "tools/testing/kunit/kunit.py"


def test_ktap_is_read_by_kunit_tool(tmp_path: Path) -> None:
    _, out = write_reports(tmp_path, FAILING)
    proc = subprocess.run([sys.executable, str(kunit_tool()), "parse", str(tmp_path / "r.ktap")],
                          capture_output=True, text=True)
    assert "[FAILED] mptcpify" in proc.stdout, proc.stdout + proc.stderr
    assert "Ran 1 tests: failed: 1" in proc.stdout


def test_ktap_of_a_nested_tap_log_with_timeout_keeps_kunit_tool_counts(tmp_path: Path) -> None:
    code, out = write_reports(tmp_path, str(DATA.parent / "tap" / "kselftest-runner-7.3.log"))
    assert code == 1
    proc = subprocess.run([sys.executable, str(kunit_tool()), "parse", str(tmp_path / "r.ktap")],
                          capture_output=True, text=True)
    assert "ERROR" not in proc.stdout, proc.stdout
    # ours: 15 passed, 8 failed, 1 skipped, 1 timeout (kunit_tool has no timeout: a failure)
    assert "Ran 25 tests: passed: 15, failed: 9, skipped: 1" in proc.stdout


def test_not_in_this_build_is_a_value_read_back_from_an_older_results_json_and_written_again() -> None:
    """tests/data/reports/mptcp-7.3-results.json was written before the `absent` key: its sockmap-less subtests are
    read as not in this build from the reason the file gives, and a report written from them says so as a value."""
    from harness.report.json import from_json, to_json

    old = (Path(__file__).parent / "data" / "reports" / "mptcp-7.3-results.json").read_text()
    runs = from_json(old)
    absent = sorted(r.name for run in runs for r in run.subtests if r.status is Status.NOT_IN_BUILD)
    assert absent and all(t["status"] == "skipped" for t in json.loads(old)["tests"] if t["name"] in absent)
    again = json.loads(to_json(runs))
    assert sorted(t["name"] for t in again["tests"] if t.get("absent")) == absent
    assert [t["status"] for t in again["tests"]] == [t["status"] for t in json.loads(old)["tests"]]  # unchanged


def test_the_incidents_a_results_json_lists_are_read_back_as_values_and_written_again_as_they_were() -> None:
    """results.json keeps each incident as a header and its excerpt (real nights of the canary): read back by
    parse.events into kind, who ran, fingerprint and excerpt, and rendered again line for line."""
    from harness.crashes import event_lines
    from harness.parse.console import IncidentKind
    from harness.parse.events import read_events

    nights = Path(__file__).parent / "data" / "nights"
    warned = json.loads((nights / "2026-11-26-default/prebuilt/results.json").read_text())["console_events"]
    (warning,) = read_events(warned)
    assert (warning.kind, warning.running, warning.fingerprint) == (IncidentKind.WARNING, ("canary/warning",),
                                                                    "canary_warning")
    assert not warning.fatal and warning.excerpt[-1].endswith("---[ end trace 0000000000000000 ]---")
    crashed = json.loads((nights / "2026-11-26-default-2/prebuilt/results.json").read_text())["console_events"]
    panics = [i for i in read_events(crashed) if i.kind is IncidentKind.PANIC]
    assert panics and all(i.fatal and i.running == ("canary/crash",) for i in panics)
    for lines in (warned, crashed):
        assert event_lines(read_events(lines)) == lines
