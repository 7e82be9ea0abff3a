"""How `./run tests` spreads over two pytest-xdist workers (`-n 2 --dist loadgroup`): every test that uses the
default cache (its warm guests, its boots.log, "no QEMU of this cache left") runs in one group, one after another,
as without xdist; a test marked own_cache (a cache of its own, tests/helpers.harness_qemus(cache)) runs beside them.
Under TCG a guest keeps one host core busy: two workers, two guests, two cores."""
import pytest

from harness.settings import REPO_ROOT

TESTS = REPO_ROOT / "tests"


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook turns the group into the test's id
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(TESTS) and item.get_closest_marker("own_cache") is None:
            item.add_marker(pytest.mark.xdist_group("default-cache"))
