"""What the scheduler asks the guest to run: the plan, the test_progs selection, the in-guest scripts (run for
real here where they need no guest), and the round loop with a stand-in guest."""
import os
import re
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pytest import MonkeyPatch

from harness import guest
from harness.data import SUITES_DIR
from harness.errors import BadInput
from harness.guest import vng
from harness.guest.commands import SCRIPTS, Batch, progs_argv, runner_script, script
from harness.kernel import Kernel
from harness.parse.test_progs import SUBTEST_RESULT, SUBTEST_RESULT_LINE, unprefixed
from harness.payload.selftests_bpf import Payload
from harness.run.plan import plan_batches
from harness.run.scheduler import RunRequest, ScriptRunner
from harness.suites import Runner, load_suite
from tests.helpers import isolated

SUITE = load_suite(SUITES_DIR / "mptcp_bpf.toml")
DATA = Path(__file__).parent / "data" / "test_progs"
KERNEL = Kernel(Path("/k/vmlinuz"), "7.3.4+deb13-amd64", Path("/k/mods"), Path("/k/vmlinux"), "debian:test")


def selection(batch: Batch, batches: list[Batch]) -> list[str]:
    argv = progs_argv(SUITE, batch, batches)
    return argv[argv.index("-v") + 1:]


def test_selection_is_exact_names_not_substrings() -> None:
    (one,) = plan_batches(SUITE, ("subflow",), {}, 4)
    assert selection(one, [one]) == ["-a", "mptcp/subflow"]
    (two,) = plan_batches(SUITE, ("base", "rr"), {}, 1)
    assert selection(two, [two]) == ["-a", "mptcp/base,mptcp/rr"]


def test_whole_suite_one_batch_runs_the_whole_test_so_extra_subtests_show() -> None:
    (only,) = plan_batches(SUITE, SUITE.subtests, {}, 1)
    assert only.runs_rest and selection(only, [only]) == ["-a", "mptcp"]


def test_whole_suite_in_batches_one_of_them_runs_the_rest_of_the_test() -> None:
    batches = plan_batches(SUITE, SUITE.subtests, {}, 2)
    rest = [b for b in batches if b.runs_rest]
    assert len(rest) == 1
    other = next(b for b in batches if not b.runs_rest)
    assert selection(rest[0], batches) == ["-a", "mptcp", "-b", ",".join(f"mptcp/{s}" for s in other.subtests)]


def test_plan_is_longest_first_into_the_lightest_batch() -> None:
    durations = {"base": 10.0, "mptcpify": 1.0, "subflow": 4.0, "rr": 5.0}
    batches = plan_batches(SUITE, ("base", "mptcpify", "subflow", "rr"), durations, 2)
    assert [b.subtests for b in batches] == [("base",), ("mptcpify", "subflow", "rr")]
    assert sorted(s for b in batches for s in b.subtests) == sorted(durations)


def test_never_more_batches_than_subtests_nor_than_concurrency() -> None:
    assert len(plan_batches(SUITE, ("base",), {}, 8)) == 1
    assert len(plan_batches(SUITE, SUITE.subtests, {}, 3)) == 3
    assert plan_batches(SUITE, (), {}, 2) == []


def test_runner_script_starts_every_batch_isolated_and_records_exit_status(tmp_path: Path) -> None:
    batches = [Batch(0, ("base",)), Batch(1, ("subflow",))]
    text = runner_script(SUITE, Path("/p"), tmp_path, batches, tmp_path)
    assert "cd /p " in text
    for b in batches:  # side by side: each in its own scratch dir (isolated), log and status file
        assert (f"(set -- {b.index} {tmp_path}/batch-{b.index}.log {tmp_path}/batch-{b.index}.rc "  # batch.sh, read
                f"{tmp_path}/scratch-{b.index} ./test_progs -v -a mptcp/{b.subtests[0]}; "  # in a subshell
                f". {script('batch.sh')}) &") in text
    alone = runner_script(SUITE, Path("/p"), tmp_path, batches[:1], tmp_path)
    assert "batch-0.rc - ./test_progs" in alone  # alone in the guest: no isolation set-up
    assert text.rstrip().endswith("\nwait")  # for every batch; nothing after (no sync: 9p without a cache)
    subprocess.run(["sh", "-n"], input=text, text=True, check=True)  # valid shell


