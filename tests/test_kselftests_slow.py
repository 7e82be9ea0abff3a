"""Slow and real: every net/mptcp script on the default kernel (about two hours under TCG here: README), each with a
result and its sub-cases; ./run slow. CI runs pm_netlink and mptcp_sockopt (tests/test_kselftests_e2e.py)."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.data import SUITES_DIR
from harness.suites import load_suite
from tests.helpers import run_pytest

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def test_every_script_reports_with_its_sub_cases(tmp_path: Path) -> None:
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    run = run_pytest("-v", str(SUITES_DIR / "net_mptcp.toml"), "--report-dir", str(tmp_path), timeout=6 * 3600)
    assert run.returncode in (0, 1), run.stdout[-4000:] + run.stderr[-2000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    assert not doc["infra_errors"], doc["infra_errors"]
    tests = {t["name"]: t for t in doc["tests"]}
    assert set(tests) == {suite.full_name(s) for s in suite.subtests}
    for name, t in tests.items():
        assert t["status"] in ("passed", "failed", "flaky", "skipped", "timeout"), (name, t["status"], t["reason"])
        if t["status"] != "skipped":
            assert t.get("subtests"), f"{name}: no sub-cases ({t['status']}: {t['reason']})"
    junit = [c.get("name") for c in ET.parse(tmp_path / "junit.xml").iter("testcase")]
    assert len(junit) == len(tests) + sum(len(t.get("subtests", ())) for t in tests.values())
