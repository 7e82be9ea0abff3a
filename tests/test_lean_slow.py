"""Slow and real (issue 34): nothing lost on the lean base. A kernel built from linux-source-7.3 with the default
base (allnoconfig + kernel-configs/guest.config and the mode's fragments), in normal and debug modes, passes the BPF
suite (every subtest 7.3's test_progs has), net/mptcp's CI subset (pm_netlink, mptcp_sockopt) and net/mptcp's KUnit
suites. What the lean base would lack shows as a failure here, never as a skip: the only skips allowed are subtests
7.3's test_progs does not have at all ("not in this build", the same on vng's base). The canary's faults on the same
debug build: tests/test_debug_faults_slow.py. ./run slow (the debug build is shared with it and the nightly test).
"""
import json
from pathlib import Path

import pytest

from harness.results import NOT_IN_BUILD
from tests.helpers import run_pytest
from tests.test_debug_faults_slow import debug_tree

pytestmark = [pytest.mark.guest, pytest.mark.slow]

SUITES = ["suites/mptcp_bpf.toml", "suites/net_mptcp.toml", "suites/kunit_mptcp.toml"]
SELECT = "not net-mptcp or net-mptcp/pm_netlink or net-mptcp/mptcp_sockopt"
# 7.3's test_progs -t mptcp has these four (README): each must pass, never be "not in this build"
IN_7_3 = {"mptcp/base", "mptcp/mptcpify", "mptcp/subflow", "mptcp/sockmap"}
MUST_PASS = IN_7_3 | {"net-mptcp/pm_netlink", "net-mptcp/mptcp_sockopt"}


@pytest.mark.parametrize("mode", ["normal", "debug"])
def test_the_lean_kernel_passes_the_bpf_suite_net_mptcp_ci_subset_and_kunit(tmp_path: Path, mode: str) -> None:
    run = run_pytest("-v", *SUITES, "-k", SELECT, "--kernel-tree", str(debug_tree()), "--kernel-mode", mode,
                     "--report-dir", str(tmp_path), timeout=4 * 3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    status = {t["name"]: (t["status"], t.get("reason", "")) for t in doc["tests"]}
    passed = {name for name, (s, _) in status.items() if s == "passed"}
    assert MUST_PASS <= passed, {n: status.get(n) for n in MUST_PASS - passed}
    assert any(n.startswith("kunit-mptcp/") for n in passed), status
    others = {n: sr for n, sr in status.items() if n not in passed}
    assert all(s == "skipped" and why == NOT_IN_BUILD and n.startswith("mptcp/") for n, (s, why) in others.items()), others
    assert not doc["console_events"], doc["console_events"][:5]  # the debug kernel reported nothing
