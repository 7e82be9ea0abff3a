"""The results history (harness.history) and the rates read from it (harness.report.flakes, `python -m harness
flakes`): real SQLite files, real processes writing at once, the real nights of tests/data read back."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.history import FILE, History, Outcome, from_runs, rate_text, since, wilson
from harness.report.flakes import night_outcomes, rates
from harness.results import Status
from tests.helpers import REPO_ROOT, run_harness

NIGHTS = Path(__file__).parent / "data" / "nights"


def outcome(n: int, status: Status, kernel: str = "debian:7.3", test: str = "mptcp/subflow", run: str = "r") -> Outcome:
    return Outcome(f"{run}{n}", "pytest", test, "mptcp", "prebuilt", kernel, status,
                   "" if status is Status.PASSED else "test_subflow:FAIL:N", 1.0, 1000.0 + n, f"/runs/{n}")


@pytest.mark.parametrize("failed, ran, said", [(2, 50, "2 failed of 50 (4 %, 95 %: 1-13 %)"),
                                                (7, 20, "7 failed of 20 (35 %, 95 %: 18-57 %)"),
                                                (0, 12, "0 failed of 12 (0 %, 95 %: 0-24 %)"),
                                                (10, 40, "10 failed of 40 (25 %, 95 %: 14-40 %)")])
def test_a_count_goes_with_its_rate_and_wilson_interval(failed: int, ran: int, said: str) -> None:
    assert rate_text(failed, ran) == said
    low, high = wilson(failed, ran)
    assert 0 <= low <= failed / ran <= high <= 1


def test_recorded_outcomes_come_back_and_the_same_run_counts_once(tmp_path: Path) -> None:
    history = History(tmp_path)
    assert history.record([outcome(n, Status.PASSED) for n in range(3)]) == 3
    assert history.record([outcome(n, Status.PASSED) for n in range(4)]) == 1  # 0-2 were there already
    assert [o.run for o in history.outcomes()] == ["r0", "r1", "r2", "r3"]
    assert [o.run for o in history.outcomes(since=1002.0)] == ["r2", "r3"]


WRITER = """
import sys
from pathlib import Path
from harness.history import History, Outcome
from harness.results import Status
history = History(Path(sys.argv[1]))
for batch in range(25):
    history.record([Outcome(f"{sys.argv[2]}-{batch}-{n}", "pytest", "mptcp/base", "mptcp", "prebuilt", "k",
                            Status.PASSED) for n in range(8)])
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name], cwd=REPO_ROOT)
               for name in ("a", "b", "c")]
    assert [w.wait(timeout=120) for w in writers] == [0, 0, 0]
    assert len(History(tmp_path).outcomes()) == 3 * 25 * 8


def test_a_damaged_history_is_said_moved_aside_and_a_new_one_started(tmp_path: Path) -> None:
    (tmp_path / FILE).write_bytes(b"not a database, a disk that filled\n" * 100)
    said: list[str] = []
    history = History(tmp_path, said.append)
    assert history.record([outcome(1, Status.FAILED)]) == 1
    assert len(said) == 1 and "is damaged" in said[0] and "moved aside" in said[0]
    assert [p.name.split("-")[0] for p in tmp_path.glob(f"{FILE}.damaged-*")] == [f"{FILE}.damaged"]
    assert [o.status for o in history.outcomes()] == [Status.FAILED]


def test_rates_say_stable_failing_flaky_and_a_regression_apart() -> None:
    seen = [outcome(n, Status.PASSED, test="mptcp/base") for n in range(5)]
    seen += [outcome(n, Status.FAILED, test="mptcp/rr") for n in range(3)]
    seen += [outcome(n, Status.FAILED if n % 4 == 0 else Status.PASSED) for n in range(8)]
    seen += [outcome(n, Status.PASSED, "tree:/t:normal:aaaa", "mptcp/stale") for n in range(3)]
    seen += [outcome(n, Status.FAILED, "tree:/t:normal:bbbb", "mptcp/stale", run="s") for n in range(3)]
    found = {r.test: r for r in rates(seen)}
    assert {t: r.kind for t, r in found.items()} == {"mptcp/base": "stable", "mptcp/rr": "failing",
                                                      "mptcp/subflow": "flaky", "mptcp/stale": "changed at bbbb"}
    flaky = found["mptcp/subflow"]
    assert (flaky.runs, flaky.failures, flaky.signatures, flaky.last_failure) == (8, 2, {"test_subflow:FAIL:N": 2},
                                                                                   "/runs/4")
    assert found["mptcp/stale"].kernel == "tree:/t:normal"  # one kernel line, its states its history
    assert [r.runs for r in rates(seen, last=2) if r.test == "mptcp/base"] == [2]


