"""The dashboard's data without a browser: columns from real nights (tests/data/nights), flips, streaks, bad input."""
from pathlib import Path

from harness.report.html import Cell, Column, load_columns, rows
from harness.results import Status
from tests.helpers import run_harness

NIGHTS = Path(__file__).parent / "data" / "nights"


def test_columns_come_newest_first_with_links_to_each_test_output(tmp_path: Path) -> None:
    columns = load_columns([NIGHTS], tmp_path / "index.html")
    assert [(c.night, c.mode) for c in columns] == [("2026-11-26-default-2", "prebuilt"), ("2026-11-26-default", "prebuilt")]
    crash = columns[0].cells["canary/crash"]
    assert crash.status is Status.FAILED and crash.crash.startswith("panic [sysrq_handle_crash/")
    assert (tmp_path / crash.href).resolve() == NIGHTS / "2026-11-26-default-2/prebuilt/tests/canary__crash.txt"
    assert columns[1].changes.new_failures == ("prebuilt:canary/warning",)


def test_flips_are_counted_per_mode_in_time_order_and_the_streak_from_the_newest() -> None:
    def col(n: int, mode: str, status: str) -> Column:
        return Column(f"n{n}", mode, f"{n:02d}", cells={"t": Cell(Status(status))})
    history = [col(5, "normal", "passed"), col(5, "debug", "failed"), col(4, "normal", "passed"),
               col(3, "normal", "failed"), col(2, "debug", "failed"), col(1, "normal", "passed")]
    (row,) = rows(history)
    assert (row.flips, row.streak, row.always_pass) == (2, 1, False)


def test_report_of_a_dir_with_nothing_in_it_is_bad_input(tmp_path: Path) -> None:
    run = run_harness("report", "--html", str(tmp_path / "x.html"), str(tmp_path))
    assert run.returncode == 2 and "neither a nights dir" in run.stderr and run.stderr.count("\n") == 1


def test_each_nights_coverage_has_its_change_since_the_same_modes_night_before_and_the_page_shows_it(tmp_path: Path) -> None:
    from harness.night_summary import ModeFigures
    from harness.report.html import coverage_trend, render

    def col(n: int, mode: str, percent: float | None) -> Column:
        cov = {"lines_percent": percent, "lines_hit": 1, "lines": 2, "functions_percent": 50.0, "functions_hit": 1,
               "functions": 2}
        return Column(f"n{n}", mode, f"{n:02d}", figures=ModeFigures(coverage=cov) if percent is not None else None)
    history = coverage_trend([col(4, "normal", 25.0), col(4, "debug", 20.0), col(3, "normal", None),
                              col(2, "normal", 23.5), col(1, "debug", 21.0)])
    assert [c.coverage_delta for c in history] == [1.5, -1.0, None, None, None]
    page = render(history, "now")
    assert "25.0 % ▲" in page and "20.0 % ▼" in page and "+1.5 points since the night before" in page
    assert "net/mptcp coverage" not in render([col(1, "normal", None)], "now")  # no night measured it: no empty row


def test_a_nights_culprit_is_in_its_header_and_in_the_tooltip_of_the_failures_it_explains(tmp_path: Path) -> None:
    import json
    import shutil

    from harness.report.html import render

    night = tmp_path / "2026-11-26-default-2"
    shutil.copytree(NIGHTS / "2026-11-26-default-2", night)
    told = json.loads((night / "summary.json").read_text())
    line = "culprit: 0123456789ab mptcp: a regression (A Developer), verified"
    told["culprits"] = {"prebuilt": [{"line": line, "culprit": "0123456789ab" + "c" * 28, "failures": ["canary/crash"]}]}
    (night / "summary.json").write_text(json.dumps(told))
    (column,) = load_columns([night], tmp_path / "index.html")
    assert column.cells["canary/crash"].culprit == line and not column.cells["canary/pass"].culprit
    page = render([column], "now")
    assert f'title="{line}">0123456789ab</th>' in page and f"\n{line}\">" in page


def test_the_flakes_view_gives_each_failing_subtests_rate_interval_and_last_failure(tmp_path: Path) -> None:
    """Issue 49's view, from the two real nights: canary/pass never failed (not listed); canary/flaky failed at its
    first try both nights (a flaky result: a failure and its retry's pass); --last 1 looks at the newest night only."""
    from harness.report.html import flake_rows

    columns = load_columns([NIGHTS], tmp_path / "index.html")
    found = {f.rate.test: f.rate for f in flake_rows(columns)}
    assert set(found) == {"canary/crash", "canary/warning", "canary/flaky"}
    flaky = found["canary/flaky"]
    assert (flaky.runs, flaky.failures, flaky.kind, [round(x, 2) for x in flaky.interval]) == (4, 2, "flaky", [0.15, 0.85])
    assert (tmp_path / flaky.last_failure).resolve() == NIGHTS / "2026-11-26-default-2/prebuilt/tests/canary__flaky.txt"
    assert (tmp_path / found["canary/warning"].last_failure).resolve().parent.parent.parent.name == "2026-11-26-default"
    newest = {f.rate.test: f.rate.runs for f in flake_rows(columns, last=1)}
    assert newest == {"canary/crash": 1, "canary/warning": 1, "canary/flaky": 2}


def test_report_last_must_be_a_positive_number(tmp_path: Path) -> None:
    run = run_harness("report", "--html", str(tmp_path / "x.html"), "--last", "0", str(NIGHTS))
    assert run.returncode == 2 and run.stderr.count("\n") == 1 and "--last 0" in run.stderr, run.stderr


def test_a_scripts_cell_names_its_failing_sub_cases(tmp_path: Path) -> None:
    """A report dir of mptcp_join's real run with sub-cases 3 and 6 failing (tests/data/pcap/mptcp_join)."""
    from harness.report import write_reports
    from harness.report.html import render
    from tests.test_kselftests import join_run

    write_reports(tmp_path / "run", [join_run("mptcp_join-f-3-and-6-fail.log", "k")])
    (column,) = load_columns([tmp_path / "run"], tmp_path / "index.html")
    cell = column.cells["net-mptcp/mptcp_join"]
    assert cell.failing == ("single subflow, limited by server", "multiple subflows, limited by server")
    assert "failed sub-cases: single subflow, limited by server; multiple subflows, limited by server" in render(
        [column], "now")
