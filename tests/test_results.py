"""The one place that decides a subtest's status, on real parsed output."""
from collections.abc import Iterable
from pathlib import Path

from harness.parse.test_progs import ParsedLog, parse_test_progs
from harness.results import NOT_IN_BUILD, Status, SubtestResult, decide

DATA = Path(__file__).parent / "data" / "test_progs"
SUITE = ["base", "mptcpify", "subflow", "rr"]


def parsed(name: str, cut_at: str | None = None) -> ParsedLog:
    text = (DATA / name).read_text()
    if cut_at:
        text = text[: text.index(cut_at)]
    return parse_test_progs(text)


def by_name(results: Iterable[SubtestResult]) -> dict[str, SubtestResult]:
    return {r.name: r for r in results}


def test_subtests_the_build_lacks_are_skipped_not_failed() -> None:
    results = by_name(decide("mptcp", ["base", "rr"], SUITE, parsed("full-mptcp-7.3-ok.log"), runner_finished=True))
    assert results["mptcp/base"].status is Status.PASSED
    assert results["mptcp/rr"].status is Status.NOT_IN_BUILD
    assert results["mptcp/rr"].reason == NOT_IN_BUILD


def test_extra_subtests_of_the_build_are_reported_as_outside_the_suite() -> None:
    results = by_name(decide("mptcp", SUITE, SUITE, parsed("full-mptcp-7.3-ok.log"), runner_finished=True))
    assert results["mptcp/sockmap"].status is Status.PASSED
    assert not results["mptcp/sockmap"].in_suite
    assert results["mptcp/base"].in_suite


def test_missing_results_of_an_unfinished_run_are_lost_never_passed() -> None:
    log = parsed("full-mptcp-7.3-ok.log", cut_at="#254/3")
    results = by_name(decide("mptcp", SUITE, SUITE, log, runner_finished=False))
    assert results["mptcp/base"].status is Status.PASSED
    assert results["mptcp/subflow"].status is Status.LOST
    assert results["mptcp/rr"].status is Status.LOST  # cannot tell "not in build" without the end


def test_failure_keeps_its_output() -> None:
    results = by_name(decide("mptcp", ["mptcpify"], SUITE, parsed("concurrent-unisolated-mptcpify-fail.log"), True))
    r = results["mptcp/mptcpify"]
    assert r.status is Status.FAILED and r.status.is_problem
    assert r.output[-1] == "test_mptcpify:FAIL:netns_new unexpected error: -2"


def test_allow_list_run_of_7_3_reports_rr_not_in_build() -> None:
    results = by_name(decide("mptcp", ["base", "mptcpify", "rr"], SUITE, parsed("allow-base-mptcpify-rr-7.3.log"), True))
    assert [results[n].status for n in ("mptcp/base", "mptcp/mptcpify", "mptcp/rr")] == [
        Status.PASSED, Status.PASSED, Status.NOT_IN_BUILD]
    assert results["mptcp/rr"].reason == NOT_IN_BUILD


def test_a_run_survives_the_trip_from_an_xdist_worker_to_the_controller() -> None:
    import json

    from harness.crashes import attributed
    from harness.parse.console import find_incidents, separate
    from harness.results import SuiteRun, by_incident, run_from_plain, run_to_plain

    console = (Path(__file__).parent / "data" / "console" / "canary-pass-warning-console-7.3.log").read_text()
    (warning,) = [attributed(i, ("mptcp/mptcpify",)) for i in find_incidents(separate(console)[1])]
    results = decide("mptcp", ["mptcpify", "rr"], SUITE, parsed("concurrent-unisolated-mptcpify-fail.log"), True)
    results[0] = by_incident(results[0], warning, fail_on_warning=True)
    assert results[0].blame == warning
    run = SuiteRun("mptcp", "debian:7.3.4", tuple(results), log="x", infra_errors=("e",), elapsed_s=1.5,
                   incidents=(warning,))
    assert run_from_plain(json.loads(json.dumps(run_to_plain(run)))) == run


def test_the_first_kernel_incident_names_the_reason_later_ones_add_their_traces() -> None:
    """As the real lockdep canary showed: lockdep's report, then the BUG it leads to (or the other way round)."""
    from harness.parse.console import Incident, IncidentKind
    from harness.results import DECODED, SubtestResult, blamed
    ran = SubtestResult("canary/lockdep", Status.PASSED, ("ok",))
    lockdep = Incident(IncidentKind.LOCKDEP, False, 1, ("WARNING: lock held when returning to user space!",))
    bug = Incident(IncidentKind.BUG, False, 9, ("BUG: scheduling while atomic", " mptcp_close+0x2a/0x60"),
                   decoded=("BUG: scheduling while atomic", " mptcp_close (net/mptcp/protocol.c:3172)"))
    once = blamed(ran, "kernel lockdep while it ran", lockdep)
    twice = blamed(once, "kernel bug while it ran", bug)
    assert twice.status is Status.FAILED and twice.reason == "kernel lockdep while it ran"
    assert twice.output == ("ok", "WARNING: lock held when returning to user space!", "BUG: scheduling while atomic",
                            " mptcp_close+0x2a/0x60", DECODED, "BUG: scheduling while atomic",
                            " mptcp_close (net/mptcp/protocol.c:3172)")  # the raw trace, then the decoded one beside it


def test_failure_rates_count_each_subtests_failed_rounds_of_those_run() -> None:
    from harness.results import Status, SubtestResult, failure_rates, round_name
    statuses = [Status.PASSED, Status.FAILED, Status.FLAKY, Status.TIMEOUT, Status.NOT_RUN]
    results = [SubtestResult(round_name("mptcp/subflow", n, 5), s) for n, s in enumerate(statuses, start=1)]
    results.append(SubtestResult("mptcp/base", Status.FAILED))  # not a round: not counted
    assert failure_rates(results) == {"mptcp/subflow": (2, 4)}


def test_a_known_crash_makes_the_live_line_xfail_as_the_end_does(tmp_path: Path) -> None:
    """The canary's real WARNING fails canary/warning; an expectations entry names its fingerprint: the line shown
    as it runs (expected_failure, on the result's blame) and the run's end (apply, on the run's incidents) agree."""
    from harness.crashes import attributed
    from harness.expectations import apply, expected_failure, load
    from harness.parse.console import find_incidents, separate
    from harness.results import SubtestResult, SuiteRun, by_incident

    console = (Path(__file__).parent / "data" / "console" / "canary-pass-warning-console-7.3.log").read_text()
    (warning,) = [attributed(i, ("canary/warning",)) for i in find_incidents(separate(console)[1])]
    failed = by_incident(SubtestResult("canary/warning", Status.PASSED), warning, fail_on_warning=True)
    known_file = tmp_path / "known.toml"
    known_file.write_text('[[crash]]\nfingerprint = "canary_warning"\nreason = "it warns on purpose"\n')
    known = load(known_file)
    live = expected_failure(failed, known, "prebuilt", "debian:7.3")
    (end,) = apply([SuiteRun("canary", "debian:7.3", (failed,), incidents=(warning,))], known, "prebuilt")[0].subtests
    assert live.status is Status.XFAIL and (live.status, live.reason) == (end.status, end.reason)