@pytest.mark.skipif(os.geteuid() != 0, reason="namespaces need root (the harness runs its guests as root)")
def test_isolated_runs_in_private_netns_and_scratch_for_real(tmp_path: Path) -> None:
    """On the host, for real: a netns made inside is not seen outside, TMPDIR is the scratch dir."""
    inside = "ip netns add harness-test-ns && ls /run/netns && echo tmp=$TMPDIR"
    out = subprocess.run(["sh", "-c", isolated(["sh", "-c", inside], str(tmp_path / "scratch 0"))],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["harness-test-ns", f"tmp={tmp_path}/scratch", "0"]
    assert "harness-test-ns" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert (tmp_path / "scratch 0").is_dir()


def test_vng_command_line_gives_modules_console_and_chooses_accelerator(tmp_path: Path) -> None:
    argv = guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, "sh run.sh")
    assert argv[:3] == ["vng", "--run", "/k/vmlinuz"]
    assert "--rodir" in argv and argv[argv.index("--rodir") + 1] == "/lib/modules/7.3.4+deb13-amd64=/k/mods"
    assert argv[argv.index("--rwdir") + 1] == str(tmp_path)
    assert "--disable-kvm" in argv and "--verbose" in argv
    assert "--qemu-opts=-accel tcg,thread=single" in argv  # multi-threaded TCG kills ~4% of guests (int3)
    assert argv[argv.index("--qemu") + 1].endswith("/scripts/qemu.sh")  # images/guest.toml: init = "harness"
    assert "--disable-kvm" not in guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", True), tmp_path, "x")


def test_with_kvm_a_kernel_without_virtio_mmio_is_kept_off_microvm(tmp_path: Path) -> None:
    """vng boots microvm under KVM (with a virtiofsd it can use): virtio-mmio devices only. A kernel whose .config
    leaves VIRTIO_MMIO out gets the standard PC; with it (the lean base), or a config unknown, vng chooses."""
    def argv(line: str | None, kvm: bool = True) -> list[str]:
        build = tmp_path / str(line)
        build.mkdir()
        if line is not None:
            (build / ".config").write_text(f"CONFIG_VIRTIO_PCI=y\n{line}\n")
        kernel = Kernel(build / "bzImage", "7.3.0", None, build / "vmlinux", "tree:x", build_dir=build)
        return guest.vng_argv(guest.GuestConfig(kernel, 2, "2G", kvm), tmp_path, "x")
    assert "--disable-microvm" in argv("# CONFIG_VIRTIO_MMIO is not set")
    assert "--disable-microvm" not in argv("CONFIG_VIRTIO_MMIO=y")
    assert "--disable-microvm" not in argv("CONFIG_VIRTIO_MMIO=m")  # Debian's: vng's initramfs loads it
    assert "--disable-microvm" not in argv(None)
    assert "--disable-microvm" not in argv("# CONFIG_VIRTIO_MMIO is not set ", kvm=False)  # TCG: never microvm


def test_with_vngs_init_udev_skips_the_modules_no_test_needs(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(vng, "boot_settings", lambda: {"init": "vng", "skip_modules": ["ahci", "sr_mod"]})
    argv = guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, "sh run.sh")
    assert "--qemu" not in argv and "QEMU_SH_INIT" not in guest.guest_environment(guest.GuestConfig(KERNEL, 2, "2G", False))
    assert "modprobe.blacklist=ahci,sr_mod" in argv[argv.index("--append") + 1]


