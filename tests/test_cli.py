"""`python -m harness parse`: offline, exit codes 0/1/2/3."""
from pathlib import Path

from pytest import CaptureFixture

from harness.cli import main

DATA = Path(__file__).parent / "data" / "test_progs"


def test_parse_passing_log_exits_0(capsys: CaptureFixture[str]) -> None:
    assert main(["parse", str(DATA / "full-mptcp-7.3-ok.log")]) == 0
    out = capsys.readouterr().out
    assert "PASSED   mptcp/sockmap" in out and "4 passed" in out


def test_parse_failing_log_exits_1(capsys: CaptureFixture[str]) -> None:
    assert main(["parse", str(DATA / "concurrent-unisolated-mptcpify-fail.log")]) == 1
    assert "FAILED   mptcp/mptcpify" in capsys.readouterr().out


def test_parse_truncated_log_exits_3(capsys: CaptureFixture[str]) -> None:
    crashed = DATA.parent / "tap" / "truncated-crash-7.3.log"  # the guest panicked mid-run
    assert main(["parse", "--suite", "suites/mptcp_bpf.toml", str(crashed)]) == 3
    out = capsys.readouterr().out
    assert "LOST     mptcp/subflow (test_progs did not finish)" in out
    assert "did not finish" in out and "plan 1..2 but 0 result(s)" in out


def test_parse_missing_file_is_one_line_exit_2(tmp_path: Path, capsys: CaptureFixture[str]) -> None:
    assert main(["parse", str(tmp_path / "nope.log")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read") and err.count("\n") == 1
