"""A kernel tree (issue 34), in ./run slow since issue 50: Debian's linux-source-7.3 built with the lean base (mode normal), booted,
mptcp/base passing on it; then a one-line change in net/mptcp/protocol.c, and the loop a developer lives in: the
kernel rebuilt (ccache finds the other compiles), test_progs reused (the BTF did not change), the guest again;
then the same sources in another checkout (as bisect's worktree or a second clone): 95 % or more from ccache.

Its cold build runs beside the tests before it (tests/tree_build.py, started by tests/conftest.py); this test runs
last and waits for it. A warm machine (the copy already built) waits for nothing. Not in ./run tests: on a new
machine that build alone is ~1300 s of CPU (1693 compiles), beside the ~900 s the other tests use, on 2 cores: no
fresh `./run tests` could end within 15 min with it (docs/setup.md, docs/performance.md).
"""
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.guest.probe import qemu_binary
from harness.kernel import kconfig
from harness.kernel.tree import build_dir_for
from tests import tree_build
from tests.helpers import harness_qemus, install_clone, installed_command, linked_copy, replace_in, run_pytest

pytestmark = [pytest.mark.guest, pytest.mark.slow]

WAKE_UP = "\nstatic void mptcp_close_wake_up(struct sock *sk)"
CHANGE = (WAKE_UP, f"\nint mptcp_harness_tree_test;\n{WAKE_UP}")


def run_on_tree(tree: Path = tree_build.TREE) -> tuple[subprocess.CompletedProcess[str], float]:
    begin = time.monotonic()
    run = run_pytest("-v", "suites", "-k", "mptcp/base", "--kernel-tree", str(tree),
                     "--harness-cache", str(tree_build.TREE_CACHE), timeout=3600)
    return run, time.monotonic() - begin


def test_a_tree_builds_boots_passes_then_a_one_line_change_rebuilds_and_reuses_test_progs() -> None:
    code, log, waited = tree_build.wait()
    assert code == 0, f"the tree's build beside the tests failed ({tree_build.LOG}):\n{log[-4000:]}"
    first, _ = run_on_tree()
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert "mptcp/base PASSED" in first.stdout and "building the kernel" not in first.stdout  # built beside
    protocol = tree_build.TREE / "net/mptcp/protocol.c"
    replace_in(protocol, *CHANGE)
    try:
        second, took = run_on_tree()
    finally:
        replace_in(protocol, CHANGE[1], CHANGE[0])
    said = second.stdout
    assert second.returncode == 0, said[-4000:] + second.stderr[-2000:]
    assert "mptcp/base PASSED" in said and "building the kernel" in said, said[-3000:]
    assert "test_progs: reused" in said and "ccache:" in said, said[-3000:]
    other = linked_copy(tree_build.TREE, tree_build.TREE_CACHE / "elsewhere" / "linux")
    try:
        third, cross = run_on_tree(other)
    finally:
        shutil.rmtree(other.parent)
    assert third.returncode == 0 and "mptcp/base PASSED" in third.stdout, third.stdout[-4000:] + third.stderr[-2000:]
    hits = re.search(r"ccache: (\d+) of (\d+) compiles", third.stdout)
    assert hits and int(hits[1]) >= 0.95 * int(hits[2]) > 1000, third.stdout[-3000:]  # a full build, from ccache
    assert harness_qemus(tree_build.TREE_CACHE) == []
    print(f"waited {waited:.0f} s for the build beside; the one-line change to its result {took:.0f} s; "
          f"another checkout {cross:.0f} s ({hits[0]})")


def test_the_installed_command_runs_in_the_tree_it_is_started_in(tmp_path: Path) -> None:
    """The README's second way: the clone pip-installed into a new venv, `mptcp-harness -k mptcp/base` started below
    the top of the built tree: that tree is the kernel (its build dir found again: after the test before, which
    changed protocol.c and put it back, an incremental make; test_progs reused), mptcp/base passes, and the tree
    gets no .pytest_cache."""
    code, log, _ = tree_build.wait()
    assert code == 0, f"the tree's build beside the tests failed ({tree_build.LOG}):\n{log[-4000:]}"
    bin_dir = install_clone(tmp_path)
    run = installed_command(bin_dir, tree_build.TREE / "net" / "mptcp", "-k", "mptcp/base", "--harness-cache",
                            str(tree_build.TREE_CACHE), timeout=3600)
    out = run.stdout + run.stderr
    assert run.returncode == 0 and "1 passed" in run.stdout, out[-4000:]
    assert f"on the kernel tree here, {tree_build.TREE}" in run.stderr, out[-3000:]
    assert "test_progs: reused" in out, out[-3000:]  # the installed copy's configs are the clone's: the same build
    assert not (tree_build.TREE / ".pytest_cache").exists() and harness_qemus(tree_build.TREE_CACHE) == []


