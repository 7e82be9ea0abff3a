"""Who was running when the kernel complained: read from the markers in real captured consoles."""
from pathlib import Path

from harness.parse.console import Incident, find_incidents, separate
from harness.parse.markers import Timeline, is_marker

CONSOLE = Path(__file__).parent / "data" / "console"
CANARY = {0: tuple(f"canary/{s}" for s in ("pass", "warning", "crash", "hang", "flaky"))}


def read(name: str) -> tuple[Timeline, list[Incident]]:
    events = separate((CONSOLE / name).read_text())[1]
    return Timeline.from_console(events), find_incidents([e for e in events if not is_marker(e)])


def test_a_warning_belongs_to_the_subtest_whose_result_follows_it() -> None:
    timeline, incidents = read("canary-markers-7.3.log")
    assert [i.kind for i in incidents] == ["warning", "panic"]
    assert timeline.running_at(incidents[0].line_no, CANARY) == ("canary/warning",)


def test_a_panic_belongs_to_the_first_subtest_that_never_reported() -> None:
    timeline, incidents = read("canary-markers-7.3.log")
    assert timeline.running_at(incidents[1].line_no, CANARY) == ("canary/crash",)


def test_nothing_of_ours_runs_before_a_batch_starts_or_after_it_ends() -> None:
    timeline, _ = read("canary-markers-7.3.log")
    assert timeline.running_at(3, CANARY) == ()  # the kernel's command line, at boot
    timeline, _ = read("parallel-markers-7.3.log")
    planned = {0: ("mptcp/subflow",), 1: ("mptcp/base", "mptcp/mptcpify")}
    lines = {e.text.split("] ", 1)[1]: e.line_no for e in separate((CONSOLE / "parallel-markers-7.3.log").read_text())[1]}
    # (a marker's own line counts as after it)
    # batch 1's last result is sockmap, which the suite file does not name: found by its marker
    assert timeline.running_at(lines["harness: batch 0 end"], planned) == ("mptcp/sockmap",)
    assert timeline.running_at(lines["harness: batch 1 start"], planned) == ("mptcp/subflow", "mptcp/base")
    assert timeline.running_at(lines["harness: batch 1 end"], planned) == ()


def test_at_the_end_of_a_guest_that_died_the_first_subtest_without_a_result_was_running() -> None:
    timeline, _ = read("canary-markers-7.3.log")
    assert timeline.unfinished({0: ("canary/crash", "canary/hang", "canary/flaky")}) == ("canary/crash",)


def test_a_guest_that_died_booting_ran_nothing_of_ours() -> None:
    timeline, incidents = read("tcg-int3-boot-panic-7.3.log")
    assert [i.kind for i in incidents] == ["oops", "panic"]  # Oops: int3, then the panic it led to
    assert all(timeline.running_at(i.line_no, CANARY) == () for i in incidents)
    assert timeline.unfinished(CANARY) == ()