def test_images_guest_toml_append_goes_on_every_guests_command_line_and_a_bad_one_is_bad_input(
        tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    argv = guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, "sh run.sh")
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--append"].count("cryptomgr.notests") == 1
    monkeypatch.setattr(vng, "boot_settings", lambda: {"append": "cryptomgr.notests"})
    with pytest.raises(BadInput, match=r"\[boot\] append = 'cryptomgr.notests': use a list"):
        guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, "sh run.sh")


def test_qemu_wrappers_settings_are_its_own_not_the_users_knobs(monkeypatch: MonkeyPatch) -> None:
    """$HARNESS_KERNEL is the --harness-kernel knob (a kernel name): qemu.sh must not take it, or an inherited one, for
    the vmlinux to boot. Found when bench/parallel.py handed the guest's environment to pytest: "unknown Debian kernel"."""
    monkeypatch.setenv("HARNESS_KERNEL", "7.2.12+deb13-amd64")
    monkeypatch.setenv("QEMU_SH_VMLINUX", "/stale/vmlinux")
    env = guest.guest_environment(guest.GuestConfig(KERNEL, 2, "2G", False))  # KERNEL's vmlinux has no PVH entry
    assert "QEMU_SH_VMLINUX" not in env and env["QEMU_SH_INIT"] == str(SCRIPTS / "init.sh")


