"""--selftests-tree (issue 51): the kselftest suites built from another tree than the kernel's; bad input said in one
line before any build. The real run (7.3's net/mptcp on Debian's 6.12): tests/test_kernels_night_e2e.py."""
from pathlib import Path

import pytest

from harness.data import SUITES_DIR
from harness.errors import BadInput
from harness.kernel import Kernel
from harness.payload.kselftests import build_kselftests, kselftests_key, selftests_identity
from harness.settings import selftests_tree
from harness.suites import load_suite
from tests.helpers import git, run_pytest


def fake_tree(root: Path, mptcp: bool = True) -> Path:
    """The files that make a directory look like a kernel tree to the check (nothing here builds)."""
    (root / "tools/testing/selftests").mkdir(parents=True)
    (root / "Makefile").write_text("# not a real kernel\n")
    (root / "tools/testing/selftests/Makefile").write_text("# not a real one\n")
    if mptcp:
        (root / "tools/testing/selftests/net/mptcp").mkdir(parents=True)
    return root


@pytest.mark.parametrize("make, said", [
    (lambda p: p / "nowhere", "no such directory"),
    (lambda p: p, "not a kernel source tree (no Makefile, no tools/testing/selftests)"),
    (lambda p: fake_tree(p / "old", mptcp=False), "it has no tools/testing/selftests/net/mptcp"),
])
def test_a_selftests_tree_that_cannot_be_one_is_one_line_before_anything(tmp_path: Path, make: object, said: str) -> None:
    tree = make(tmp_path)  # type: ignore[operator]
    run = run_pytest("-q", "suites/net_mptcp.toml", "-k", "pm_netlink", "--selftests-tree", str(tree),
                     "--harness-cache", str(tmp_path / "cache"), "--history", "off")
    assert run.returncode == pytest.ExitCode.USAGE_ERROR and said in run.stderr, run.stdout[-2000:] + run.stderr
    lines = [ln for ln in run.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"ERROR: --selftests-tree {tree}: "), run.stderr
    assert not (tmp_path / "cache").exists()  # nothing fetched, nothing built


def test_test_progs_is_refused_with_a_selftests_tree_in_one_line(tmp_path: Path) -> None:
    """test_progs is built from the kernel's own source against its BTF: with another tree's selftests it is refused
    (docs/kselftests.md says why), before any kernel is fetched."""
    run = run_pytest("-q", "suites", "-k", "mptcp/base or pm_netlink", "--selftests-tree", str(fake_tree(tmp_path)),
                     "--harness-cache", str(tmp_path / "cache"), "--history", "off")
    out = run.stdout + run.stderr
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, out[-3000:]
    assert "--selftests-tree builds the kselftest suites only; mptcp (test_progs) is built from the kernel's own " \
           "source against its BTF" in out
    assert not (tmp_path / "cache" / "kernels").exists()


def test_the_selftests_are_keyed_by_their_trees_content_not_the_kernels_source(tmp_path: Path) -> None:
    """A git tree's selftests: the same content, the same key wherever it is; a change under tools/testing/selftests
    makes another."""
    tree = fake_tree(tmp_path / "a")
    (tree / "tools/testing/selftests/net/mptcp/pm_netlink.sh").write_text("#!/bin/sh\n")
    git(tree, "init", "-q")
    git(tree, "-c", "user.email=d@e.org", "-c", "user.name=D", "add", ".")
    git(tree, "-c", "user.email=d@e.org", "-c", "user.name=D", "commit", "-qm", "a")
    first = selftests_identity(tree)
    (tree / "tools/testing/selftests/net/mptcp/pm_netlink.sh").write_text("#!/bin/sh\necho changed\n")
    assert selftests_identity(tree) != first and first.startswith("selftests-tree-content:")


def test_a_kernel_without_source_builds_from_the_selftests_tree_and_says_a_bad_one(tmp_path: Path) -> None:
    kernel = Kernel(tmp_path / "bzImage", "6.12.117", None, tmp_path / "vmlinux", "debian:6.12", source=None)
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    with pytest.raises(BadInput, match="no source tree to build net/mptcp selftests from; .* or --selftests-tree"):
        build_kselftests(kernel, suite, tmp_path / "cache", 1, lambda _: None)
    with pytest.raises(BadInput, match="has no tools/testing/selftests/net/mptcp/Makefile"):
        build_kselftests(kernel, suite, tmp_path / "cache", 1, lambda _: None, fake_tree(tmp_path / "t"))
    assert selftests_tree(fake_tree(tmp_path / "u")) == (tmp_path / "u").resolve()


def test_a_tree_built_kernels_selftests_are_keyed_by_their_own_content_not_by_its_bpf_sources(tmp_path: Path) -> None:
    """Found by tests/test_lean_slow.py: its tree and a checkout whose pm_netlink.sh had been changed had the same BPF
    sources (the kernel's source_identity), and the second's build of net/mptcp was run for the first."""
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    tree = fake_tree(tmp_path / "a")
    (tree / "tools/testing/selftests/net/mptcp/pm_netlink.sh").write_text("#!/bin/sh\n")
    git(tree, "init", "-q")
    git(tree, "-c", "user.email=d@e.org", "-c", "user.name=D", "add", ".")
    git(tree, "-c", "user.email=d@e.org", "-c", "user.name=D", "commit", "-qm", "a")
    built = Kernel(tmp_path / "bzImage", "7.3.0", None, tmp_path / "vmlinux", "tree:a", source=tree,
                   source_identity="tree-content:same-bpf-sources", build_dir=tmp_path / "build")
    before = kselftests_key(built, tree, suite, "cc 12", False)
    (tree / "tools/testing/selftests/net/mptcp/pm_netlink.sh").write_text("#!/bin/sh\necho changed\n")
    after = kselftests_key(built, tree, suite, "cc 12", False)
    assert before[1] != after[1] and after[0] == selftests_identity(tree)
    debian = Kernel(tmp_path / "vmlinuz", "7.3.4", None, tmp_path / "vmlinux", "debian:7.3", source=tree,
                    source_identity="linux-source-7.3=7.3.4-1")
    assert kselftests_key(debian, tree, suite, "cc 12", False)[0] == "linux-source-7.3=7.3.4-1"
