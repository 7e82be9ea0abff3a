"""The installed command, `mptcp-harness`: a real install of this checkout into a new virtualenv, run from elsewhere.

The install is pip's own, of a wheel built from the checkout (pyproject.toml's scripts and
data-files). The new venv reaches the harness's dependencies through a .pth line to ./run's venv,
so nothing but the harness itself is installed; the harness it runs is the installed copy (its
data under <venv>/share/mptcp-harness), never the checkout, which is not on its path.
"""
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from harness.command import tree_above, with_tree
from tests.helpers import REPO_ROOT


def kernel_tree_like(root: Path) -> Path:
    """What is_tree() looks for at a tree's top (its Makefile, Kconfig and arch/x86), and net/mptcp below it."""
    for d in ("arch/x86", "net/mptcp"):
        (root / d).mkdir(parents=True)
    for f in ("Makefile", "Kconfig"):
        (root / f).write_text("")
    return root


def test_the_tree_is_found_from_below_its_top_and_only_when_no_kernel_is_named(tmp_path, monkeypatch, capsys):
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
def installed(tmp_path_factory):
    """A new venv with this checkout pip-installed into it (not editable); its bin directory."""
    venv = tmp_path_factory.mktemp("installed") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    deps = Path(sysconfig.get_path("purelib"))  # ./run's venv: pytest, virtme-ng, paramiko ...
    (site / "deps.pth").write_text(f"{deps}\n")
    # from a copy of what the package is made of: setuptools builds in the source tree (build/, *.egg-info), and an
    # egg-info in the checkout would change how every later pytest there starts (pytest_harness.py says why)
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "pytest_harness.py", "harness", "suites", "images", "kernel-configs", "expectations"):
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(source)], check=True, env=env, cwd=source,
                   capture_output=True, timeout=600)
    return venv / "bin"


def command(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_KERNEL"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # vng's commands, installed with its package
    return subprocess.run([str(bin_dir / "mptcp-harness"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_installed_command_collects_the_installed_suites_on_the_tree_it_is_started_in(installed, tmp_path):
    tree = kernel_tree_like(tmp_path / "linux")
    python = installed / "python"
    where = subprocess.run([str(python), "-c", "import harness.data as d; print(d.__file__); print(d.SUITES_DIR)"],
                           cwd=tmp_path, capture_output=True, text=True, check=True).stdout.split()
    assert where[0].startswith(str(installed.parent)) and where[1] == str(installed.parent / "share/mptcp-harness/suites")
    proc = command(installed, tree / "net" / "mptcp", "--collect-only", "-q", "-k", "mptcp/base")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"on the kernel tree here, {tree}" in proc.stderr
    assert "suites/mptcp_bpf.toml::mptcp/base" in proc.stdout and "1/32 tests collected" in proc.stdout
    assert not (tree / ".pytest_cache").exists() and sorted(os.listdir(tree)) == ["Kconfig", "Makefile", "arch", "net"]
    named = command(installed, tmp_path, "net_mptcp.toml", "--collect-only", "-q")
    assert "11 tests collected" in named.stdout and "kernel tree here" not in named.stderr, named.stdout + named.stderr


def test_the_installed_command_passes_commands_on_and_says_a_bad_tree_in_one_line(installed, tmp_path):
    log = REPO_ROOT / "tests" / "data" / "test_progs" / "full-mptcp-7.3-ok.log"
    parsed = command(installed, tmp_path, "parse", str(log), "--test", "mptcp")
    assert parsed.returncode == 0 and "mptcp/base" in parsed.stdout, parsed.stdout + parsed.stderr  # all passed
    assert command(installed, tmp_path, "shell", "--help").returncode == 0
    bad = command(installed, tmp_path, "-k", "mptcp/base", "--kernel-tree", str(tmp_path))
    assert bad.returncode == pytest.ExitCode.USAGE_ERROR and "is not a kernel source tree" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr
