"""The test_progs parser on real captured output (tests/data/test_progs, see its README)."""
from pathlib import Path

from pytest import CaptureFixture

from harness.parse.test_progs import ParsedLog, parse_test_progs

DATA = Path(__file__).parent / "data" / "test_progs"


def parse(name: str) -> ParsedLog:
    return parse_test_progs((DATA / name).read_text())


def test_full_run_reports_every_subtest_once() -> None:
    log = parse("full-mptcp-7.3-ok.log")
    assert list(log.subtests) == ["mptcp/base", "mptcp/mptcpify", "mptcp/subflow", "mptcp/sockmap"]
    assert {s.result for s in log.subtests.values()} == {"OK"}
    assert log.tests == {"mptcp": "OK"}
    assert log.summary is not None and log.summary.subtests_passed == 4 and log.summary.subtests_failed == 0


def test_counts_agree_with_test_progs_own_json_summary_of_the_same_run() -> None:
    """`-J all.json` of that very run (test_progs' own counts) against what we parsed from its text."""
    import json

    own = json.loads((DATA / "full-mptcp-7.3-ok.json").read_text())
    log = parse("full-mptcp-7.3-ok.log")
    passed = [s for s in log.subtests.values() if s.result == "OK"]
    assert (len(passed), len(log.subtests) - len(passed)) == (own["success_subtest"], own["failed_subtest"])
    assert log.summary is not None and log.summary.tests_passed == own["success"] and own["skipped"] == 0


def test_four_unisolated_copies_one_passed_three_collided() -> None:
    """Run side by side without isolation, only one copy got the netns mptcp_ns; the others say why they failed."""
    got = {}
    for name in ("base-ok", "mptcpify-fail", "subflow-fail", "sockmap-fail"):
        log = parse(f"concurrent-unisolated-{name}.log")
        got.update({n: s.result for n, s in log.subtests.items()})
    assert got == {"mptcp/base": "OK", "mptcp/mptcpify": "FAIL", "mptcp/subflow": "FAIL", "mptcp/sockmap": "FAIL"}


def test_startup_chatter_is_not_a_subtest_output() -> None:
    log = parse("full-mptcp-7.3-ok.log")
    assert (DATA / "full-mptcp-7.3-ok.log").read_text().startswith("WARNING! Selftests relying on bpf_testmod")
    assert all(s.output == () for s in log.subtests.values())


def test_failure_counted_once_despite_error_log_section() -> None:
    log = parse("concurrent-unisolated-mptcpify-fail.log")
    assert list(log.subtests) == ["mptcp/mptcpify"]
    sub = log.subtests["mptcp/mptcpify"]
    assert sub.result == "FAIL"
    # its own lines, including ip's stderr that precedes them, and nothing from the repeat
    assert sub.output[0] == 'Cannot create namespace file "/run/netns/mptcp_ns": File exists'
    assert sub.output[-1] == "test_mptcpify:FAIL:netns_new unexpected error: -2"
    assert sum("FAIL:netns_new" in line for line in sub.output) == 1
    assert log.summary is not None and log.summary.subtests_failed == 1
    assert log.tests == {"mptcp": "FAIL"}


def test_failure_output_of_other_collisions() -> None:
    for name, last in [
        ("concurrent-unisolated-subflow-fail.log", "test_subflow:FAIL:netns_new: mptcp_subflow unexpected error: -22"),
        ("concurrent-unisolated-sockmap-fail.log", "endpoint_init:FAIL:ip -net mptcp_ns link add veth1 type veth"),
    ]:
        (sub,) = parse(name).subtests.values()
        assert sub.result == "FAIL"
        assert sub.output[-1].startswith(last)


def test_verbose_log_lines_belong_to_their_subtest() -> None:
    sub = parse("verbose-base-ok.log").subtests["mptcp/base"]
    assert sub.result == "OK"
    assert sub.output[0] == "test_base:PASS:test__join_cgroup 0 nsec"
    assert sub.output[-1] == "test_base:PASS:run_test mptcp 0 nsec"
    assert not any("bpf_testmod" in line for line in sub.output)


def test_truncated_output_has_no_summary() -> None:
    text = (DATA / "full-mptcp-7.3-ok.log").read_text()
    cut = text[: text.index("#254/3")]  # the guest died after two subtests
    log = parse_test_progs(cut)
    assert list(log.subtests) == ["mptcp/base", "mptcp/mptcpify"]
    assert log.summary is None and log.tests == {}


def test_an_older_test_progs_summary_without_failed_subtests_is_a_finished_run(capsys: CaptureFixture[str]) -> None:
    """6.12's test_progs prints "Summary: 1/2 PASSED, 0 SKIPPED, 0 FAILED" (no failed-subtest count), as the
    MPTCP CI's mptcp_net-next build did; it is the end of a finished run, not a log cut short."""
    from harness.cli import main

    log = parse("verbose-base-mptcpify-6.12.log")
    assert log.summary is not None and log.summary.tests_failed == 0 and log.summary.subtests_failed is None
    assert log.problems == [] and {s.result for s in log.subtests.values()} == {"OK"}
    assert main(["parse", str(DATA / "verbose-base-mptcpify-6.12.log")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("2 passed")
