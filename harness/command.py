"""`mptcp-harness`, the installed command: the harness from any directory, on the kernel tree it is started in.

  mptcp-harness [pytest and harness options] [-k EXPR]   run the suites: pytest on the installed suites/
  mptcp-harness shell|verify-fix|bisect|nightly|... ARGS  a harness command (python -m harness's)
  mptcp-harness setup                                     install the host packages it needs (apt)

Started inside a kernel source tree (or below its top), and given no kernel, it runs on that tree:
`cd ~/mptcp_net-next && mptcp-harness -k mptcp/rr` is `--kernel-tree ~/mptcp_net-next -k mptcp/rr`.
Elsewhere it takes the default Debian kernel, as `./run mptcp` does. Its exit codes are pytest's for
a run, the harness's (0 passed, 1 failed, 2 bad input, 3 infrastructure) for the commands.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from harness.data import SUITES_DIR

# the options that name the kernel (settings.KERNEL_CHOICES's flags), and the commands' own ways to
KERNEL_FLAGS = ("--kernel", "--kernel-version", "--kernel-tree", "--kernel-image", "--kernels", "--git")
KERNEL_ENV = ("HARNESS_KERNEL", "HARNESS_KERNEL_VERSION", "HARNESS_KERNEL_TREE", "HARNESS_KERNEL_IMAGE")
# python -m harness's commands that take a kernel; the others (parse, merge, report ...) are passed as they are
TAKES_KERNEL = ("shell", "verify-fix", "bisect", "bisect-step", "nightly")


def tree_above(start: Path) -> Path | None:
    """The top of the kernel source tree holding `start`, if it is in one."""
    from harness.kernel.tree import is_tree

    return next((d for d in (start, *start.parents) if is_tree(d)), None)


def names_a_kernel(args: list[str]) -> bool:
    given = any(a == f or a.startswith(f + "=") for a in args for f in KERNEL_FLAGS)
    return given or any(os.environ.get(k) for k in KERNEL_ENV)


def with_tree(args: list[str], cwd: Path) -> list[str]:
    """args with `--kernel-tree <the tree here>` when they name no kernel and cwd is in a tree; said on stderr."""
    tree = None if names_a_kernel(args) else tree_above(cwd)
    if tree is None:
        return args
    print(f"mptcp-harness: on the kernel tree here, {tree} (--kernel-tree; give --kernel or --kernel-image for "
          "another kernel)", file=sys.stderr, flush=True)
    return ["--kernel-tree", str(tree), *args]


def suite_paths(args: list[str]) -> list[str]:
    """A suite file named as installed (`net_mptcp.toml`) rather than by a path that exists here: the installed one."""
    out = []
    for a in args:
        installed = SUITES_DIR / a
        out.append(str(installed) if a.endswith(".toml") and not Path(a).exists() and installed.is_file() else a)
    return out


def run_suites(args: list[str]) -> int:
    """pytest on the installed suites (all of them unless a suite file is named), its rootdir the data's, its cache
    in the harness's cache: the user's tree gets no .pytest_cache."""
    import pytest

    from harness.settings import default_cache_dir

    args = suite_paths(args)
    named = [a for a in args if a.endswith(".toml") and Path(a).is_file()]
    # (--assert=plain: the suites are TOML, and this module imported the harness before pytest could rewrite it)
    argv = ["--rootdir", str(SUITES_DIR.parent), "-o", f"cache_dir={default_cache_dir() / 'pytest'}", "--assert=plain", *args]
    return int(pytest.main(argv if named else [*argv, str(SUITES_DIR)], plugins=[ItemNames()]))


class ItemNames:
    """Items named as from the checkout ("suites/mptcp_bpf.toml::mptcp/rr"), not by a path from the current directory
    to the installed suites (pytest names them relative to where it was started when that is not its rootdir)."""

    def pytest_configure(self, config: Any) -> None:
        config.cwd_relative_nodeid = lambda nodeid: nodeid


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    # vng calls its helper programs by name: those installed beside this command come first (./run does the same)
    os.environ["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    if args[:1] == ["setup"]:
        from harness.host.setup import main as setup

        return setup(args[1:])
    if args[:1] in (["-h"], ["--help"]):
        print(__doc__.strip())
        print("\npytest's and the harness's options: mptcp-harness --help-pytest; a command's: mptcp-harness shell --help")
        return 0
    if args[:1] == ["--help-pytest"]:
        return run_suites(["--help"])
    from harness import cli

    commands = cli.command_names()
    if args and args[0] in commands:
        rest = args[1:]
        if args[0] in TAKES_KERNEL and "-h" not in rest and "--help" not in rest:
            rest = with_tree(rest, Path.cwd())
        return cli.main([args[0], *rest])
    return run_suites(with_tree(args, Path.cwd()))
