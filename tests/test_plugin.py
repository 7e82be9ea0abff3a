"""The pytest adapter: naming, selection and what a failing item shows (guest stubbed out here;
tests/test_guest_e2e.py does the same with a real guest)."""
import json
from pathlib import Path

import pytest

from harness import pytest_plugin
from harness.parse.test_progs import parse_test_progs
from harness.results import SuiteRun, decide
from harness.settings import SUITES_DIR

pytest_plugins = ["pytester"]
DATA = Path(__file__).parent / "data" / "test_progs"
SUITE_FILE = str(SUITES_DIR / "mptcp_bpf.toml")


@pytest.fixture
def guest_replaced_by_log(monkeypatch):
    """Make the session runner 'run' a suite by reading a real captured test_progs log."""
    logs = []

    def fake_prepare(self):
        self.kernel, self.payload, self.use_kvm = object(), object(), False

    def fake_run(self, suite):
        items = self.config.stash[pytest_plugin._SESSION_ITEMS]
        asked = [i.subtest for i in items]
        text = (DATA / logs[0]).read_text()
        parsed = parse_test_progs(text)
        return SuiteRun(suite.name, "test", tuple(decide(suite.test, asked, list(suite.subtests), parsed, True)), text)

    monkeypatch.setattr(pytest_plugin.SessionRunner, "_prepare", fake_prepare)
    monkeypatch.setattr(pytest_plugin.SessionRunner, "_run", fake_run)
    return logs


def test_k_selects_exactly_one_subtest(pytester):
    result = pytester.runpytest_inprocess(SUITE_FILE, "--collect-only", "-q", "-k", "mptcp/subflow")
    lines = [ln for ln in result.outlines if "::" in ln]
    assert lines == ["suites/mptcp_bpf.toml::mptcp/subflow"]  # not iters_subflow


def test_failing_item_shows_its_subtest_output(pytester, guest_replaced_by_log):
    guest_replaced_by_log.append("concurrent-unisolated-mptcpify-fail.log")
    result = pytester.runpytest_inprocess(SUITE_FILE, "-k", "mptcp/mptcpify")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "mptcp/mptcpify: failed" in out
    assert "test_mptcpify:FAIL:netns_new unexpected error: -2" in out
    assert "_multicall" not in out  # the subtest's lines, not a Python traceback


def test_subtests_missing_from_build_are_skipped_with_reason(pytester, guest_replaced_by_log):
    guest_replaced_by_log.append("full-mptcp-7.3-ok.log")
    result = pytester.runpytest_inprocess(SUITE_FILE, "-rs", "-k", "mptcp/base or mptcp/rr")
    result.assert_outcomes(passed=1, skipped=1)
    assert "not in this build" in result.stdout.str()


def test_report_dir_gets_ktap_json_and_junit_that_agree(pytester, guest_replaced_by_log, tmp_path):
    guest_replaced_by_log.append("full-mptcp-7.3-ok.log")
    out = tmp_path / "reports"
    result = pytester.runpytest_inprocess(
        SUITE_FILE, "-k", "mptcp/base or mptcp/rr", "--report-dir", str(out)
    )
    result.assert_outcomes(passed=1, skipped=1)
    doc = json.loads((out / "results.json").read_text())
    status = {t["name"]: t["status"] for t in doc["tests"]}  # the saved log also reports subtests not asked for
    assert status["mptcp/base"] == "passed" and status["mptcp/rr"] == "skipped"
    assert "    ok 1 base\n    ok 2 rr # SKIP not in this build\n" in (out / "results.ktap").read_text()
    assert (out / "junit.xml").read_text().count("<testcase ") == len(status)
