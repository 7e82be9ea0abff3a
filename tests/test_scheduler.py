"""What the scheduler asks the guest to run: the plan, the test_progs selection, the in-guest script."""
import re
import subprocess
from pathlib import Path

from harness import guest
from harness.isolation import isolated
from harness.kernel import Kernel
from harness.scheduler import Batch, RunRequest, plan_batches, progs_argv, runner_script
from harness.selftests import Payload
from harness.settings import SUITES_DIR
from harness.suites import load_suite

SUITE = load_suite(SUITES_DIR / "mptcp_bpf.toml")
DATA = Path(__file__).parent / "data" / "test_progs"
KERNEL = Kernel(Path("/k/vmlinuz"), "7.3.4+deb13-amd64", Path("/k/mods"), Path("/k/vmlinux"), "debian:test")


def selection(batch, batches):
    argv = progs_argv(SUITE, batch, batches)
    return argv[argv.index("-v") + 1:]


def test_selection_is_exact_names_not_substrings():
    (one,) = plan_batches(SUITE, ("subflow",), {}, 4)
    assert selection(one, [one]) == ["-a", "mptcp/subflow"]
    (two,) = plan_batches(SUITE, ("base", "rr"), {}, 1)
    assert selection(two, [two]) == ["-a", "mptcp/base,mptcp/rr"]


def test_whole_suite_one_batch_runs_the_whole_test_so_extra_subtests_show():
    (only,) = plan_batches(SUITE, SUITE.subtests, {}, 1)
    assert only.runs_rest and selection(only, [only]) == ["-a", "mptcp"]


def test_whole_suite_in_batches_one_of_them_runs_the_rest_of_the_test():
    batches = plan_batches(SUITE, SUITE.subtests, {}, 2)
    rest = [b for b in batches if b.runs_rest]
    assert len(rest) == 1
    other = next(b for b in batches if not b.runs_rest)
    assert selection(rest[0], batches) == ["-a", "mptcp", "-b", ",".join(f"mptcp/{s}" for s in other.subtests)]


def test_plan_is_longest_first_into_the_lightest_batch():
    durations = {"base": 10.0, "mptcpify": 1.0, "subflow": 4.0, "rr": 5.0}
    batches = plan_batches(SUITE, ("base", "mptcpify", "subflow", "rr"), durations, 2)
    assert [b.subtests for b in batches] == [("base",), ("mptcpify", "subflow", "rr")]
    assert sorted(s for b in batches for s in b.subtests) == sorted(durations)


def test_never_more_batches_than_subtests_nor_than_concurrency():
    assert len(plan_batches(SUITE, ("base",), {}, 8)) == 1
    assert len(plan_batches(SUITE, SUITE.subtests, {}, 3)) == 3
    assert plan_batches(SUITE, (), {}, 2) == []


def test_runner_script_starts_every_batch_isolated_and_records_exit_status(tmp_path):
    req = RunRequest(SUITE, ("base", "subflow"), Payload(Path("/p"), Path("/p/test_progs"), "x"),
                     guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, 60, concurrency=2)
    batches = [Batch(0, ("base",)), Batch(1, ("subflow",))]
    script = runner_script(req, batches, tmp_path)
    assert "cd /p " in script
    assert script.count("unshare --mount --propagation private --net") == 2
    assert f" 2>&1; echo $? > {tmp_path}/batch-1.rc; }} | " in script
    assert '"<4>harness: batch 1 start" > /dev/kmsg' in script and '"<4>harness: batch 1 end" > /dev/kmsg' in script
    assert script.rstrip().endswith("wait\nsync")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)  # valid shell


def test_isolated_command_is_valid_shell_with_private_netns_and_scratch():
    line = isolated(["./test_progs", "-a", "mptcp/base"], "/w/scratch 0")
    assert "TMPDIR='/w/scratch 0'" in line and "mount -t tmpfs harness-netns /run/netns" in line
    subprocess.run(["sh", "-n", "-c", line], check=True)


def test_vng_command_line_gives_modules_console_and_chooses_accelerator(tmp_path):
    argv = guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, "sh run.sh")
    assert argv[:3] == ["vng", "--run", "/k/vmlinuz"]
    assert "--rodir" in argv and argv[argv.index("--rodir") + 1] == "/lib/modules/7.3.4+deb13-amd64=/k/mods"
    assert argv[argv.index("--rwdir") + 1] == str(tmp_path)
    assert "--disable-kvm" in argv and "--verbose" in argv
    assert "--qemu-opts=-accel tcg,thread=single" in argv  # multi-threaded TCG kills ~4% of guests (int3)
    assert "--disable-kvm" not in guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", True), tmp_path, "x")


