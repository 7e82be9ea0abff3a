"""Subtests side by side in one guest, isolated (the work is guest/scripts/isolated.sh).

test_progs' MPTCP subtests all create the named netns "mptcp_ns" (/run/netns/mptcp_ns):
two copies at once collide ("File exists"; measured: 3 of 4 concurrent copies fail).
Each copy therefore gets its own mount namespace with a private tmpfs on /run/netns, its
own network namespace (names, routes, sysctls) and its own scratch directory as TMPDIR.
"""
from __future__ import annotations

import shlex

from harness.guest.commands import script


def isolated(argv: list[str], scratch: str) -> str:
    """A shell command line running argv isolated from every other isolated command."""
    return shlex.join(["sh", script("isolated.sh"), scratch, *argv])
