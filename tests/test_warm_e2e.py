"""Real guests kept warm between runs (--keep-guest): reuse, refusal of a tainted guest, idle stop, guests stop."""
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import boots, harness_qemus, run_harness, run_pytest

pytestmark = pytest.mark.guest


@pytest.fixture(autouse=True)
def no_warm_guests_before_or_after() -> Iterator[None]:
    run_harness("guests", "stop", "--all")
    yield
    run_harness("guests", "stop", "--all")
    assert harness_qemus() == []


def ssh_masters() -> list[str]:
    """The OpenSSH masters kept guests leave open (harness.guest.channel_openssh)."""
    out = subprocess.run(["pgrep", "-af", "ssh .*ControlPath=.*mptcp-harness-.* -M"], capture_output=True, text=True)
    return out.stdout.splitlines()


def test_second_run_attaches_boots_nothing_and_guests_stop_leaves_no_qemu() -> None:
    before = len(boots())
    first = run_pytest("suites", "-k", "mptcp/base", "--keep-guest")
    assert first.returncode == 0, first.stdout[-3000:]
    assert len(boots()) == before + 1 and len(harness_qemus()) == 1  # kept
    second = run_pytest("suites", "-k", "mptcp/base", "--keep-guest")
    assert second.returncode == 0, second.stdout[-3000:]
    assert "attached to the warm guest" in second.stdout
    assert "commands over ssh (the kept guest's open connection)" in second.stdout  # no handshake of its own
    assert len(boots()) == before + 1  # no boot
    listing = run_harness("guests")
    assert "kernel debian:7.3.4" in listing.stdout
    assert len(ssh_masters()) == 1
    assert "stopped 1 warm guest(s)" in run_harness("guests", "stop", "--all").stdout
    assert harness_qemus() == []
    deadline = time.monotonic() + 30
    while ssh_masters() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert ssh_masters() == []  # the connection went with the guest


def test_a_tainted_guest_is_not_reused() -> None:
    before = len(boots())
    warned = run_pytest("suites/canary/canary.toml", "-k", "warning", "--keep-guest")
    assert warned.returncode == 1, warned.stdout[-3000:]  # the WARNING failed the canary subtest
    again = run_pytest("suites/canary/canary.toml", "-k", "pass", "--keep-guest")
    assert again.returncode == 0, again.stdout[-3000:]
    assert "not reusing the warm guest" in again.stdout and "tainted (512" in again.stdout
    assert len(boots()) == before + 2


def test_a_kept_guest_stops_by_itself_when_idle() -> None:
    proc = run_pytest("suites", "-k", "mptcp/base", "--keep-guest", "--idle-timeout", "5")
    assert proc.returncode == 0, proc.stdout[-3000:]
    deadline = time.monotonic() + 90
    while harness_qemus() and time.monotonic() < deadline:
        time.sleep(1)
    watchdogs = subprocess.run(["pgrep", "-af", "watchdog"], capture_output=True, text=True).stdout
    assert harness_qemus() == [], f"{run_harness('guests').stdout}\n{watchdogs}\n{proc.stdout[-2000:]}"
    while "no warm guests" not in run_harness("guests").stdout and time.monotonic() < deadline + 10:
        time.sleep(1)  # its watchdog notices within a second or two, then goes too
    assert "no warm guests" in run_harness("guests").stdout


def test_a_guest_tainted_only_by_an_out_of_tree_module_is_reused(tmp_path: Path) -> None:
    """Found trying the warm loop on a tree's kernel: bpf_testmod.ko (built with test_progs for a tree) taints every
    guest with O (4096), and no kept guest was ever reused. Only a crash's or a warning's taints refuse one."""
    suite = tmp_path / "oot.toml"
    suite.write_text('name = "oot"\nrunner = "shell"\ntest = "oot"\nsubtests = ["taint", "after"]\n[commands]\n'
                     'taint = "echo 4096 > /proc/sys/kernel/tainted"\nafter = "true"\n')
    before = len(boots())
    first = run_pytest(str(suite), "-k", "taint", "--keep-guest")
    assert first.returncode == 0, first.stdout[-3000:]
    again = run_pytest(str(suite), "-k", "after", "--keep-guest")
    assert again.returncode == 0 and "attached to the warm guest" in again.stdout, again.stdout[-3000:]
    assert len(boots()) == before + 1
    run_harness("guests", "stop", "--all")
