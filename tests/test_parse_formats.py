"""TAP 13 / KTAP and console interleaving on real captured output (tests/data/tap, tests/data/console: see tests/data/README.md)."""
import json
import lzma
import re
from pathlib import Path

from pytest import CaptureFixture

from harness.cli import main
from harness.parse import parse_log
from harness.parse.test_progs import ParsedLog
from harness.results import Status, decide

DATA = Path(__file__).parent / "data"


def statuses(parsed: ParsedLog) -> dict[str, Status]:
    return {r.name: r.status for r in decide("mptcp", [], [], parsed, parsed.summary is not None)}


def test_kselftest_program_tap_counts_match_its_own_totals() -> None:
    text = (DATA / "tap" / "harness-selftest-7.3.tap").read_text()
    got = statuses(parse_log(text))
    own = {k: int(v) for k, v in re.findall(r"(\w+):(\d+)", text.splitlines()[-1])}  # "# Totals: pass:9 fail:7 ..."
    n = {s: list(got.values()).count(s) for s in Status}
    # XFAIL and XPASS are passes; the one extra failure is the line the program prints on purpose
    # inside test_result_fail ("not ok 1 # Illegal usage of low-level ksft APIs").
    assert n[Status.PASSED] == own["pass"] + own["xfail"] + own["xpass"]
    assert n[Status.SKIPPED] == own["skip"]
    assert n[Status.FAILED] == own["fail"] + 1 and got["unnamed result 1"] is Status.FAILED


def test_kselftest_runner_nesting_timeout_and_wrapped_test_progs() -> None:
    parsed = parse_log((DATA / "tap" / "kselftest-runner-7.3.log").read_text())
    got = statuses(parsed)
    assert [got[f"mptcp/{s}"] for s in ("base", "mptcpify", "subflow", "sockmap")] == [Status.PASSED] * 4
    assert got["selftests: timeouts: sleeper.sh"] is Status.TIMEOUT
    nested = "selftests: kselftest_harness: harness-selftest/"
    assert got[nested + "global.exit_xfail"] is Status.PASSED
    assert parsed.subtests[nested + "global.exit_xfail"].reason == "XFAIL unknown"
    assert got[nested + "global.exit_skip"] is Status.SKIPPED
    assert sum(name.startswith(nested) for name in got) == 20
    assert parsed.tests[nested.rstrip("/")] == "FAIL" and parsed.problems == []


def test_cut_off_run_loses_what_the_plan_promised() -> None:
    parsed = parse_log((DATA / "tap" / "truncated-crash-7.3.log").read_text())
    got = statuses(parsed)
    assert got["mptcp/base"] is Status.PASSED and got["mptcp/mptcpify"] is Status.PASSED
    assert got["selftests: bpf: test_progs"] is Status.LOST  # announced, never finished
    assert list(got.values()).count(Status.LOST) == 2  # plan 1..2, nothing reported at the top
    assert len(parsed.problems) == 2


def test_our_ktap_reads_back_to_the_same_statuses() -> None:
    parsed = parse_log((DATA / "tap" / "harness-ktap-mptcpify-fail.ktap").read_text())
    assert statuses(parsed) == {"mptcp/mptcpify": Status.FAILED}
    assert any("mptcp_ns" in line for line in parsed.subtests["mptcp/mptcpify"].output)


def console_halves() -> list[str]:
    text = lzma.open(DATA / "console" / "interleaved-verbose-7.3.log.xz", "rt").read()
    return text.split("=== harness capture: printk.time=N ===")


def test_console_with_timestamps_rejoins_split_test_lines() -> None:
    stamped, _ = console_halves()
    assert "test_base:PASS:t[   11.519625] harness-noise b1823" in stamped  # the kernel cut this line
    parsed = parse_log(stamped)
    assert statuses(parsed) == {f"mptcp/{s}": Status.PASSED for s in ("base", "mptcpify", "subflow", "sockmap")}
    assert "test_base:PASS:test__join_cgroup 0 nsec" in parsed.subtests["mptcp/base"].output
    assert not any("harness-noise" in line for line in parsed.subtests["mptcp/base"].output)
    assert any(e.text.endswith("harness-noise b1823") for e in parsed.console)


def test_console_without_timestamps_still_finds_a_result_with_a_message_glued_on() -> None:
    _, plain = console_halves()
    assert "#254/1   mptcp/base:OKharness-noise b3938" in plain
    parsed = parse_log(plain)
    assert statuses(parsed)["mptcp/base"] is Status.PASSED and parsed.summary is not None
    assert [e.text for e in parsed.console] == ["harness-noise b3938"]


