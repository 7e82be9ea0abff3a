"""`./run tests -n 2` (pytest-xdist) on a machine with cores to spare: every test that uses the default cache (its
warm guests, its boots.log, "no QEMU of this cache left") runs in one work unit, one after another as without xdist;
the modules in OWN_CACHE (each test on a cache of its own that shares only the default kernel:
tests/helpers.harness_qemus(cache) tells their guests apart) run beside it.

Not the default: on 2 cores under TCG it does not pay. Measured (2026-11-26, a fresh clone, `CI=true bash .ci/run`
with -n 2): 199 passed in 1300 s against 1078 s one after another; every guest test took about twice as long beside
another (the net/mptcp e2e 934 s instead of 475, the payload SIGKILL test 347 s instead of 116).

Our own scheduler, not `--dist loadgroup` + xdist_group marks: pytest-xdist 3.8.0 marks a group by rewriting
Item._nodeid, which pytest 9.2 no longer reads (nodeid comes from Item._id), so every group is silently split."""
from __future__ import annotations

from typing import Any

from xdist.scheduler import LoadScopeScheduling

OWN_CACHE = ("tests/test_builds_e2e.py", "tests/test_kselftests_e2e.py")
DEFAULT_CACHE = "default-cache"


class DefaultCacheInOneUnit(LoadScopeScheduling):
    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return module if module in OWN_CACHE else DEFAULT_CACHE


def pytest_xdist_make_scheduler(config: Any, log: Any) -> LoadScopeScheduling | None:
    if config.getvalue("dist") != "load":  # -n alone means load; another --dist the user asked for stays theirs
        return None
    return DefaultCacheInOneUnit(config, log)
