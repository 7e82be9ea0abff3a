"""The in-guest wrapper that lets subtests run side by side in one guest.

test_progs' MPTCP subtests all create the named netns "mptcp_ns" (/run/netns/mptcp_ns):
two copies at once collide ("File exists"; measured: 3 of 4 concurrent copies fail).
Each copy therefore gets its own mount namespace with a private tmpfs on /run/netns, its
own network namespace (names, routes, sysctls) and its own scratch directory as TMPDIR.
"""
from __future__ import annotations

import shlex

_SETUP = "mkdir -p /run/netns && mount -t tmpfs harness-netns /run/netns && ip link set lo up && exec \"$@\""


def isolated(argv: list[str], scratch: str) -> str:
    """A shell command line running argv isolated from every other isolated command."""
    command = shlex.join(argv)
    return (
        f"mkdir -p {shlex.quote(scratch)} && TMPDIR={shlex.quote(scratch)} "
        f"unshare --mount --propagation private --net -- sh -c {shlex.quote(_SETUP)} isolated {command}"
    )
