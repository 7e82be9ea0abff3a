"""harness.run.watch: each result's duration as the next run's plan weighs it, on a real batch log written as it came."""
from pathlib import Path

from harness.data import SUITES_DIR
from harness.guest.commands import Batch
from harness.results import Status, SubtestResult
from harness.run.watch import Watch
from harness.suites import load_suite

LOG = Path(__file__).parent / "data" / "test_progs" / "verbose-base-mptcpify-6.12.log"


def test_the_first_subtest_is_timed_from_test_progs_first_output_not_from_the_batchs_start(tmp_path: Path) -> None:
    """test_progs' start-up (its bpf_testmod lines: 2-3 s under TCG) is not base's: it would weigh base by it
    in the next plan, and move base from batch to batch between runs (issue 18's runs D and E)."""
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    batch = Batch(0, ("base", "mptcpify"))
    watch = Watch(suite, [batch], tmp_path, tmp_path / "console.log", progress=None, deadline=None)
    text = LOG.read_text()
    startup = text[:text.index("test_base:")]
    assert "Loading bpf_testmod.ko" in startup and "test_base" not in startup
    stages = [(10.0, ""), (12.5, startup), (14.0, text[:text.index("test_mptcpify:")]), (15.0, text)]
    for now, written in stages:  # the log as the guest wrote it: created empty, start-up lines, base, mptcpify
        batch.log(tmp_path).write_text(written)
        watch._read_batch(batch, now, final=False)
    assert watch.duration("mptcp/base") == 1.5  # from 12.5 (first output), not 10.0 (the log appeared)
    assert watch.duration("mptcp/mptcpify") == 1.0


CANARY_CONSOLE = Path(__file__).parent / "data" / "console" / "canary-pass-warning-console-7.3.log"
CANARY_BATCH = Path(__file__).parent / "data" / "console" / "canary-pass-warning-batch-7.3.log"


def canary_watch(tmp_path: Path, shown: list[SubtestResult]) -> tuple[Batch, Watch]:
    suite = load_suite(SUITES_DIR / "canary" / "canary.toml")
    batch = Batch(0, ("pass", "warning"))
    return batch, Watch(suite, [batch], tmp_path, tmp_path / "console.log", progress=shown.append, deadline=None)


def test_a_warning_already_on_the_console_is_in_the_result_line_shown_as_the_verdict_has_it(tmp_path: Path) -> None:
    """warning's command exited 0 (its batch log says OK) after printing a WARNING: shown FAILED at once, never PASSED."""
    shown: list[SubtestResult] = []
    batch, watch = canary_watch(tmp_path, shown)
    (tmp_path / "console.log").write_text(CANARY_CONSOLE.read_text())
    batch.log(tmp_path).write_text(CANARY_BATCH.read_text())
    watch.tick()
    assert [(r.name, r.status, r.reason) for r in shown] == [
        ("canary/pass", Status.PASSED, ""), ("canary/warning", Status.FAILED, "kernel warning while it ran")]
    assert any("WARNING: CPU: 0 PID: 140" in line for line in shown[1].output)


def test_a_warning_read_after_the_result_line_shows_it_again_naming_the_warning(tmp_path: Path) -> None:
    """The batch log read before the console got there: PASSED, then FAILED saying the WARNING came after."""
    shown: list[SubtestResult] = []
    batch, watch = canary_watch(tmp_path, shown)
    console = CANARY_CONSOLE.read_text()
    (tmp_path / "console.log").write_text(console[:console.index("------------[ cut here ]")])
    batch.log(tmp_path).write_text(CANARY_BATCH.read_text())
    watch.tick()
    (tmp_path / "console.log").write_text(console)
    watch.tick()
    assert [(r.name, r.status) for r in shown] == [
        ("canary/pass", Status.PASSED), ("canary/warning", Status.PASSED), ("canary/warning", Status.FAILED)]
    assert shown[2].reason == "kernel warning while it ran: on the console after its passed line"


def test_a_warning_is_only_said_with_kernel_warnings_report(tmp_path: Path) -> None:
    suite = load_suite(SUITES_DIR / "canary" / "canary.toml")
    batch, shown = Batch(0, ("pass", "warning")), list[SubtestResult]()
    watch = Watch(suite, [batch], tmp_path, tmp_path / "console.log", shown.append, None, fail_on_warning=False)
    (tmp_path / "console.log").write_text(CANARY_CONSOLE.read_text())
    batch.log(tmp_path).write_text(CANARY_BATCH.read_text())
    watch.tick()
    assert [(r.name, r.status) for r in shown] == [("canary/pass", Status.PASSED), ("canary/warning", Status.PASSED)]


def test_a_kselftest_script_that_exits_0_with_a_failed_sub_case_is_never_shown_passed(tmp_path: Path) -> None:
    """Its result line says OK (exit 0); its TAP says one sub-case failed: the line shown is the verdict's, FAILED."""
    from harness.parse.test_progs import parse_test_progs
    from harness.results import decide

    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    batch, shown = Batch(0, ("pm_netlink",)), list[SubtestResult]()
    watch = Watch(suite, [batch], tmp_path, tmp_path / "console.log", progress=shown.append, deadline=None)
    text = (Path(__file__).parent / "data" / "kselftests" / "pm_netlink-exits-0-with-a-failed-sub-case.log").read_text()
    assert "net-mptcp/pm_netlink:OK" in text and "not ok 1 - pm_netlink: defaults addr list" in text
    batch.log(tmp_path).write_text(text)
    watch.tick()
    (verdict,) = decide(suite.test, ["pm_netlink"], list(suite.subtests), parse_test_progs(text), True, nested=True)
    assert [(r.name, r.status, r.reason) for r in shown] == [(verdict.name, verdict.status, verdict.reason)]
    assert verdict.status is Status.FAILED and verdict.reason == "1 of 21 sub-cases failed: defaults addr list"