def test_parse_command_writes_all_reports_and_exit_code_says_failure(tmp_path: Path, capsys: CaptureFixture[str]) -> None:
    log = DATA / "tap" / "kselftest-runner-7.3.log"
    rc = main(["parse", str(log), "--json", str(tmp_path / "r.json"), "--junit", str(tmp_path / "r.xml")])
    assert rc == 1
    doc = json.loads((tmp_path / "r.json").read_text())
    assert {t["name"]: t["status"] for t in doc["tests"]}["selftests: timeouts: sleeper.sh"] == "timeout"
    assert (tmp_path / "r.xml").read_text().count("<testcase ") == len(doc["tests"])
    # "ok 1 selftests: bpf: test_progs" is the parent of the four mptcp results, not a fifth pass
    assert capsys.readouterr().out.rstrip().endswith("15 passed, 8 failed, 1 skipped (1 unknown), 1 timeout")
    assert "selftests: bpf: test_progs" not in {t["name"] for t in doc["tests"]}


def test_a_real_panic_console_is_one_fatal_incident_with_its_whole_trace() -> None:
    from harness.parse.console import find_incidents, separate

    _, events = separate((DATA / "console" / "sysrq-crash-7.3.log").read_text())
    incidents = find_incidents(events)
    assert [(i.kind, i.fatal) for i in incidents] == [("panic", True)]
    (panic,) = incidents
    assert "Kernel panic - not syncing: sysrq triggered crash" in panic.excerpt[0]
    assert any("Call Trace:" in line for line in panic.excerpt) and any("sysrq_handle_crash" in ln for ln in panic.excerpt)
    assert "Kernel Offset:" in panic.excerpt[-1]  # the guest powered off (panic=-1) before "end Kernel panic"


def test_mptcp_ci_shaped_console_with_caller_ids_parses_to_its_subtests_exit_0(tmp_path: Path, capsys: CaptureFixture[str]) -> None:
    """test_progs -t mptcp wrapped as the MPTCP CI does (prefix.pl, "ok 1 test: ...", "# time=N") on a serial
    console of a kernel with CONFIG_PRINTK_CALLER: "[    8.684612][  T157] " messages among the lines."""
    log = DATA / "console" / "mptcp-ci-shape-printk-caller-7.3.log"
    text = log.read_text()
    assert re.search(r"^\[\s*\d+\.\d+\]\[\s*T\d+\] ", text, re.MULTILINE)  # caller ids, for real
    assert "# Summary: " in text and "ok 1 test: bpftest_test_progs_mptcp" in text and "# time=" in text
    parsed = parse_log(text)
    got = statuses(parsed)
    assert got == {f"mptcp/{s}": Status.PASSED for s in ("base", "mptcpify", "subflow", "sockmap")}  # 7.3's four
    assert parsed.tests["test: bpftest_test_progs_mptcp"] == "OK"  # the wrapper: their parent, not a fifth result
    assert parsed.summary is not None and parsed.problems == []
    assert not any("][" in line for sub in parsed.subtests.values() for line in sub.output)  # kernel lines split off
    assert main(["parse", str(log)]) == 0
    assert capsys.readouterr().out.rstrip().endswith("4 passed")


def test_fingerprints_of_real_crashes_name_where_they_happened() -> None:
    from harness.crashes import fingerprint
    from harness.parse.console import find_incidents, separate

    def incident_fingerprints(name: str) -> list[tuple[str, str]]:
        return [(i.kind, fingerprint(i.excerpt)) for i in find_incidents(separate((DATA / "console" / name).read_text())[1])]

    assert incident_fingerprints("sysrq-crash-7.3.log") == [
        ("panic", "sysrq_handle_crash/__handle_sysrq/write_sysrq_trigger/proc_reg_write/vfs_write")]
    # TCG's int3 at boot: the unreliable "? psi_group_change" and the thread start are left out
    assert ("oops", "__hrtimer_start_range_ns/hrtimer_start_range_ns/finish_task_switch/__schedule/schedule") \
        in incident_fingerprints("tcg-int3-boot-panic-7.3.log")  # its RIP first: where it happened
    canary = dict(incident_fingerprints("canary-markers-7.3.log"))
    assert canary["warning"] == "canary_warning"
    assert canary["panic"] == incident_fingerprints("sysrq-crash-7.3.log")[0][1]  # the same crash, known again


