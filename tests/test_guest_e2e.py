"""Real guests: the default kernel boots in vng and real test_progs runs (slow under TCG)."""
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from pytest import MonkeyPatch

from harness.payload.selftests_bpf import build_test_progs
from tests.helpers import CACHE, REPO_ROOT, default_kernel, harness_qemus, pytest_argv, pytest_env, run_pytest

pytestmark = pytest.mark.guest


def test_collection_lists_the_19_subtests_11_scripts_2_kunit_suites_and_fetches_builds_boots_nothing(tmp_path: Path) -> None:
    empty_cache = tmp_path / "cache"
    everything = run_pytest("--collect-only", "-q", "suites", HARNESS_CACHE=str(empty_cache))
    only_rr = run_pytest("--collect-only", "-q", "-k", "mptcp/rr", HARNESS_CACHE=str(empty_cache))
    only_diag = run_pytest("--collect-only", "-q", "-k", "net-mptcp/diag", HARNESS_CACHE=str(empty_cache))
    assert everything.returncode == 0, everything.stdout
    assert "32 tests collected" in everything.stdout
    items = [ln for ln in everything.stdout.splitlines() if "::" in ln]
    assert len([i for i in items if i.startswith("suites/mptcp_bpf.toml::mptcp/")]) == 19
    assert len([i for i in items if i.startswith("suites/net_mptcp.toml::net-mptcp/")]) == 11
    assert [i for i in items if "kunit" in i] == ["suites/kunit_mptcp.toml::kunit-mptcp/mptcp-crypto",
                                                  "suites/kunit_mptcp.toml::kunit-mptcp/mptcp-token"]
    assert [ln for ln in only_rr.stdout.splitlines() if "::" in ln] == ["suites/mptcp_bpf.toml::mptcp/rr"]
    assert [ln for ln in only_diag.stdout.splitlines() if "::" in ln] == ["suites/net_mptcp.toml::net-mptcp/diag"]
    assert not empty_cache.exists()  # no kernel fetched, no build, no run directory


