"""`harness shell` driven through a pty as a user types (pexpect; real guest): the banner, a subtest run by hand and
its Summary, the shell's exit status as the command's, and no qemu left after."""
import sys

import pexpect
import pytest

from tests.helpers import REPO_ROOT, harness_qemus, pytest_env

pytestmark = pytest.mark.guest


def test_a_shell_in_the_guest_runs_a_subtest_by_hand_and_exits_with_the_shells_status() -> None:
    child = pexpect.spawn(sys.executable, ["-m", "harness", "shell"], cwd=str(REPO_ROOT), env=pytest_env(),
                          timeout=600, encoding="utf-8", codec_errors="replace")
    try:
        child.expect("mptcp-harness shell: kernel ")
        child.expect("one subtest, as the harness runs it")
        child.expect(r"\S# ")  # the guest's prompt (pexpect: no $ anchors)
        child.sendline("./test_progs -v -a mptcp/base; echo test_progs-exit=$?")
        child.expect(r"Summary: 1/\d+ PASSED, \d+ SKIPPED, 0(/0)? FAILED")
        child.expect("test_progs-exit=0")
        child.sendline("exit 7")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert child.exitstatus == 7, child.before
    assert harness_qemus() == []


def test_closing_the_terminal_leaves_no_qemu() -> None:
    child = pexpect.spawn(sys.executable, ["-m", "harness", "shell"], cwd=str(REPO_ROOT), env=pytest_env(),
                          timeout=600, encoding="utf-8", codec_errors="replace")
    child.expect(r"\S# ")
    child.close(force=True)  # SIGHUP, then SIGKILL: the terminal went away
    import time
    deadline = time.monotonic() + 30
    while harness_qemus() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert harness_qemus() == []
