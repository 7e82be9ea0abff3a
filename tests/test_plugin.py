"""The pytest adapter: naming, selection and what a failing item shows.

What is real here: pytest, the plugin, the pipeline's Session and the scheduler's rounds
(plan, in-guest script, watch, decide). What stands in: the kernel (a Prepared that names
files nobody reads) and the guest, which "runs" a round by writing a real captured test_progs
log as its batch's output. tests/test_guest_e2e.py does the same with a real kernel and guest.
"""
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest import MonkeyPatch, Pytester

from harness import guest, pipeline
from harness.data import SUITES_DIR
from harness.kernel import Kernel
from harness.payload.selftests_bpf import Payload
from harness.run import scheduler

pytest_plugins = ["pytester"]
DATA = Path(__file__).parent / "data" / "test_progs"
SUITE_FILE = str(SUITES_DIR / "mptcp_bpf.toml")


@pytest.fixture
def guest_replaced_by_log(monkeypatch: MonkeyPatch, tmp_path: Path) -> list[str]:
    """The guest of every round prints logs[0], a real test_progs log, and exits; the cache is a fresh one."""
    logs: list[str] = []
    kernel = Kernel(Path("/k/vmlinuz"), "7.3.4", None, Path("/k/vmlinux"), "stand-in:7.3.4")
    payload = Payload(Path("/p"), Path("/p/test_progs"), "stand-in")
    monkeypatch.setattr(pipeline, "prepare", lambda settings, suites, say: pipeline.Prepared(kernel, payload, False))

    def stand_in_guest(config: guest.GuestConfig, boot_timeout_s: float, shared_dir: Path) -> scheduler.ScriptRunner:
        def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
            (script.parent / "batch-0.log").write_text((DATA / logs[0]).read_text())
            (script.parent / "batch-0.rc").write_text("0\n")
            on_tick()
            return guest.GuestExit(0, False, 0.1, script.parent / "console.log")
        return run

    monkeypatch.setattr(scheduler, "one_shot", stand_in_guest)
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    return logs


def test_k_selects_exactly_one_subtest(pytester: Pytester) -> None:
    result = pytester.runpytest_inprocess(SUITE_FILE, "--collect-only", "-q", "-k", "mptcp/subflow")
    lines = [ln for ln in result.outlines if "::" in ln]
    assert lines == ["suites/mptcp_bpf.toml::mptcp/subflow"]  # not iters_subflow


def test_failing_item_shows_its_subtest_output(pytester: Pytester, guest_replaced_by_log: list[str]) -> None:
    guest_replaced_by_log.append("concurrent-unisolated-mptcpify-fail.log")
    result = pytester.runpytest_inprocess(SUITE_FILE, "-k", "mptcp/mptcpify")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "mptcp/mptcpify: failed" in out
    assert "test_mptcpify:FAIL:netns_new unexpected error: -2" in out
    assert "_multicall" not in out  # the subtest's lines, not a Python traceback


def test_subtests_missing_from_build_are_skipped_with_reason(pytester: Pytester, guest_replaced_by_log: list[str]) -> None:
    guest_replaced_by_log.append("full-mptcp-7.3-ok.log")
    result = pytester.runpytest_inprocess(SUITE_FILE, "-rs", "-k", "mptcp/base or mptcp/rr")
    result.assert_outcomes(passed=1, skipped=1)
    assert "not in this build" in result.stdout.str()


def test_report_dir_gets_ktap_json_and_junit_that_agree(pytester: Pytester, guest_replaced_by_log: list[str], tmp_path: Path) -> None:
    guest_replaced_by_log.append("full-mptcp-7.3-ok.log")
    out = tmp_path / "reports"
    result = pytester.runpytest_inprocess(
        SUITE_FILE, "-k", "mptcp/base or mptcp/rr", "--report-dir", str(out)
    )
    result.assert_outcomes(passed=1, skipped=1)
    doc = json.loads((out / "results.json").read_text())
    status = {t["name"]: t["status"] for t in doc["tests"]}  # the saved log also reports subtests not asked for
    assert status["mptcp/base"] == "passed" and status["mptcp/rr"] == "skipped"
    # in suite order, what the build has beyond the suite file last
    assert ("    1..5\n    ok 1 base\n    ok 2 mptcpify\n    ok 3 subflow\n    ok 4 rr # SKIP not in this build\n"
            "    ok 5 sockmap\n") in (out / "results.ktap").read_text()
    assert (out / "junit.xml").read_text().count("<testcase ") == len(status)


def test_the_live_totals_count_the_items_pytest_counts_and_the_builds_extras_apart(
        pytester: Pytester, guest_replaced_by_log: list[str]) -> None:
    """7.3's test_progs also runs mptcp/sockmap, which the suite file lacks: the "done in" line counts the suite's
    subtests as pytest's summary does (it said "4 passed" beside pytest's "3 passed"), the extra on its own line."""
    guest_replaced_by_log.append("full-mptcp-7.3-ok.log")
    result = pytester.runpytest_inprocess(SUITE_FILE)
    result.assert_outcomes(passed=3, skipped=16)
    out = result.stdout.str()
    assert re.search(r"\[harness\] mptcp done in [0-9.]+ s: 3 passed, 16 skipped \(16 not in this build\)\n", out), out[-2000:]
    assert "this build also has subtests the suite file lacks: mptcp/sockmap (passed)" in out