def test_shell_runner_batch_reports_in_test_progs_format(tmp_path):
    from harness.parse.test_progs import parse_test_progs
    from harness.scheduler import shell_batch
    from harness.suites import Suite

    suite = Suite("demo", "shell", "demo", ("ok", "bad", "skipped"), 5.0, tmp_path / "demo.toml",
                  commands={"ok": "true", "bad": "echo broken; exit 3", "skipped": "exit 4"})
    kmsg = tmp_path / "kmsg"
    out = subprocess.run(["sh", "-c", shell_batch(suite, Batch(3, suite.subtests), tmp_path, str(kmsg))],
                         capture_output=True, text=True)
    parsed = parse_test_progs(out.stdout)
    assert {n: s.result for n, s in parsed.subtests.items()} == {"demo/ok": "OK", "demo/bad": "FAIL", "demo/skipped": "SKIP"}
    assert parsed.subtests["demo/bad"].output == ("broken",)
    assert parsed.summary is not None and out.returncode != 0
    assert kmsg.read_text() == "<4>harness: batch 3 done #1/3 demo/skipped:SKIP\n"  # opened anew for each line


def test_result_filter_passes_output_through_and_marks_each_subtest_result(tmp_path):
    from harness.markers import result_filter

    kmsg = tmp_path / "kmsg"
    marked = tmp_path / "marked"
    # /dev/kmsg keeps every line written to it; a regular file opened with > keeps the last: append
    script = result_filter(2, str(kmsg)).replace(f'> "{kmsg}"', f'>> "{marked}"')
    text = (DATA / "verbose-base-ok.log").read_text()
    out = subprocess.run(["sh", "-c", script], input=text, capture_output=True, text=True, check=True)
    assert out.stdout == text
    results = [line for line in text.splitlines() if re.match(r"#\d+/\d+\s", line)]
    assert results and marked.read_text().splitlines() == [f"<4>harness: batch 2 done {line}" for line in results]


def boot_panic_then(*later: str):
    """A stand-in guest: the first boot dies as a real one did here (TCG's int3 Oops, before the
    runner script started); each later one prints a real captured test_progs log and finishes."""
    consoles = Path(__file__).parent / "data" / "console"
    calls: list[Path] = []

    def run(script: Path, timeout_s: float, on_tick) -> guest.GuestExit:
        calls.append(script)
        console = script.parent / "console.log"
        if len(calls) == 1 or not later:
            console.write_text((consoles / "tcg-int3-boot-panic-7.3.log").read_text())
        else:
            console.write_text("")
            (script.parent / "batch-0.log").write_text((DATA / later[0]).read_text())
            (script.parent / "batch-0.rc").write_text("0\n")
        on_tick()
        return guest.GuestExit(0, False, 1.0, console)
    return run, calls


def stand_in_request(tmp_path, runner):
    return RunRequest(SUITE, ("base",), Payload(Path("/p"), Path("/p/test_progs"), "x"),
                      guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, 60, runner=runner)


def test_a_guest_that_dies_booting_is_replaced_and_blames_nobody(tmp_path):
    from harness.results import Status
    from harness.scheduler import run_suite

    runner, calls = boot_panic_then("verbose-base-ok.log")
    run = run_suite(stand_in_request(tmp_path, runner))
    assert len(calls) == 2
    assert [(r.name, r.status) for r in run.subtests] == [("mptcp/base", Status.PASSED)]
    assert run.infra_errors == ()  # recovered: no run-level error, but the console events say what happened
    assert any(e.startswith("panic (running: nothing of ours)") for e in run.console_events)


def test_guests_that_never_get_to_run_anything_end_in_lost_after_two_more_tries(tmp_path):
    from harness.results import Status
    from harness.scheduler import FRUITLESS_ROUNDS, run_suite

    runner, calls = boot_panic_then()
    run = run_suite(stand_in_request(tmp_path, runner))
    assert len(calls) == 1 + FRUITLESS_ROUNDS
    assert [(r.name, r.status) for r in run.subtests] == [("mptcp/base", Status.LOST)]
    assert run.infra_errors  # exit code 3
