"""`./run tests -n 2` (tests/conftest.py): which tests share the default cache's work unit, which run beside it."""
import subprocess

from tests.conftest import DEFAULT_CACHE, DefaultCacheInOneUnit, boots_on_the_default_cache, unit_order
from tests.helpers import REPO_ROOT


def scope(nodeid: str) -> str:
    return str(DefaultCacheInOneUnit._split_scope(object.__new__(DefaultCacheInOneUnit), nodeid))


def test_guest_tests_on_the_default_cache_share_one_unit_the_others_run_beside_it() -> None:
    assert scope("tests/test_warm_e2e.py::test_a_tainted_guest_is_not_reused") == DEFAULT_CACHE
    assert scope("tests/test_guest_e2e.py::test_x[a]") == scope("tests/test_faults_e2e.py::test_y") == DEFAULT_CACHE
    assert scope("tests/test_builds_e2e.py::test_z") == "tests/test_builds_e2e.py"  # a cache of its own
    assert scope("tests/test_sizing.py::test_w") == "tests/test_sizing.py"  # no guest
    assert scope("tests/test_command.py::test_v") == "tests/test_command.py"  # its guest on a cache of its own


def test_every_module_whose_guests_use_the_default_cache_is_in_its_unit() -> None:
    """A module that boots a guest without a cache of its own (no --harness-cache, no HARNESS_CACHE) must be marked
    `guest`: its "no QEMU of this cache left" would see the other worker's guests."""
    modules = subprocess.run(["git", "ls-files", "tests/test_*.py"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for module in (m for m in modules if m != "tests/test_workers.py"):  # (this one names them)
        text = (REPO_ROOT / module).read_text()
        boots = "harness_qemus()" in text or "boots()" in text
        assert not boots or boots_on_the_default_cache(module), f"{module} checks the default cache's guests"


def test_the_longest_units_are_dealt_out_first() -> None:
    ids = ["tests/test_apt.py::a", "tests/test_kselftests_e2e.py::b", "tests/test_warm_e2e.py::c", "tests/test_zz.py::d"]
    assert sorted(ids, key=unit_order) == [ids[2], ids[1], ids[0], ids[3]]