def test_qemu_wrapper_boots_the_harness_init_and_keeps_vngs(tmp_path: Path) -> None:
    """qemu.sh, run for real with echo as QEMU: only init= changes in -append; vng's init stays known."""
    config = guest.GuestConfig(KERNEL, 2, "2G", False)
    env = {**guest.guest_environment(config), "QEMU_SH_QEMU": "/bin/echo"}
    assert env["QEMU_SH_INIT"] == str(SCRIPTS / "init.sh") and "QEMU_SH_INIT" not in guest.vng_environment()
    append = "console=ttyS0 virtme.exec=`c2g=` init=/venv/virtme/guest/bin/virtme-ng-init"
    out = subprocess.run(["sh", str(SCRIPTS / "qemu.sh"), "-m", "2G", "-append", append, "-initrd", "/proc/self/fd/3"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[:3] == ["-m", "2G", "-append"] and out[-2:] == ["-initrd", "/proc/self/fd/3"]
    assert out[5:7] == ["harness_vng_init=/venv/virtme/guest/bin/virtme-ng-init", f"init={SCRIPTS}/init.sh"]
    env["QEMU_SH_VMLINUX"] = "/cache/vmlinux"  # an ELF with a PVH entry: booted instead of vng's bzImage
    out = subprocess.run(["sh", str(SCRIPTS / "qemu.sh"), "-kernel", "/k/vmlinuz", "-append", "init=/x"],
                         env=env, capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["-kernel", "/cache/vmlinux"]
    version = subprocess.run(["sh", str(SCRIPTS / "qemu.sh"), "--version"], env=guest.guest_environment(config),
                             capture_output=True, text=True).stdout
    assert version.startswith("QEMU emulator version")  # vng's probe reaches the real QEMU


def test_an_unknown_init_in_the_boot_settings_is_bad_input(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(vng, "boot_settings", lambda: {"init": "systemd"})
    with pytest.raises(BadInput, match=r"\[boot\] init = 'systemd'"):
        vng.harness_init()


def test_an_unknown_launcher_in_the_boot_settings_is_bad_input(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(vng, "boot_settings", lambda: {"launcher": "libvirt"})
    with pytest.raises(BadInput, match=r"\[boot\] launcher = 'libvirt': use \"direct\" or \"vng\""):
        vng.direct_launch()


# what each daemon's `--version` prints: Debian 12's qemu-system-common's C one (copied from it), the Rust one's
C_VIRTIOFSD = ("virtiofsd version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\n"
               "Copyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers")
RUST_VIRTIOFSD = "virtiofsd 1.13.2"


@pytest.mark.parametrize("version, nine_p", [(C_VIRTIOFSD, True), (RUST_VIRTIOFSD, False)], ids=["c", "rust"])
def test_9p_from_the_start_where_vng_would_try_qemus_c_virtiofsd_first(version: str, nine_p: bool, tmp_path: Path,
                                                                     monkeypatch: MonkeyPatch) -> None:
    """Debian 12's qemu ships the C virtiofsd; run as root, vng tries it, waits ~3 s per share, falls back to 9p.
    The daemon vng finds first on PATH is one printing that version; the Rust one is vng's to use."""
    daemon = tmp_path / "virtiofsd"
    daemon.write_text(f"#!/bin/sh\nprintf '%s\\n' '{version}'\n")
    daemon.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    vng.qemu_virtiofsd_only.cache_clear()
    try:
        argv = guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), Path("/w"), "x")
    finally:
        vng.qemu_virtiofsd_only.cache_clear()
    assert ("--force-9p" in argv) is nine_p


def kmsg_stand_in(tmp_path: Path) -> tuple[Path, int]:
    """A FIFO standing in for /dev/kmsg: every marker written (each by its own open) is kept, in order."""
    fifo = tmp_path / "kmsg"
    os.mkfifo(fifo)
    return fifo, os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # held open: writers never block, nothing is lost


def read_markers(fd: int) -> list[str]:
    return os.read(fd, 1 << 16).decode().splitlines()


def test_shell_suite_reports_in_test_progs_format_and_marks_each_result(tmp_path: Path) -> None:
    from harness.guest.commands import shell_suite_argv
    from harness.parse.test_progs import parse_test_progs
    from harness.suites import Suite

    suite = Suite("demo", Runner.SHELL, "demo", ("ok", "bad", "skipped"), 5.0, tmp_path / "demo.toml",
                  commands={"ok": "true", "bad": "echo broken; exit 3", "skipped": "exit 4"})
    kmsg, fd = kmsg_stand_in(tmp_path)
    out = subprocess.run(shell_suite_argv(suite, Batch(3, suite.subtests), tmp_path), capture_output=True, text=True,
                         env=dict(os.environ, HARNESS_KMSG=str(kmsg)))
    parsed = parse_test_progs(out.stdout)
    assert {n: s.result for n, s in parsed.subtests.items()} == {"demo/ok": "OK", "demo/bad": "FAIL", "demo/skipped": "SKIP"}
    assert parsed.subtests["demo/bad"].output == ("broken",)
    assert parsed.summary is not None and out.returncode != 0
    assert read_markers(fd) == [f"<4>harness: batch 3 done #1/{n} demo/{s}:{r}"
                                for n, s, r in ((1, "ok", "OK"), (2, "bad", "FAIL"), (3, "skipped", "SKIP"))]


def test_batch_passes_output_through_marks_start_results_end_and_keeps_the_status(tmp_path: Path) -> None:
    kmsg, fd = kmsg_stand_in(tmp_path)
    text = (DATA / "verbose-base-ok.log").read_text()
    (tmp_path / "in.log").write_text(text)
    env = dict(os.environ, HARNESS_KMSG=str(kmsg), HARNESS_RESULT_LINE=SUBTEST_RESULT_LINE)
    subprocess.run(["sh", script("batch.sh"), "2", str(tmp_path / "out.log"), str(tmp_path / "rc"), "-",
                    "sh", "-c", f"cat {tmp_path}/in.log; exit 7"], env=env, check=True)
    assert (tmp_path / "out.log").read_text() == text
    assert (tmp_path / "rc").read_text() == "7\n"
    results = [line for line in text.splitlines() if SUBTEST_RESULT.match(line)]
    assert results and read_markers(fd) == ["<4>harness: batch 2 start", *(f"<4>harness: batch 2 done {line}" for line in results),
                                            "<4>harness: batch 2 end"]


LIVE = """echo '#1/1 demo/ok:OK'  # then waits (3 s at most) for its marker: only there if the line left at once
for _ in $(seq 30); do grep -qs ' done #1/1' "$HARNESS_KMSG" && break; sleep 0.1; done
grep -qs ' done #1/1' "$HARNESS_KMSG" && echo marked-while-running || echo not-marked-while-running"""


@pytest.mark.parametrize("how", ["the harness's", "the fallback"])
def test_batch_marks_each_result_while_the_command_still_runs(tmp_path: Path, how: str) -> None:
    """A stdio program's output into the marking pipe is line-buffered (stdbuf's library preloaded, or stdbuf itself),
    and the awk marks each line as it comes: sed (stdio, block-buffered into a pipe) writes the result line, and the
    command waits for its marker. The harness's way: busybox's awk and the library named by stdbuf; the fallback:
    stdbuf itself and the host's mawk. Without line buffering the line stays in sed's buffer (checked first)."""
    from harness.guest.commands import awk_command, stdbuf_preload

    kmsg = tmp_path / "kmsg"  # a file: each marker replaces the one before
    command = ["sh", "-c", f"{{ {LIVE}\n}} | sed -n p"]
    env = dict(os.environ, HARNESS_KMSG=str(kmsg), HARNESS_RESULT_LINE=SUBTEST_RESULT_LINE)
    marking = (f"{awk_command()} -v batch=0 -v kmsg={kmsg} -v pattern=\"$HARNESS_RESULT_LINE\" "
               f"-f {script('mark-results.awk')}")
    control = subprocess.run(["sh", "-c", f"{shlex.join(command)} | {marking}"], env=env, capture_output=True, text=True)
    assert control.stdout.splitlines() == ["#1/1 demo/ok:OK", "not-marked-while-running"]  # sed's buffer held it
    if how == "the harness's":
        assert awk_command().endswith("busybox awk") and stdbuf_preload().endswith("libstdbuf.so")  # on this host
        env |= {"HARNESS_AWK": awk_command(), "HARNESS_STDBUF_PRELOAD": stdbuf_preload()}
    else:  # what awk_command gives without busybox (this host's awk is mawk)
        env |= {"HARNESS_AWK": "awk -W interactive"}
    subprocess.run(["sh", script("batch.sh"), "0", str(tmp_path / "out.log"), str(tmp_path / "rc"), "-", *command],
                   env=env, check=True)
    assert (tmp_path / "out.log").read_text().splitlines() == ["#1/1 demo/ok:OK", "marked-while-running"]
    assert kmsg.read_text() == "<4>harness: batch 0 end\n"  # (the last of its markers)


def test_the_result_grammar_is_one_for_awk_and_python() -> None:
    """Every line of the real captures: the ERE the guest marks with matches exactly where the parser finds a result."""
    import lzma

    texts = [f.read_text() for f in sorted(DATA.parent.rglob("*.log"))]
    texts += [lzma.open(f, "rt").read() for f in sorted(DATA.parent.rglob("*.log.xz"))]
    lines = [form for text in texts for ln in text.splitlines() for form in (ln, unprefixed(ln))]
    ere = re.compile(SUBTEST_RESULT_LINE)
    assert sum(bool(SUBTEST_RESULT.match(ln)) for ln in lines) >= 50
    assert [ln for ln in lines if bool(ere.match(ln)) != bool(SUBTEST_RESULT.match(ln))] == []


def boot_panic_then(*later: str) -> tuple[ScriptRunner, list[Path]]:
    """A stand-in guest: the first boot dies as a real one did here (TCG's int3 Oops, before the
    runner script started); each later one prints a real captured test_progs log and finishes."""
    consoles = Path(__file__).parent / "data" / "console"
    calls: list[Path] = []

    def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
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


def stand_in_request(tmp_path: Path, runner: ScriptRunner) -> RunRequest:
    return RunRequest(SUITE, ("base",), Payload(Path("/p"), Path("/p/test_progs"), "x"),
                      guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, 60, runner=runner)


def test_a_guest_that_dies_booting_is_replaced_and_blames_nobody(tmp_path: Path) -> None:
    from harness.crashes import event_lines
    from harness.results import Status
    from harness.run.scheduler import run_suite

    runner, calls = boot_panic_then("verbose-base-ok.log")
    run = run_suite(stand_in_request(tmp_path, runner))
    assert len(calls) == 2
    assert [(r.name, r.status) for r in run.subtests] == [("mptcp/base", Status.PASSED)]
    assert run.infra_errors == ()  # recovered: no run-level error, but the console events say what happened
    events = event_lines(run.incidents)
    assert any(e.startswith("panic (running: nothing of ours)") for e in events)
    # the int3 oops that killed the boot, with its fingerprint
    assert "oops (running: nothing of ours) [__hrtimer_start_range_ns/hrtimer_start_range_ns/finish_task_switch/" \
           "__schedule/schedule]:" in events


def test_guests_that_never_get_to_run_anything_end_in_lost_after_two_more_tries(tmp_path: Path) -> None:
    from harness.results import Status
    from harness.run.scheduler import FRUITLESS_ROUNDS, run_suite

    runner, calls = boot_panic_then()
    run = run_suite(stand_in_request(tmp_path, runner))
    assert len(calls) == 1 + FRUITLESS_ROUNDS
    assert [(r.name, r.status) for r in run.subtests] == [("mptcp/base", Status.LOST)]
    assert run.infra_errors  # exit code 3


def test_recordings_unused_for_30_days_go_when_another_is_made_and_the_placeholder_stays(tmp_path: Path) -> None:
    from harness.guest import launch

    old = time.time() - launch.UNUSED_S - 60
    for name, file, when in (("stale", "argv.json", old), ("used", "argv.json", time.time()),
                             ("stale-failure", launch.FAILED, old), ("recent-failure", launch.FAILED, time.time() - 7200)):
        (tmp_path / name).mkdir()
        (tmp_path / name / file).write_text("[]")
        os.utime(tmp_path / name / file, (when, when))
    (tmp_path / "shared").mkdir()  # the placeholder vng shares while recording
    launch.prune(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_dir()) == ["recent-failure", "shared", "used"]
    assert launch.age_s(tmp_path / "recent-failure" / launch.FAILED) > launch.RETRY_FAILED_S  # retried by the next guest


def test_the_ssh_control_socket_lives_only_in_a_directory_that_is_ours_alone(monkeypatch: MonkeyPatch) -> None:
    """In a short temporary dir of the test's own, as /tmp is: pytest's tmp_path under an xdist worker is long enough
    that a socket path there passes 108 bytes whatever the harness does."""
    import shutil

    tmp_path = Path(tempfile.mkdtemp(prefix="ssh-"))
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        _check_control_path(tmp_path)
    finally:
        shutil.rmtree(tmp_path)


def _check_control_path(tmp_path: Path) -> None:
    from harness.guest import channel_openssh

    ctl = channel_openssh.control_path(Path("/cache/guests/1-2"))
    assert ctl is not None and ctl.parent == tmp_path / f"mptcp-harness-{os.getuid()}" and len(str(ctl)) < 108
    assert ctl != channel_openssh.control_path(Path("/cache/guests/1-3"))  # one per guest
    ctl.parent.chmod(0o755)  # as another user's, or a careless one, would be
    assert channel_openssh.control_path(Path("/cache/guests/1-2")) is None
    ctl.parent.rmdir()
    ctl.parent.symlink_to(tmp_path)
    assert channel_openssh.control_path(Path("/cache/guests/1-2")) is None


def test_guests_side_by_side_one_per_host_core_under_tcg_as_many_as_memory_holds_one_under_kvm(monkeypatch: MonkeyPatch) -> None:
    from harness import settings
    from harness.settings import Settings, memory_bytes

    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(settings, "available_memory", lambda: 64 << 30)
    tcg = Settings(cache_dir=Path("/c"))
    assert tcg.guests_side_by_side(use_kvm=False) == 4
    assert tcg.guests_side_by_side(use_kvm=True) == 1  # the vCPUs of one guest have the cores
    assert Settings(cache_dir=Path("/c"), guests=3).guests_side_by_side(use_kvm=True) == 3  # as asked
    monkeypatch.setattr(settings, "available_memory", lambda: 5 << 30)
    assert tcg.guests_side_by_side(use_kvm=False) == 2  # two 2G guests fit in 5G, not three
    assert Settings(cache_dir=Path("/c"), guest_memory="1536M").guests_side_by_side(use_kvm=False) == 3
    monkeypatch.setattr(settings, "available_memory", lambda: 0)  # unknown: one
    assert tcg.guests_side_by_side(use_kvm=False) == 1
    assert [memory_bytes(m) for m in ("2G", "512m", "2048", "1.5G", "lots")] == [2 << 30, 512 << 20, 2 << 30, 3 << 29, 0]


def test_a_guest_with_the_rest_of_the_test_leaves_out_what_the_other_guests_run(tmp_path: Path) -> None:
    batches = plan_batches(SUITE, SUITE.subtests, {}, 2)
    rest, other = sorted(batches, key=lambda b: not b.runs_rest)
    assert rest.runs_rest and not other.runs_rest
    text = runner_script(SUITE, Path("/p"), tmp_path, [rest], tmp_path / "guest-0", every=batches)
    assert f"batch-{rest.index}.log" in text and f"batch-{other.index}.log" not in text  # its own batch only
    (line,) = [ln for ln in text.splitlines() if "./test_progs" in ln]
    argv = shlex.split(line.split("; .")[0].removeprefix("(set -- "))
    left_out = argv[argv.index("-b") + 1].split(",")
    assert sorted(left_out) == sorted(f"mptcp/{s}" for s in other.subtests)
    assert argv[3] == "-"  # alone in its guest: no isolation set-up (index, log, status, scratch, command)


def test_the_rest_of_the_test_weighs_what_its_subtests_took_before_and_subtests_not_in_the_build_nothing() -> None:
    # this machine's durations.json after runs of 7.3's build: base, mptcpify, subflow, and sockmap beyond the file
    durations = {"base": 4.0, "mptcpify": 1.5, "sockmap": 3.0, "subflow": 6.5}
    durations |= {s: 0.0 for s in SUITE.subtests if s not in durations}  # durations.load(kernel=...): not in its build
    a, b = plan_batches(SUITE, SUITE.subtests, durations, 2)
    real = {"base", "mptcpify", "subflow"}
    assert {x for x in a.subtests if x in real} == {"subflow", "mptcpify"} and not a.runs_rest  # 8 s
    assert {x for x in b.subtests if x in real} == {"base"} and b.runs_rest  # 4 s + the rest's 3 s
    assert sorted(s for batch in (a, b) for s in batch.subtests) == sorted(SUITE.subtests)


def test_durations_remember_per_kernel_which_subtests_its_build_did_not_have(tmp_path: Path) -> None:
    from harness.results import NOT_IN_BUILD, Status, SubtestResult, SuiteRun
    from harness.run import durations

    run = SuiteRun("mptcp", "debian:7.3", (SubtestResult("mptcp/base", Status.PASSED, duration_s=3.5),
                                            SubtestResult("mptcp/rr", Status.NOT_IN_BUILD, reason=NOT_IN_BUILD)))
    durations.record(tmp_path, SUITE, run)
    assert durations.load(tmp_path, SUITE, "debian:7.3") == {"base": 3.5, "rr": 0.0}
    assert durations.load(tmp_path, SUITE, "tree:net-next") == {"base": 3.5}  # another kernel may have rr
    assert durations.load(tmp_path, SUITE) == {"base": 3.5}