MICROVM_INIT = """#!/bin/busybox sh
/bin/busybox mount -t sysfs sysfs /sys
for d in /sys/bus/virtio/devices/*; do read -r id < "$d/device"; echo "virtio-device: $id"; done
/bin/busybox mkdir -p /virtiofs && /bin/busybox mount -t virtiofs ROOTFS /virtiofs && /bin/busybox cat /virtiofs/marker
/bin/busybox poweroff -f
"""
MARKER = "read over virtio-fs"


@contextlib.contextmanager
def virtiofsd(shared: Path, sock: Path) -> Iterator[None]:
    """A virtio-fs daemon for QEMU's vhost-user-fs device: the Rust one (trixie on, vng's choice) or the C one
    Debian 12's QEMU ships (root only, which this test runs as)."""
    daemon = next((p for p in (shutil.which("virtiofsd"), "/usr/libexec/virtiofsd", "/usr/lib/qemu/virtiofsd")
                   if p and Path(p).exists()), None)
    assert daemon, "no virtiofsd: Debian 12 ships it in qemu-system-common (images/toolchain.toml: qemu-system-x86)"
    helps = subprocess.run([daemon, "--help"], capture_output=True, text=True).stdout
    args = (["--shared-dir", str(shared), "--sandbox", "none", "--cache", "never"] if "--shared-dir" in helps
            else ["-o", f"source={shared}", "-o", "cache=none"])
    proc = subprocess.Popen([daemon, f"--socket-path={sock}", *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            if sock.exists() or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert sock.exists(), f"{daemon} did not start: {proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ''}"
        yield
    finally:
        proc.kill()
        proc.wait()


def test_the_lean_kernel_finds_its_devices_on_microvm(tmp_path: Path) -> None:
    """On a KVM host with a virtiofsd it can use, vng boots QEMU's microvm (virtio-mmio devices, described in its
    ACPI tables) instead of the PC this machine's TCG guests get. The same lean vmlinux, booted there by QEMU itself
    (vng picks microvm with KVM only; tsc_early_khz stands in for kvmclock under TCG): it must see vng's kinds of
    devices (net 1, console 3, 9p 9, virtio-fs 26), read a file over virtio-fs (vng's root there) and power QEMU
    off. The lean base without CONFIG_VIRTIO_MMIO saw none."""
    code, log, _ = tree_build.wait()
    assert code == 0, f"the tree's build beside the tests failed ({tree_build.LOG}):\n{log[-4000:]}"
    vmlinux = build_dir_for(tree_build.TREE_CACHE, tree_build.TREE, "normal", kconfig.mode_fragments("normal")) / "vmlinux"
    root = tmp_path / "initramfs"
    (root / "bin").mkdir(parents=True)
    (root / "sys").mkdir()
    shutil.copy(shutil.which("busybox") or "/bin/busybox", root / "bin/busybox")
    (root / "init").write_text(MICROVM_INIT)
    (root / "init").chmod(0o755)
    files = subprocess.run(["find", "."], cwd=root, capture_output=True, check=True).stdout
    initramfs = tmp_path / "initramfs.cpio"
    with open(initramfs, "wb") as out:
        subprocess.run(["cpio", "-o", "-H", "newc"], cwd=root, input=files, stdout=out, stderr=subprocess.DEVNULL, check=True)
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "marker").write_text(MARKER)
    sock = tmp_path / "virtiofs.sock"
    with virtiofsd(shared, sock):
        boot = subprocess.run([
            qemu_binary(), "-M", "microvm,accel=tcg,pcie=on,rtc=on", "-m", "512", "-nographic", "-no-reboot",
            "-kernel", str(vmlinux), "-initrd", str(initramfs),
            "-append", "console=ttyS0 loglevel=4 panic=-1 rdinit=/init tsc_early_khz=2000000",
            "-netdev", "user,id=n0", "-device", "virtio-net-device,netdev=n0", "-device", "virtio-serial-device",
            "-fsdev", f"local,id=f0,path={tmp_path},security_model=none", "-device", "virtio-9p-device,fsdev=f0,mount_tag=t",
            # vng's root on microvm: virtio-fs over vhost-user, guest memory shared with the daemon. The C daemon's
            # libvhost-user refuses legacy virtio-mmio, QEMU 7.2's default there; the kernel drives both.
            "-object", "memory-backend-memfd,id=mem,size=512M,share=on", "-machine", "memory-backend=mem",
            "-global", "virtio-mmio.force-legacy=false", "-chardev", f"socket,id=fs0,path={sock}",
            "-device", "vhost-user-fs-device,chardev=fs0,tag=ROOTFS",
        ], capture_output=True, text=True, timeout=120)
    said = boot.stdout + boot.stderr
    assert boot.returncode == 0 and "reboot: Power down" in said, said[-3000:]
    assert sorted(re.findall(r"virtio-device: (0x\w+)", said)) == ["0x0001", "0x0003", "0x0009", "0x001a"], said[-3000:]
    assert MARKER in said, said[-3000:]
