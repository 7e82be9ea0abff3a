"""A failure's signature (harness.bisect.step.signature): what must come back for a bisect step to be bad. Fed real
outputs: test_progs' captures (tests/data/test_progs), the KUnit ones (tests/data/kunit)."""
from pathlib import Path

from harness.bisect.step import Kind, Verdict, same_failure, signatures
from harness.parse.console import find_incidents, separate
from harness.parse.test_progs import parse_test_progs
from harness.results import Status, SubtestResult, by_guest_end, decide, signature

DATA = Path(__file__).parent / "data"


def from_test_progs(name: str, subtests: list[str]) -> dict[str, SubtestResult]:
    parsed = parse_test_progs((DATA / "test_progs" / name).read_text())
    return {r.name: r for r in decide("mptcp", subtests, subtests, parsed, True)}


def test_a_test_progs_failure_is_its_first_failing_check_without_its_numbers() -> None:
    found = from_test_progs("concurrent-unisolated-subflow-fail.log", ["subflow"])["mptcp/subflow"]
    assert found.status is Status.FAILED
    assert signature(found) == "test_subflow:FAIL:netns_new: mptcp_subflow unexpected error: N"
    other = from_test_progs("concurrent-unisolated-mptcpify-fail.log", ["mptcpify"])["mptcp/mptcpify"]
    assert signature(other) == "test_mptcpify:FAIL:netns_new unexpected error: N"


def test_a_crash_is_its_kind_and_fingerprint_and_a_kunit_failure_its_first_failing_case() -> None:
    _, events = separate((DATA / "kunit" / "token-bad-token-console.log").read_text())
    incidents = find_incidents(events)
    fatal = next(i for i in incidents if i.fatal)
    died = by_guest_end(SubtestResult("kunit-mptcp/mptcp-token", Status.LOST), None, fatal,
                       tuple(i for i in incidents if not i.fatal))
    assert signature(died).startswith("kernel panic: the guest died [mptcp_token_destroy/")
    parsed = parse_test_progs((DATA / "kunit" / "crypto-expectation-failed.log").read_text())
    (crypto,) = decide("kunit-mptcp", ["mptcp-crypto"], ["mptcp-crypto"], parsed, True, nested=True)
    assert signature(crypto) == "sub-case mptcp_crypto_test_basic"
    assert signatures([crypto, SubtestResult("kunit-mptcp/mptcp-token", Status.PASSED)]) == {
        "kunit-mptcp/mptcp-crypto": "sub-case mptcp_crypto_test_basic"}


def test_bad_stays_bad_only_for_the_same_failure() -> None:
    expected = {"mptcp/subflow": "test_subflow:FAIL:netns_new: mptcp_subflow unexpected error: N"}
    bad = Verdict(Kind.BAD, "mptcp/subflow failed")
    assert same_failure(bad, dict(expected), expected).kind is Kind.BAD
    other = same_failure(bad, {"mptcp/subflow": "timeout"}, expected)
    assert other.kind is Kind.UNTESTABLE and other.why == "cannot tell: a different failure (mptcp/subflow: timeout)"
    assert same_failure(bad, {"mptcp/base": expected["mptcp/subflow"]}, expected).kind is Kind.UNTESTABLE
    assert same_failure(Verdict(Kind.GOOD, "1 passed"), {}, expected).kind is Kind.GOOD
