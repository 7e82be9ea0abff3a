"""The bisect driver: verdicts from real reports, and the search over a list of builds."""
import json
from pathlib import Path

import pytest

from harness.bisect import Verdict, first_bad, verdict
from harness.errors import BadInput, InfraError

REPORTS = Path(__file__).parent / "data" / "reports"


def report(name: str, *subtests: str) -> dict:
    """A real results.json, cut down to the subtests a `-k` selection would have run."""
    doc = json.loads((REPORTS / name).read_text())
    doc["tests"] = [t for t in doc["tests"] if t["name"] in subtests]
    return doc


def test_passed_subtests_make_a_good_kernel():
    assert verdict(report("mptcp-7.3-results.json", "mptcp/base", "mptcp/subflow")) == Verdict("good", "2 passed")


def test_a_subtest_the_build_lacks_makes_the_kernel_untestable_not_good():
    found = verdict(report("mptcp-7.3-results.json", "mptcp/base", "mptcp/rr"))
    assert found.kind == "untestable" and "not in this build" in found.why and found.git_code == 125


def test_a_failed_subtest_makes_the_kernel_bad():
    found = verdict(report("canary-7.3-results.json", "canary/pass", "canary/warning"))
    assert found == Verdict("bad", "canary/warning failed: kernel warning while it ran") and found.git_code == 1


def test_nothing_ran_is_untestable():
    assert verdict({"tests": []}).kind == "untestable"


def verdicts(*kinds: str):
    """A stand-in for a run on each kernel, by position; records which were tested."""
    tested: list[str] = []

    def test(kernel: str) -> Verdict:
        tested.append(kernel)
        return Verdict(kinds[int(kernel)], "stand-in")
    return test, tested


def test_the_search_halves_the_range_and_steps_over_untestable_builds():
    test, tested = verdicts("good", "good", "good", "untestable", "bad", "bad", "bad")
    assert first_bad([str(i) for i in range(7)], test, lambda line: None) == (2, 4)
    assert tested[:2] == ["0", "6"]  # both ends first
    assert len(tested) <= 5


def test_a_range_without_a_regression_is_bad_input():
    test, _ = verdicts("good", "good", "good")
    with pytest.raises(BadInput, match="newest kernel must be bad"):
        first_bad(["0", "1", "2"], test, lambda line: None)
    test, _ = verdicts("bad", "bad")
    with pytest.raises(BadInput, match="oldest kernel must be good"):
        first_bad(["0", "1"], test, lambda line: None)


def test_an_end_that_cannot_be_tested_is_an_infrastructure_error():
    def lost(kernel: str) -> Verdict:
        return Verdict("untestable", "mptcp/base lost (test_progs did not finish)")
    with pytest.raises(InfraError):
        first_bad(["0", "1"], lost, lambda line: None)
