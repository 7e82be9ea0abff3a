"""Where a tree is built (harness/kernel/tree.py): a subdirectory of the tree named by mode and fragments, the same
in every checkout, invisible to the tree's state; under the cache when the tree is not the harness's to write."""
import os
import subprocess
from pathlib import Path

from pytest import MonkeyPatch

from harness.kernel import BUILD_PREFIX
from harness.kernel import tree as trees
from harness.kernel.kconfig import mode_fragments
from tests.helpers import git


def kernel_tree(where: Path) -> Path:
    for name in ("Makefile", "Kconfig", "net/mptcp/protocol.c", "arch/x86/Kconfig"):
        (where / name).parent.mkdir(parents=True, exist_ok=True)
        (where / name).write_text(f"# {name}\n")
    return where


def test_the_build_dir_is_in_the_tree_and_named_alike_in_every_checkout(tmp_path: Path) -> None:
    normal, debug = mode_fragments("normal"), mode_fragments("debug")
    mine, worktree = kernel_tree(tmp_path / "src" / "linux"), kernel_tree(tmp_path / "cache" / "worktrees" / "linux")
    out = trees.build_dir_for(tmp_path / "cache", mine, "normal", normal)
    assert out.parent == mine.resolve() and out.name.startswith(f"{BUILD_PREFIX}normal-")
    assert trees.build_dir_for(tmp_path / "cache", worktree, "normal", normal).name == out.name  # ccache's hits
    assert trees.build_dir_for(tmp_path / "cache", mine, "debug", debug).name.startswith(f"{BUILD_PREFIX}debug-")


def test_a_tree_the_harness_may_not_write_is_built_under_the_cache(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    tree = kernel_tree(tmp_path / "linux")
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # root writes anywhere: os.access says "no"
    out = trees.build_dir_for(tmp_path / "cache", tree, "normal", mode_fragments("normal"))
    assert out.parent == tmp_path / "cache" / "builds" and out.name.startswith("linux-normal-")


def test_the_build_dir_is_not_part_of_the_trees_state_with_or_without_git(tmp_path: Path) -> None:
    plain = kernel_tree(tmp_path / "plain")
    checkout = kernel_tree(tmp_path / "checkout")
    subprocess.run(["git", "init", "-q", str(checkout)], check=True)
    subprocess.run(["git", "-C", str(checkout), "add", "."], check=True)
    subprocess.run(["git", "-C", str(checkout), "-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-q",
                    "-m", "c1"], check=True)
    for tree in (plain, checkout):
        before = trees.tree_state(tree)
        out = trees.build_dir_for(tmp_path / "cache", tree, "normal", mode_fragments("normal"))
        with trees._building(out):  # made, with its .gitignore, and locked inside
            (out / "vmlinux").write_text("a kernel")
        assert trees.tree_state(tree) == before, tree
        assert not list(tree.glob("*.lock"))  # nothing beside the sources
        (tree / "net/mptcp/protocol.c").write_text("/* changed */\n")
        assert trees.tree_state(tree) != before, tree


def test_test_progs_sources_are_keyed_by_content_in_any_checkout_at_any_commit_that_left_them_alone(tmp_path: Path) -> None:
    """tree.payload_sources: what test_progs is built from (images/selftests_bpf.toml `sources`), by content."""
    repo = kernel_tree(tmp_path / "linux")
    for name in ("tools/testing/selftests/bpf/Makefile", "tools/lib/bpf/libbpf.c"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(f"/* {name} */\n")
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "a@example.org")
    git(repo, "config", "user.name", "A")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "c1")
    first = trees.payload_sources(repo)
    (repo / "net/mptcp/protocol.c").write_text("/* a change in net/mptcp */\n")
    git(repo, "commit", "-q", "-am", "c2")
    assert trees.payload_sources(repo) == first  # another commit, the same selftests, libbpf ...
    subprocess.run(["git", "clone", "-q", str(repo), str(tmp_path / "elsewhere" / "linux")], check=True)
    assert trees.payload_sources(tmp_path / "elsewhere" / "linux") == first  # another checkout
    (repo / "tools/lib/bpf/libbpf.c").write_text("/* libbpf changed, uncommitted */\n")
    changed = trees.payload_sources(repo)
    assert changed != first
    prog = repo / "tools/testing/selftests/bpf/progs/mptcp_new.c"
    prog.parent.mkdir()
    prog.write_text("int a;\n")
    untracked = trees.payload_sources(repo)
    prog.write_text("int b;\n")
    assert len({first, changed, untracked, trees.payload_sources(repo)}) == 4  # an untracked file's content counts
    assert trees.payload_sources(kernel_tree(tmp_path / "plain")).startswith("tree:")  # no git: by path and mtime
