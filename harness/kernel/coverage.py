"""--coverage's kernel: gcov in it (kernel-configs/gcov.config) and net/mptcp profiled, the tree untouched.

A tree that has CONFIG_GCOV_PROFILE_MPTCP (mptcp_net-next) gets it set (kernel-configs/
gcov_mptcp.config). Any other gets kernel-configs/gcov-mptcp.mk read by every make of the build
before its own makefiles: GNU make's MAKEFILES variable, documented in its manual ("The Variable
MAKEFILES"); the file sets kbuild's GCOV_PROFILE for net/mptcp's objects, what a line in its
Makefile would (Documentation/dev-tools/gcov.rst). The whole kernel only when asked:
--kconfig-fragment gcov_all. After each round the guest copies net/mptcp's counters out
(guest/scripts/gcov.sh); harness/report/coverage.py turns them into lcov's report.
"""
from __future__ import annotations

import functools
from pathlib import Path

from harness.data import KERNEL_CONFIGS_DIR
from harness.kernel import Kernel
from harness.kernel.kconfig import built_with

GCOV_MAKEFILE = KERNEL_CONFIGS_DIR / "gcov-mptcp.mk"
OWN_SWITCH = "config GCOV_PROFILE_MPTCP"


def fragments(tree: Path) -> tuple[str, ...]:
    """The kernel-configs fragments --coverage adds for this tree."""
    kconfig = tree / "net" / "mptcp" / "Kconfig"
    own = kconfig.is_file() and OWN_SWITCH in kconfig.read_text(errors="replace")
    return ("gcov", "gcov_mptcp") if own else ("gcov",)


def make_env(fragment_names: list[str]) -> dict[str, str]:
    """What make's environment needs for these fragments: the makefile that profiles net/mptcp, when nothing else does."""
    if "gcov" in fragment_names and not {"gcov_mptcp", "gcov_all"} & set(fragment_names):
        return {"MAKEFILES": str(GCOV_MAKEFILE)}
    return {}


@functools.cache
def gcov_kernel(kernel: Kernel) -> bool:
    """The kernel keeps gcov counters (CONFIG_GCOV_KERNEL): its guests copy them out after each round."""
    return built_with(kernel, "CONFIG_GCOV_KERNEL")
