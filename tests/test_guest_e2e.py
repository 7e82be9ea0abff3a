"""Real guests: the default kernel boots in vng and real test_progs runs (slow under TCG)."""
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

import pytest

from harness.settings import REPO_ROOT

pytestmark = pytest.mark.guest


def harness_qemus() -> list[str]:
    """qemu processes started for the harness (their kernel lives in its cache)."""
    out = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "mptcp-harness" in line or "HARNESS" in line]


def run_pytest(*args: str, timeout: float = 3000) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PATH=f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def test_collection_lists_all_19_and_boots_nothing():
    start = time.monotonic()
    everything = run_pytest("--collect-only", "-q", "suites", timeout=60)
    only_rr = run_pytest("--collect-only", "-q", "-k", "mptcp/rr", timeout=60)
    assert everything.returncode == 0, everything.stdout
    assert "19 tests collected" in everything.stdout
    assert [ln for ln in only_rr.stdout.splitlines() if "::" in ln] == ["suites/mptcp_bpf.toml::mptcp/rr"]
    assert time.monotonic() - start < 60  # a boot or a build would take minutes here
    assert harness_qemus() == []


def test_base_and_mptcpify_pass_in_a_real_guest_and_rr_is_not_in_7_3(tmp_path):
    junit = tmp_path / "j.xml"
    proc = run_pytest("-v", "-rs", "suites", "-k", "mptcp/base or mptcp/mptcpify or mptcp/rr", f"--junitxml={junit}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"mptcp/base", "mptcp/mptcpify", "mptcp/rr"}
    for name in ("mptcp/base", "mptcp/mptcpify"):
        assert list(cases[name]) == [], f"{name} did not pass: {ET.tostring(cases[name]).decode()}"
    (skipped,) = list(cases["mptcp/rr"])
    assert skipped.tag == "skipped" and skipped.get("message") == "not in this build"
    assert "guests run under TCG" in proc.stdout or "booting a guest (KVM" in proc.stdout
    # no qemu is left after the run
    assert harness_qemus() == []
