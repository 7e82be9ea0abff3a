"""`./run tests` runs two workers (pytest-xdist, `-n 2`) on a machine with 2 cores or more: every test that boots
guests on the default cache (its warm guests, its boots.log, "no QEMU of this cache left") runs in one work unit, one
after another as without xdist; each other module (a cache of its own: tests/helpers.harness_qemus(cache) tells
their guests apart; or no guest at all) is a unit of its own, run beside it.

Measured (2026-12-06, 2 cores, TCG, warm, 421 tests): 916 s one after another, 556 s with -n 2. Each guest test
took 10-30 % longer beside another, not twice as long as on 2026-11-26 (then 1300 s against 1078 s), when guests
ran multi-threaded TCG (two host threads each) and a kernel build ran beside every run.

Our own scheduler, not `--dist loadgroup` + xdist_group marks: pytest-xdist 3.8.0 marks a group by rewriting
Item._nodeid, which pytest 9.2 no longer reads (nodeid comes from Item._id), so every group is silently split.
Also the `browser` fixture: Debian's chromium, headless, through its chromedriver (selenium), for the dashboard's tests."""
from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

from harness import host

OWN_CACHE = ("tests/test_builds_e2e.py", "tests/test_kernels_night_e2e.py", "tests/test_kselftests_e2e.py",
             "tests/test_pcap_e2e.py", "tests/test_tree_loop_e2e.py")
DEFAULT_CACHE = "default-cache"


@functools.cache
def boots_on_the_default_cache(module: str) -> bool:
    """A module of guest tests (marked `guest`) that is not in OWN_CACHE: its guests are the default cache's."""
    from tests.helpers import REPO_ROOT

    path = REPO_ROOT / module
    return module not in OWN_CACHE and path.is_file() and "pytest.mark.guest" in path.read_text()


def unit_order(nodeid: str) -> int:
    """The longest units first (the default cache's guest tests, then the modules of guest tests on caches of their
    own), so that the last unit dealt out is a short one: the scheduler deals them in collection order."""
    module = nodeid.split("::", 1)[0]
    return 0 if boots_on_the_default_cache(module) else 1 if module in OWN_CACHE else 2


class DefaultCacheInOneUnit(LoadScopeScheduling):  # type: ignore[misc]  # xdist ships no types
    def _split_scope(self, nodeid: str) -> str:
        module = nodeid.split("::", 1)[0]
        return DEFAULT_CACHE if boots_on_the_default_cache(module) else module


def pytest_xdist_make_scheduler(config: Any, log: Any) -> LoadScopeScheduling | None:
    if config.getvalue("dist") != "load":  # -n alone means load; another --dist the user asked for stays theirs
        return None
    config.option.loadscopereorder = False  # (by the number of tests in a unit, not by how long they take)
    return DefaultCacheInOneUnit(config, log)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The tree test (tests/tree_build.py) runs last, its cold build started now beside the tests before it. Under
    xdist, every worker orders its items by unit_order (they must all collect the same order)."""
    from tests import tree_build

    if hasattr(config, "workerinput"):
        items.sort(key=lambda item: unit_order(item.nodeid))

    tree = [i for i in items if i.nodeid.startswith(tree_build.MODULE)]
    if tree and len(tree) < len(items):
        items[:] = [i for i in items if i not in tree] + tree
        if not hasattr(config, "workerinput") and not config.option.collectonly:  # under xdist, the test starts it
            tree_build.start()


_CHECKOUT = pytest.StashKey[tuple[str, dict[str, int]]]()


def checkout_state() -> tuple[str, dict[str, int]]:
    """The checkout as git sees it (`git status --porcelain`: changed and new files), and each tracked file's mtime:
    a file written again with the same content (a test's stray `echo > out.txt`) changes the second."""
    from tests.helpers import REPO_ROOT

    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO_ROOT,
                            capture_output=True, text=True).stdout
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, text=True).stdout
    times = {name: (REPO_ROOT / name).stat().st_mtime_ns for name in tracked.split("\0") if (REPO_ROOT / name).is_file()}
    return status, times


def pytest_sessionstart(session: pytest.Session) -> None:
    if not hasattr(session.config, "workerinput"):  # the controller's, once: the workers share its checkout
        session.config.stash[_CHECKOUT] = checkout_state()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test writes into its own temporary dirs and caches only: the session fails when the checkout changed."""
    before = session.config.stash.get(_CHECKOUT, None)
    if before is None:
        return
    status, times = checkout_state()
    changed = sorted({*status.splitlines()} ^ {*before[0].splitlines()}) + \
        sorted(f"{name} (written again)" for name, t in times.items() if before[1].get(name, t) != t)
    if changed:
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"the checkout changed during the tests: {', '.join(changed[:10])}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_unconfigure(config: pytest.Config) -> None:
    from tests import tree_build

    tree_build.stop()


def installable(package: str) -> bool:
    policy = subprocess.run(["apt-cache", "policy", package], capture_output=True, text=True).stdout
    return "Candidate:" in policy and "Candidate: (none)" not in policy


@pytest.fixture
def browser() -> Iterator[Any]:
    missing = [p for p in ("chromium", "chromedriver") if host.find(p) is None]
    if missing and not all(installable(p) for p in ("chromium", "chromium-driver")):
        pytest.skip("chromium cannot be installed on this machine (no apt candidate for chromium, chromium-driver)")
    assert not missing, f"{', '.join(missing)} missing: apt-get install chromium chromium-driver (./run does)"
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(host.find("chromium"))
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1100,600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(host.find("chromedriver"))), options=options)
    yield driver
    driver.quit()
