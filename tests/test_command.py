"""The installed command, `mptcp-harness`: a real install of this checkout into a new virtualenv, run from elsewhere.

The install is pip's own, of a wheel built from the checkout (pyproject.toml's scripts and
data-files). The new venv reaches the harness's dependencies through a .pth line to ./run's venv,
so nothing but the harness itself is installed; the harness it runs is the installed copy (its
data under <venv>/share/mptcp-harness), never the checkout, which is not on its path.
"""
import os
import subprocess
from pathlib import Path

import pytest
from pytest import CaptureFixture, MonkeyPatch, TempPathFactory

from harness.command import tree_above, with_tree
from tests.helpers import REPO_ROOT, harness_qemus, install_clone, installed_command, linux_source, seeded_payload, sharing_downloads


def kernel_tree_like(root: Path) -> Path:
    """What is_tree() looks for at a tree's top (its Makefile, Kconfig and arch/x86), and net/mptcp below it."""
    for d in ("arch/x86", "net/mptcp"):
        (root / d).mkdir(parents=True)
    for f in ("Makefile", "Kconfig"):
        (root / f).write_text("")
    return root


def test_the_tree_is_found_from_below_its_top_and_only_when_no_kernel_is_named(
        tmp_path: Path, monkeypatch: MonkeyPatch, capsys: CaptureFixture[str]) -> None:
    tree = kernel_tree_like(tmp_path / "linux")
    monkeypatch.delenv("HARNESS_KERNEL_TREE", raising=False)
    assert tree_above(tree / "net" / "mptcp") == tree
    assert tree_above(tmp_path) is None
    assert with_tree(["-k", "mptcp/rr"], tree / "net") == ["--kernel-tree", str(tree), "-k", "mptcp/rr"]
    assert f"on the kernel tree here, {tree}" in capsys.readouterr().err
    for named in (["--kernel", "7.3"], ["--kernel-image=/boot/vmlinuz"], ["--git", "file:///x"]):
        assert with_tree(named, tree) == named
    monkeypatch.setenv("HARNESS_KERNEL_TREE", "/elsewhere")
    assert with_tree([], tree) == []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: TempPathFactory) -> Path:
    return install_clone(tmp_path_factory.mktemp("installed"))


def test_the_installed_command_collects_the_installed_suites_on_the_tree_it_is_started_in(installed: Path, tmp_path: Path) -> None:
    tree = kernel_tree_like(tmp_path / "linux")
    python = installed / "python"
    where = subprocess.run([str(python), "-c", "import harness.data as d; print(d.__file__); print(d.SUITES_DIR)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(installed.parent)) and where[1] == str(installed.parent / "share/mptcp-harness/suites")
    proc = installed_command(installed, tree / "net" / "mptcp", "--collect-only", "-q", "-k", "mptcp/base")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"on the kernel tree here, {tree}" in proc.stderr
    assert "suites/mptcp_bpf.toml::mptcp/base" in proc.stdout and "1/32 tests collected" in proc.stdout
    assert not (tree / ".pytest_cache").exists() and sorted(os.listdir(tree)) == ["Kconfig", "Makefile", "arch", "net"]
    named = installed_command(installed, tmp_path, "net_mptcp.toml", "--collect-only", "-q")
    assert "11 tests collected" in named.stdout and "kernel tree here" not in named.stderr, named.stdout + named.stderr


def test_the_installed_command_passes_commands_on_and_says_a_bad_tree_in_one_line(installed: Path, tmp_path: Path) -> None:
    log = REPO_ROOT / "tests" / "data" / "test_progs" / "full-mptcp-7.3-ok.log"
    parsed = installed_command(installed, tmp_path, "parse", str(log), "--test", "mptcp")
    assert parsed.returncode == 0 and "mptcp/base" in parsed.stdout, parsed.stdout + parsed.stderr  # all passed
    assert installed_command(installed, tmp_path, "shell", "--help").returncode == 0
    bad = installed_command(installed, tmp_path, "-k", "mptcp/base", "--kernel-tree", str(tmp_path))
    assert bad.returncode == pytest.ExitCode.USAGE_ERROR and "is not a kernel source tree" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_the_installed_command_runs_mptcp_base_in_a_guest_from_inside_a_real_kernel_tree(installed: Path, tmp_path: Path) -> None:
    """For real: `mptcp-harness -k mptcp/base --kernel 7.3` started in net/mptcp of Debian's linux-source (the default
    kernel's, unpacked in the cache): the kernel named, so the tree is not taken for one; a guest boots and mptcp/base
    passes; the tree gets no .pytest_cache. (A cache of its own with a copy of the main cache's test_progs: the
    installed copy's data is the clone's, the same payload. The tree as the kernel, built: tests/test_tree_loop_e2e.py,
    ./run slow.)"""
    tree = linux_source()
    cache = sharing_downloads(tmp_path / "cache")
    seeded_payload(cache)
    top = sorted(os.listdir(tree))
    run = installed_command(installed, tree / "net" / "mptcp", "-k", "mptcp/base", "--kernel", "7.3",
                            "--harness-cache", str(cache), "--report-dir", str(tmp_path / "reports"), timeout=900)
    out = run.stdout + run.stderr
    assert run.returncode == 0 and "1 passed" in run.stdout and "PASSED   mptcp/base" in out, out[-4000:]
    assert "kernel tree here" not in run.stderr and "built test_progs" not in out, out[-3000:]  # the seeded copy
    assert sorted(os.listdir(tree)) == top and not (tree / "net" / "mptcp" / ".pytest_cache").exists()
    assert harness_qemus(cache) == []
