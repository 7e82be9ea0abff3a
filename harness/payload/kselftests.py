"""The kselftest payload: one directory of tools/testing/selftests (net/mptcp) built and installed for the guest.

Built from the kernel's own source and out of it, nothing written there: the source's UAPI
headers go into the build directory first (`make O=<build> headers`), then the selftests'
top-level Makefile builds the directory (TARGETS=net/mptcp, O=<build>) and installs it
(INSTALL_PATH) with what its scripts source from beside it (../lib.sh, net/lib/sh). A few
seconds of make; cached under a key of the source, the compiler and the directory, only
when a suite of runner "kselftest" is selected. The directory's own `settings` (timeout)
and `config` (the kernel options its scripts need) travel with the payload.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cache import require_free_space
from harness.errors import BadInput, failed_step
from harness.kernel import Kernel, config_file
from harness.kernel.kconfig import read_config
from harness.payload.build import cached, compiler_identity, run_steps, write_header
from harness.payload.selftests_bpf import COMPILER_ERROR
from harness.suites import Suite

STAMP = "kselftests.json"
DEFAULT_TIMEOUT_S = 45.0  # the kselftest runner's own, for a directory without a settings file
SELFTESTS = Path("tools", "testing", "selftests")


@dataclass(frozen=True)
class KselftestPayload:
    directory: Path  # the installed directory the scripts run from: <install>/net/mptcp
    identity: str
    timeout_s: float  # its `settings` file's timeout, unscaled
    config: Path | None  # its `config` file: kernel options its scripts need
    other_tree: bool = False  # built from --selftests-tree, not the kernel's own source


def build_kselftests(kernel: Kernel, suite: Suite, cache_dir: Path, jobs: int, say: Callable[[str], None] = print,
                     tree: Path | None = None) -> KselftestPayload:
    """Build and install `suite.directory` from the kernel's source, or from `tree` (--selftests-tree), or find it in
    the cache (no make then)."""
    if tree is None and kernel.source is None:
        raise BadInput(f"kernel {kernel.identity} comes with no source tree to build {suite.directory} selftests from; "
                       "use a Debian kernel (its linux-source), --kernel-tree or --selftests-tree")
    source = tree or kernel.source
    assert source is not None
    if not (source / SELFTESTS / suite.directory / "Makefile").is_file():
        raise BadInput(f"{source} has no {SELFTESTS / suite.directory}/Makefile: suite {suite.name} cannot be built "
                       "from this source")
    compiler = compiler_identity(["cc"], cache_dir)
    origin, key = kselftests_key(kernel, source, suite, compiler, tree is not None)

    def build(partial: Path) -> dict[str, Any]:
        _build(kernel, source, suite, partial, jobs, say, compiler)
        return {"identity": f"kselftests:{suite.directory}:{origin}:{key}", "source": str(source), "compiler": compiler}
    entry = cached(cache_dir / "payloads", key, STAMP, build, say, checked=("install/**/*",))
    directory = entry.directory / "install" / suite.directory
    config = directory / "config"
    return KselftestPayload(directory, str(entry.stamp["identity"]), settings_timeout(directory / "settings"),
                            config if config.is_file() else None, tree is not None)


def kselftests_key(kernel: Kernel, source: Path, suite: Suite, compiler: str, other_tree: bool) -> tuple[str, str]:
    """What a kselftests build is made of (its origin) and its cache key. A tree's selftests (--selftests-tree, or the
    tree a kernel was built from) by their own content: a tree's source_identity is its BPF selftests' (found: two
    trees with the same BPF sources, one with a changed pm_netlink.sh, shared one build). A Debian kernel's by its
    source package."""
    origin = selftests_identity(source) if other_tree or kernel.build_dir is not None else \
        kernel.source_identity or str(source.resolve())
    what = f"{origin}\n{compiler}\n{suite.directory}"
    return origin, "ksft-" + hashlib.sha256(what.encode()).hexdigest()[:16]


def selftests_identity(tree: Path) -> str:
    """What a --selftests-tree's selftests are built from: in a git checkout the content of tools/testing/selftests
    and the UAPI headers at HEAD and in the work tree; else the tree's path and the newest change under them."""
    from harness.kernel import git
    from harness.kernel.tree import tree_state

    paths = [str(SELFTESTS), "include/uapi", "arch/x86/include/uapi", "scripts", "Makefile"]
    if git.is_checkout(tree):
        return f"selftests-tree-content:{hashlib.sha256(git.content(tree, paths)).hexdigest()}"
    return f"selftests-tree:{tree.resolve()}:{tree_state(tree, only=str(SELFTESTS))}"


def _build(kernel: Kernel, source: Path, suite: Suite, out: Path, jobs: int, say: Callable[[str], None],
           compiler: str) -> None:
    require_free_space(out.parent.parent, 0.2, "a kselftest build")
    build, install = out / "build", out / "install"
    build.mkdir(parents=True)
    log = out / "build.log"
    say(f"building the {suite.directory} selftests from {source}; log: {log}")
    start = time.monotonic()
    steps = [
        ["make", "-C", str(source), f"O={build}", "headers"],
        ["make", "-C", str(source / SELFTESTS), f"-j{jobs}", f"TARGETS={suite.directory}", f"O={build}",
         f"KHDR_INCLUDES=-isystem {build}/usr/include", f"INSTALL_PATH={install}", "install"],
    ]
    with open(log, "w") as f:
        write_header(f, f"the {suite.directory} selftests into {out.name.split('.')[0]}", kernel=kernel.identity,
                     source=str(source), compilers=compiler)
        returncode = run_steps(steps, f, dict(os.environ))
    if returncode != 0 or not (install / suite.directory).is_dir():
        raise failed_step(f"building the {suite.directory} selftests", log, COMPILER_ERROR)
    shutil.rmtree(build / "usr", ignore_errors=True)  # the headers: only the build needed them
    say(f"built the {suite.directory} selftests in {time.monotonic() - start:.0f} s")


def settings_timeout(path: Path) -> float:
    """A kselftest directory's `settings` file's timeout= (seconds); the runner's default without one."""
    if not path.is_file():
        return DEFAULT_TIMEOUT_S
    for line in path.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "timeout" and value.strip().isdigit():
            return float(value.strip())
    return DEFAULT_TIMEOUT_S


def missing_options(payload: KselftestPayload, kernel: Kernel) -> list[str]:
    """The options of the directory's `config` the kernel does not have (options_against)."""
    return options_against(payload, kernel)[0]


def options_against(payload: KselftestPayload, kernel: Kernel) -> tuple[list[str], list[str]]:
    """The options of the directory's `config` the kernel does not have ("m" where "y" is asked is enough: the
    module loads), and, for selftests from another tree, those the kernel's .config does not name at all (an option
    of a newer kernel, or one whose dependencies this config does not meet): not missing, the scripts' own feature
    checks decide. Both configs read once; nothing when either is unknown."""
    kernel_config = config_file(kernel)
    if payload.config is None or kernel_config is None:
        return [], []
    have = read_config(kernel_config)
    wanted = {o: v for o, v in read_config(payload.config).items() if v != "n"}
    unknown = [o for o in wanted if o not in have] if payload.other_tree else []
    missing = [f"{o}={v}" for o, v in wanted.items() if have.get(o, "n") in ("n", "") and o not in unknown]
    return missing, unknown
