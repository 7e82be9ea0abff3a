"""Slow: build Debian's linux-source-7.3 tree as a developer's tree (mode normal), boot it, run mptcp/base;
the second run's build phase runs no make. ./run slow (about half an hour on 2 cores)."""
import pytest

from tests.helpers import linux_source, run_pytest

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def test_kernel_tree_builds_boots_passes_and_second_build_is_a_no_op() -> None:
    tree = linux_source()
    first = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree), timeout=4 * 3600)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "PASSED" in first.stdout
    second = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree), timeout=600)
    assert second.returncode == 0, second.stdout[-4000:]
    assert "building" not in second.stdout and "configuring" not in second.stdout  # no make at all


def test_a_killed_tree_build_leaves_no_make_and_the_next_run_resumes_it() -> None:
    """SIGKILL mid-build (a one-file change in net/mptcp): no make survives; the next run says it resumes and passes."""
    import signal
    import subprocess
    import time

    from harness import proc
    from harness.kernel import BUILD_PREFIX
    from tests.helpers import pytest_argv, pytest_env

    tree = linux_source()
    first = run_pytest("-q", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree), timeout=4 * 3600)
    assert first.returncode == 0, first.stdout[-3000:]  # built once: what follows is incremental
    changed = tree / "net/mptcp/protocol.c"
    original = changed.read_text()
    try:
        changed.write_text(original + "\n/* harness: a change that makes the kernel rebuild */\n")
        run = subprocess.Popen(pytest_argv("-q", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree)),
                               env=pytest_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        builds = sorted(tree.glob(f"{BUILD_PREFIX}normal-*"))
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline and not any(proc.leftovers(b) for b in builds):
            time.sleep(0.5)
        time.sleep(5)  # make is compiling
        run.send_signal(signal.SIGKILL)
        run.wait()
        time.sleep(3)
        assert [p for b in builds for p in proc.leftovers(b)] == []
        again = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree), timeout=3600)
        assert again.returncode == 0, again.stdout[-3000:]
        assert "resuming the interrupted build" in again.stdout and "mptcp/base PASSED" in again.stdout
    finally:
        changed.write_text(original)