def test_a_real_lkdtm_warning_on_a_debug_kernel_is_known_by_the_function_that_warned() -> None:
    """tests/data/console/debug-lkdtm-warning-7.3.log: the canary's lkdtm_warning (echo WARNING >
    /sys/kernel/debug/provoke-crash/DIRECT) on a debug build of linux-source-7.3 (KASAN, lockdep, kmemleak),
    TCG. Its boot also has a real KASAN report: an interrupt at 0.004 s, before any batch (no one is blamed)."""
    from harness.crashes import fingerprint
    from harness.parse.console import find_incidents, separate
    from harness.parse.markers import Timeline

    _, events = separate((DATA / "console" / "debug-lkdtm-warning-7.3.log").read_text())
    incidents = find_incidents(events)
    assert [(i.kind, fingerprint(i.excerpt)) for i in incidents] == [
        ("kasan", "do_raw_spin_lock/handle_edge_irq"),
        ("warning", "lkdtm_WARNING/lkdtm_do_action/direct_entry/full_proxy_write/vfs_write")]
    timeline = Timeline.from_console(events)
    planned: dict[int, tuple[str, ...]] = {0: ("canary/lkdtm_warning",)}
    assert timeline.running_at(incidents[0].line_no, planned) == ()
    assert timeline.running_at(incidents[1].line_no, planned) == ("canary/lkdtm_warning",)


def test_a_real_lockdep_report_without_a_trace_is_known_by_its_held_lock() -> None:
    """tests/data/console/debug-lockdep-7.3.log: the canary's lockdep (LKDTM SPINLOCKUP: back to user space with
    a spinlock held) on the debug kernel: "BUG: scheduling while atomic" with a trace, then lockdep's "lock held when
    returning to user space", which has none: it is known by the lock it names and where it was taken."""
    from harness.crashes import fingerprint
    from harness.parse.console import find_incidents, separate
    from harness.parse.markers import Timeline

    _, events = separate((DATA / "console" / "debug-lockdep-7.3.log").read_text())
    incidents = find_incidents(events)
    assert [(i.kind, fingerprint(i.excerpt)) for i in incidents] == [
        ("bug", "__schedule_bug/__schedule/schedule/exit_to_user_mode_loop"),
        ("lockdep", "lock_me_up@lkdtm_do_action")]
    timeline = Timeline.from_console(events)
    assert {timeline.running_at(i.line_no, {0: ("canary/lockdep",)}) for i in incidents} == {("canary/lockdep",)}


def test_a_real_hung_task_report_is_known_by_the_locks_the_blocked_task_holds() -> None:
    """tests/data/console/debug-hung-task-7.3.log: the canary's hung_task (LKDTM HUNG_TASK with
    hung_task_timeout_secs=3) on the debug kernel. At loglevel=5 the blocked task's stack (KERN_INFO) is not on the
    console; lockdep lists every task's held locks: the blocked task's own name it."""
    from harness.crashes import fingerprint
    from harness.parse.console import find_incidents, separate

    _, events = separate((DATA / "console" / "debug-hung-task-7.3.log").read_text())
    incidents = find_incidents(events)
    assert len(incidents) == 10 and {i.kind for i in incidents} == {"hung task"}  # every 3 s, hung_task_warnings=10
    assert {fingerprint(i.excerpt) for i in incidents} == {"sb_writers@ksys_write"}  # not khungtaskd's rcu_read_lock


def test_a_real_kmemleak_report_is_one_incident_per_leaked_object_percpu_included_blamed_on_the_batch() -> None:
    """tests/data/console/debug-kmemleak-7.3.log: the canary's kmemleak (modprobe kmemleak-test, whose init leaks on
    purpose) on the debug kernel; batch.sh's two scans after the batch, the report written into the kernel log after
    the batch's "scan" marker: seven objects, the last a percpu one ("unreferenced object (percpu) 0x...")."""
    from harness.crashes import fingerprint
    from harness.parse.console import find_incidents, separate
    from harness.parse.markers import Timeline

    _, events = separate((DATA / "console" / "debug-kmemleak-7.3.log").read_text())
    incidents = find_incidents([e for e in events if "harness: batch" not in e.text])
    assert len(incidents) == 7 and {i.kind for i in incidents} == {"kmemleak"}
    assert {fingerprint(i.excerpt) for i in incidents} == {"kmemleak_test_init"}  # allocator and module loading generic
    timeline = Timeline.from_console(events)
    assert {timeline.running_at(i.line_no, {0: ("canary/kmemleak",)}) for i in incidents} == {("canary/kmemleak",)}
