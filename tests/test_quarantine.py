"""Known flaky by the numbers (harness.nightly.quarantine): quarantined when it failed and passed on one kernel,
released by its rate's upper bound or clean nights, each decision an entry of NIGHTS_DIR/known-flaky.toml, and the
night's summary that lists it apart (not new, not unexpected). Three real nights: tests/test_nightly_e2e.py."""
import datetime
from pathlib import Path

from harness.expectations import Entry, Expectations, load
from harness.history import Outcome
from harness.night_summary import ModeNight, NightSummary
from harness.nightly import quarantine, summary
from harness.results import Status, SubtestResult, SuiteRun

TODAY = datetime.date(2026, 12, 6)
P, F, FL = Status.PASSED, Status.FAILED, Status.FLAKY


def outcomes(*statuses: Status, test: str = "mptcp/stale", mode: str = "normal", kernel: str = "tree:a",
             source: str = "night") -> list[Outcome]:
    return [Outcome(f"night-{i}", source, test, "mptcp", mode, kernel, s, "stale:FAIL" if s is not P else "",
                    time=float(i)) for i, s in enumerate(statuses)]


def test_failed_and_passed_on_one_kernel_twice_is_quarantined_and_written_to_be_read_back(tmp_path: Path) -> None:
    found = quarantine.decide(["normal:mptcp/stale"], (), Expectations(), outcomes(P, F, P, FL, F), TODAY)
    assert found.known["normal:mptcp/stale"].startswith("3 failed of 6 (50 %, 95 %: 19-81 %) in its last 5 result(s)")
    assert found.decisions == ("quarantined: normal:mptcp/stale: 3 failed of 6 (50 %, 95 %: 19-81 %) in its last 5 "
                               "result(s); failed and passed on one kernel (tree:a): no commit to blame",)
    quarantine.write(tmp_path, found.entries)
    (entry,) = load(tmp_path / quarantine.FILE).flaky
    assert (entry.test, entry.mode, entry.since, entry.expires, entry.by) == (
        "mptcp/stale", "normal", TODAY, TODAY + datetime.timedelta(days=30), "nightly")
    assert quarantine.read(tmp_path) == found.entries


def test_a_regression_is_not_flaky_nor_is_one_failure() -> None:
    """Failing every run of the new kernel, passing every run of the old: a commit is to blame; and one failure is
    too little to tell."""
    regression = outcomes(P, P, P, test="mptcp/rr", kernel="tree:old") + outcomes(F, F, F, test="mptcp/rr", kernel="tree:new")
    found = quarantine.decide(["normal:mptcp/rr", "normal:mptcp/stale"], (), Expectations(),
                              regression + outcomes(P, P, FL), TODAY)
    assert found.known == {} and found.decisions == ()


def entry(**changed: object) -> Entry:
    fields = dict(reason="failed and passed on one kernel", test="mptcp/stale", mode="normal", rate="old", since=TODAY,
                  expires=TODAY + datetime.timedelta(days=30), by="nightly") | changed
    return Entry(**fields)  # type: ignore[arg-type]


def test_released_once_its_upper_bound_is_below_five_percent_or_after_fifteen_clean_nights() -> None:
    rounds = outcomes(F, FL, *[P] * 98, source="round")  # 2 of 100: 95 % up to 7 %, it stays
    assert quarantine.decide([], (entry(),), Expectations(), rounds, TODAY).decisions == ()
    found = quarantine.decide([], (entry(),), Expectations(), outcomes(F, FL, *[P] * 100, source="round"), TODAY)
    assert found.entries == () and found.decisions == (
        "released: normal:mptcp/stale: 0 failed of 100 (0 %, 95 %: 0-4 %) in its last 100 result(s): below 5 %",)
    kept = quarantine.decide([], (entry(),), Expectations(), outcomes(F, FL, *[P] * 14), TODAY)
    assert kept.entries[0].rate.startswith("2 failed of 17") and kept.decisions == ()  # the rate kept up to date
    clean = quarantine.decide([], (entry(),), Expectations(), outcomes(F, FL, *[P] * 15), TODAY)
    assert clean.decisions == ("released: normal:mptcp/stale: passed at the first try 15 nights in a row",)


def test_a_persons_entry_stays_and_an_expired_one_is_decided_again() -> None:
    mine = entry(by="hand")
    assert quarantine.decide([], (mine,), Expectations(), outcomes(*[P] * 100), TODAY).entries == (mine,)
    old = entry(expires=TODAY - datetime.timedelta(days=1))
    renewed = quarantine.decide([], (old,), Expectations(), outcomes(F, FL, P), TODAY)
    assert renewed.entries[0].expires == TODAY + datetime.timedelta(days=30)
    assert renewed.decisions[0].startswith("renewed: normal:mptcp/stale: 2 failed of 4")
    gone = quarantine.decide([], (old,), Expectations(), outcomes(F, P, P), TODAY)
    assert gone.entries == () and "no longer fails on one kernel" in gone.decisions[0]


def test_an_expectations_flaky_entry_is_known_whatever_the_numbers() -> None:
    hand = Expectations(source="mine.toml", flaky=(Entry("races with the PM worker", "mptcp/stale"),))
    found = quarantine.decide(["normal:mptcp/stale"], (), hand, outcomes(F), TODAY)
    assert found.known == {"normal:mptcp/stale": "1 failed of 1 (100 %, 95 %: 21-100 %) in its last 1 result(s) "
                                                 "(mine.toml: races with the PM worker)"}
    assert found.entries == ()  # the person's file says it; the nightly's file does not repeat it


def test_the_summary_lists_known_flaky_apart_not_new_not_unexpected() -> None:
    run = SuiteRun("mptcp", "tree:a", (SubtestResult("mptcp/stale", Status.FAILED), SubtestResult("mptcp/rr", Status.PASSED)))
    told = summary.summarize(NightSummary("n3", "2026-12-06T01:00:00+00:00"), [ModeNight("normal", runs=[run])], None,
                             Expectations(), [], {"normal:mptcp/stale": "3 failed of 5 (...)"})
    assert told.exit == 0 and told.unexpected == () and told.changes.new_failures == ()
    assert told.tests["normal:mptcp/stale"] is Status.FAILED  # still shown as it is
    text = summary.text(told)
    assert "known flaky, failing tonight: 1\n  normal:mptcp/stale failed: 3 failed of 5 (...)" in text