def test_a_flaky_outcome_is_a_failure_and_a_pass() -> None:
    (r,) = rates([outcome(1, Status.FLAKY), outcome(2, Status.PASSED)])
    assert (r.runs, r.failures, r.kind) == (3, 1, "flaky")


def test_the_nights_of_a_nights_dir_are_read_back_and_count_once(tmp_path: Path) -> None:
    """tests/data/nights: two real canary nights (pass passed; warning failed, then crash failed; flaky flaky)."""
    history = History(tmp_path)
    first = sum(history.record(night_outcomes(n)) for n in sorted(NIGHTS.iterdir()))
    again = sum(history.record(night_outcomes(n)) for n in sorted(NIGHTS.iterdir()))
    assert first > 0 and again == 0
    found = {r.test: r for r in rates(history.outcomes())}
    assert (found["canary/pass"].runs, found["canary/pass"].failures) == (2, 0)
    assert found["canary/flaky"].kind == "flaky" and found["canary/flaky"].failures == 2
    assert found["canary/warning"].signatures == {"kernel warning while it ran [canary_warning]": 1}  # as a live run says


def test_flakes_json_has_the_keys_it_promises_and_reads_nights_given(tmp_path: Path) -> None:
    run = run_harness("flakes", "--json", "--nights", str(NIGHTS), "-k", "canary and not pass", "--cache", str(tmp_path))
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert {r["test"] for r in rows} == {"canary/warning", "canary/flaky", "canary/crash"}
    assert all({"test", "mode", "runs", "failures", "rate", "low", "high", "signatures", "class"} <= set(r) for r in rows)
    text = run_harness("flakes", "--cache", str(tmp_path))
    assert "canary/flaky [prebuilt, debian:" in text.stdout and "flaky" in text.stdout


@pytest.mark.parametrize("args, words", [(["--since", "yesterday"], "--since 'yesterday'"),
                                         (["--last", "0"], "--last 0"),
                                         (["-k", "mptcp and"], "-k 'mptcp and'"),
                                         (["--nights", "/nonexistent"], "--nights /nonexistent")])
def test_bad_flakes_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    run = run_harness("flakes", *args, "--cache", str(tmp_path))
    assert run.returncode == 2 and words in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_since_reads_spans_and_dates() -> None:
    assert since("30d", now=100 * 86400) == 70 * 86400 and since("12h", now=86400) == 43200
    assert since("2026-12-01") == 1796083200.0
    with pytest.raises(ValueError):
        since("yesterday")


def test_rounds_count_each_under_the_subtests_name() -> None:
    from harness.results import SubtestResult, SuiteRun

    run = SuiteRun("mptcp", "k", (SubtestResult("mptcp/subflow[1-3]", Status.FAILED, reason="x"),
                                  SubtestResult("mptcp/subflow[2-3]", Status.PASSED),
                                  SubtestResult("mptcp/rr", Status.NOT_IN_BUILD)))
    found = from_runs([run], "s", "pytest", "prebuilt")
    assert [(o.run, o.source, o.test, o.status) for o in found] == [
        ("s#1", "round", "mptcp/subflow", Status.FAILED), ("s#2", "round", "mptcp/subflow", Status.PASSED)]


def test_a_history_that_cannot_be_written_is_said_and_costs_the_run_nothing(tmp_path: Path) -> None:
    (tmp_path / FILE).mkdir()  # a directory where the file goes: sqlite cannot open it
    said: list[str] = []
    assert History(tmp_path, said.append).record([outcome(1, Status.PASSED)]) == 0
    assert len(said) == 1 and "not recorded" in said[0] and "the run is not changed by it" in said[0]
