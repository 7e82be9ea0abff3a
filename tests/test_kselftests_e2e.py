"""The net/mptcp kselftests in real guests on the default Debian kernel: its scripts built from linux-source-7.3 (in a
fresh cache dir, so the build is part of the test), three scripts as two batches side by side in one guest, each in its
own namespaces (guest/scripts/isolated.sh), their sub-cases in every report."""
import json
import re
import xml.etree.ElementTree as ET

import pytest

from harness.settings import SUITES_DIR
from tests.helpers import CACHE, run_pytest

pytestmark = pytest.mark.guest

SUITE = str(SUITES_DIR / "net_mptcp.toml")
# diag.sh's counting checks ("....chk 2 msk in use", "....chk dump_one", "many msk socket present", "many listener
# sockets - mptcp" ...) count sockets of mptcp_connect processes it starts in the background, waiting a fixed 20 s or
# only for the last one's port: under TCG, with the vCPU starved, some are not up yet ("expected 100 found 99",
# "timeout while expecting 200 max 0 last 0" after "connect(): Connection refused"; tests/data/kselftests; more of them
# fail when other guests share the host's cores). A race of the script on a slow machine, not a kernel bug: tolerated
# here. The others (netns creation, listen matches, MPC handshake, fallback, no listener) must pass.
TCG_RACES = re.compile(r"^(?:\.\.\.\.chk |many )")


def fresh_cache(tmp_path):
    """A cache holding only the default kernel (shared, not rebuilt): the kselftests build is this test's own."""
    cache = tmp_path / "cache"
    for part in ("kernels", "sources", "debs", "vmlinux", "kvm-probe.json"):
        if (CACHE / part).exists():
            (cache / part).parent.mkdir(parents=True, exist_ok=True)
            (cache / part).symlink_to(CACHE / part)
    return cache


def test_diag_pm_netlink_and_mptcp_sockopt_pass_side_by_side_with_their_sub_cases(tmp_path):
    # (no --retries: a retry would rerun diag alone for its tolerated races, ~2 min more of CI for nothing checked)
    run = run_pytest("-v", SUITE, "-k", "net-mptcp/diag or net-mptcp/pm_netlink or net-mptcp/mptcp_sockopt", "--concurrency", "2",
                     "--report-dir", str(tmp_path), timeout=2400,
                     HARNESS_CACHE=str(fresh_cache(tmp_path)))
    out = run.stdout + run.stderr
    assert run.returncode in (0, 1), out[-4000:]
    assert "built the net/mptcp selftests" in out and "up to 2 side by side" in out
    doc = json.loads((tmp_path / "results.json").read_text())
    tests = {t["name"]: t for t in doc["tests"]}
    assert set(tests) == {"net-mptcp/diag", "net-mptcp/pm_netlink", "net-mptcp/mptcp_sockopt"} and not doc["infra_errors"]
    for name in ("net-mptcp/pm_netlink", "net-mptcp/mptcp_sockopt"):
        assert tests[name]["status"] == "passed", tests[name]
    for name, count in (("net-mptcp/diag", 32), ("net-mptcp/pm_netlink", 21), ("net-mptcp/mptcp_sockopt", 11)):
        subtests = tests[name]["subtests"]
        assert len(subtests) == count and all(s["duration_s"] is not None for s in subtests)
        failed = {s["name"] for s in subtests if s["status"] not in ("passed", "skipped", "flaky")}
        assert all(TCG_RACES.match(f) for f in failed), failed
    assert (run.returncode == 0) == (tests["net-mptcp/diag"]["status"] in ("passed", "flaky"))
    cases = [c.get("name") for c in ET.parse(tmp_path / "junit.xml").iter("testcase")]
    assert len([c for c in cases if c.startswith("net-mptcp/diag/")]) == 32
    assert len([c for c in cases if c.startswith("net-mptcp/pm_netlink/")]) == 21
    ktap = (tmp_path / "results.ktap").read_text()
    assert "        # Subtest: pm_netlink" in ktap and "        ok 1 defaults addr list" in ktap