def test_killing_pytest_mid_run_leaves_no_qemu() -> None:
    proc = subprocess.Popen(pytest_argv("-q", "suites", "-k", "mptcp/base"), cwd=REPO_ROOT, env=pytest_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 1800  # a cold cache fetches and builds first
        while not harness_qemus() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert harness_qemus(), "the guest never started"
    finally:
        proc.send_signal(signal.SIGKILL)  # no handler, no atexit: only the kernel can clean up
        proc.wait()
    time.sleep(3)
    assert harness_qemus() == []


def test_base_and_mptcpify_pass_in_a_real_guest_and_rr_is_not_in_7_3(tmp_path: Path) -> None:
    junit = tmp_path / "j.xml"
    # two batches side by side (not the default under TCG): the isolated parallel path, for real
    proc = run_pytest("-v", "-rs", "suites", "-k", "mptcp/base or mptcp/mptcpify or mptcp/rr", "--concurrency", "2",
                      f"--junitxml={junit}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    assert set(cases) == {"mptcp/base", "mptcp/mptcpify", "mptcp/rr"}
    for name in ("mptcp/base", "mptcp/mptcpify"):
        assert list(cases[name]) == [], f"{name} did not pass: {ET.tostring(cases[name]).decode()}"
    (skipped,) = list(cases["mptcp/rr"])
    assert skipped.tag == "skipped" and skipped.get("message") == "not in this build"
    assert "guests run under TCG" in proc.stdout or "booting a guest (KVM" in proc.stdout
    assert "up to 2 side by side" in proc.stdout
    # no qemu is left after the run
    assert harness_qemus() == []


def test_bisect_step_answers_git_bisect_good_or_cannot_tell() -> None:
    """`git bisect run python -m harness bisect-step ...`: 0 good, 125 when the build lacks the subtest."""
    good = subprocess.run([sys.executable, "-m", "harness", "bisect-step", "-k", "mptcp/base"],
                          cwd="/", env=pytest_env(), capture_output=True, text=True)
    assert (good.returncode, good.stdout.strip()) == (0, "good: 1 passed"), good.stdout + good.stderr
    lacking = subprocess.run([sys.executable, "-m", "harness", "bisect-step", "-k", "mptcp/rr"],
                             cwd="/", env=pytest_env(), capture_output=True, text=True)
    assert lacking.returncode == 125 and "not in this build" in lacking.stdout, lacking.stdout + lacking.stderr
    assert harness_qemus() == []


def test_a_debian_vmlinuz_from_the_cache_runs_as_kernel_image_with_its_modules() -> None:
    """--kernel-image/--modules-dir without --test-progs: the test_progs built for that very image is found by its sha256."""
    kernel = default_kernel()
    assert kernel.modules_dir is not None
    build_test_progs(kernel, CACHE, os.cpu_count() or 1, say=lambda _: None, tests=("mptcp",))  # nothing when built
    proc = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-image", str(kernel.image),
                      "--modules-dir", str(kernel.modules_dir))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "mptcp/base PASSED" in proc.stdout and "1 passed" in proc.stdout
    assert harness_qemus() == []


def test_the_architecture_docs_run_mptcp_base_through_the_pipeline_without_pytest() -> None:
    """docs/architecture.md's few lines, as written, in a fresh interpreter (no pytest in it)."""
    doc = (REPO_ROOT / "docs" / "architecture.md").read_text()
    code = doc.split("### Without pytest: the pipeline", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    proc = subprocess.run([sys.executable, "-c", f"import sys\n{code}\nassert 'pytest' not in sys.modules"],
                          cwd=REPO_ROOT, env=pytest_env(), capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.rstrip().endswith("Status.PASSED"), proc.stdout[-2000:]  # ran.runs[0]'s mptcp/base
    assert harness_qemus() == []


def test_the_guest_boots_its_vmlinux_into_the_harness_init_without_udev_and_returns_the_exit_status(tmp_path: Path) -> None:
    """images/guest.toml: init = "harness", pvh = true; what vng's init did that the tests use is still there."""
    from harness import guest
    from harness.guest.commands import SCRIPTS
    from harness.kernel.vmlinux import has_pvh_entry

    kernel = default_kernel()
    assert has_pvh_entry(kernel.vmlinux) and not has_pvh_entry(Path("/bin/ls"))
    script = tmp_path / "run.sh"
    script.write_text(f"dmesg > {tmp_path}/dmesg; cat /proc/cmdline > {tmp_path}/cmdline; ls /run > {tmp_path}/run\n"
                      f"ls /sys/class/virtio-ports /sys/bus/virtio/drivers/virtio_console > {tmp_path}/ports\n"
                      f"modprobe veth && lsmod > {tmp_path}/lsmod; touch /tmp/writable && echo to-stdout; exit 7\n")
    done = guest.run_once(guest.GuestConfig(kernel, 2, "2G", False), tmp_path, script, 300)
    assert done.returncode == 7 and not done.timed_out  # the script's status, back through vng's virtme.ret
    console = done.console_log.read_text(errors="replace")
    assert "to-stdout" in console and "Decompressing Linux" not in console  # vng's output port; PVH: no decompressor
    cmdline = (tmp_path / "cmdline").read_text().split()
    assert f"init={SCRIPTS}/init.sh" in cmdline and "cryptomgr.notests" in cmdline  # images/guest.toml's append
    ports = (tmp_path / "ports").read_text().split()  # vng's six ports on one virtio-serial controller (qemu.sh)
    assert len([p for p in ports if p.startswith("vport")]) == 6 and len([p for p in ports if p.startswith("virtio")]) == 1
    dmesg = (tmp_path / "dmesg").read_text()
    assert "harness-init: running the script" in dmesg and "virtme-ng-init:" not in dmesg  # its log lines
    assert "udev" not in (tmp_path / "run").read_text().split()  # no udevd ran
    assert "veth" in (tmp_path / "lsmod").read_text()  # the kernel's modules, loaded on demand


def test_a_one_shot_guest_starts_qemu_on_the_command_line_vng_would_run_and_returns_vngs_status(
        tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    """guest.launch: vng runs once per guest to record its QEMU command line and initramfs; later guests start QEMU
    directly with their own shared directory, script and status file put in: the same command line vng would run."""
    from harness import guest, proc
    from harness.guest import launch

    config = guest.GuestConfig(default_kernel(), 2, "2G", False, cache_dir=tmp_path / "cache")
    shared = tmp_path / "shared"
    shared.mkdir()
    argv, status = guest.one_shot_argv(config, shared, f"sh {shared}/run.sh", shared / "guest.status")
    assert argv[0] == guest.qemu_binary() and status is not None
    scratch = tmp_path / "vng"
    scratch.mkdir()  # what vng itself runs for this very guest, recorded by qemu.sh without booting
    proc.run(guest.vng_argv(config, shared, f"sh {shared}/run.sh"),
             env={**guest.guest_environment(config), "QEMU_SH_RECORD": str(scratch)})
    vngs = (scratch / "argv").read_bytes().decode().split("\0")[:-1]

    def per_boot_files_out(args: list[str]) -> list[str]:  # the initramfs and the status file are files of each run
        args = [launch.RET_CHARDEV.sub(r"\1RET", a) for a in args]
        return [*args[:args.index("-initrd") + 1], "INITRD", *args[args.index("-initrd") + 2:]]

    assert per_boot_files_out(argv) == per_boot_files_out(vngs)
    vngs_initrd = (scratch / "initrd").read_bytes()  # without cpio on the PATH, vng's initramfs stays as it is
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))
    launch.decompress_modules(scratch / "initrd")
    assert (scratch / "initrd").read_bytes() == vngs_initrd
    monkeypatch.undo()

    (shared / "run.sh").write_text(f"echo booted > {shared}/out; dmesg > {shared}/dmesg; exit 7\n")
    done = guest.run_once(config, shared, shared / "run.sh", 300)
    assert done.returncode == 7 and (shared / "out").read_text() == "booted\n"
    dmesg = (shared / "dmesg").read_text()  # the recorded initramfs loads its modules decompressed (decompress_modules)
    assert "virtme initramfs: loading netfs.ko..." in dmesg and ".ko.xz..." not in dmesg, dmesg[-3000:]
    (shared / "run.sh").write_text("echo o > /proc/sysrq-trigger; sleep 60\n")  # gone without a status: vng says 255
    assert guest.run_once(config, shared, shared / "run.sh", 300).returncode == 255
