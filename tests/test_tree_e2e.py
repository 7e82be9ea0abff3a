"""Slow: build Debian's linux-source-7.3 tree as a developer's tree (mode normal), boot it, run mptcp/base;
the second run's build phase runs no make. ./run slow (about half an hour on 2 cores)."""
import pytest

from tests.helpers import linux_source, run_pytest

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def test_kernel_tree_builds_boots_passes_and_second_build_is_a_no_op():
    tree = linux_source()
    first = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree), timeout=4 * 3600)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "PASSED" in first.stdout
    second = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree), timeout=600)
    assert second.returncode == 0, second.stdout[-4000:]
    assert "building" not in second.stdout and "configuring" not in second.stdout  # no make at all
