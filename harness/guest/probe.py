"""What this host has for guests: vng's programs, qemu, sshd, and whether KVM works (a real boot, cached)."""
from __future__ import annotations

import hashlib
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness import host
from harness import proc as procs
from harness.cache import locked, read_json, write_json
from harness.errors import BadInput
from harness.kernel import Kernel

KVM_PROBE_TIMEOUT_S = 20.0
KVM_PROBE_FILE = "kvm-probe.json"


# What vng runs for us, on the host or (its root file system being the host's) in the guest:
# qemu; busybox for its initramfs; udev (coldplug) and kmod (modules) in the guest.
VNG_PROGRAMS = ("qemu-system-x86_64", "busybox", "udevadm", "modprobe", "depmod")
# vng --ssh: host keys and the client key made on the host, the host's sshd run in the guest.
SSH_PROGRAMS = ("ssh-keygen", "sshd")


def qemu_binary() -> str:
    return host.require("qemu-system-x86_64", "the guests' emulator")


def require_tools() -> None:
    """What vng needs, or one line saying what is missing and which package has it."""
    absent = host.missing(VNG_PROGRAMS)
    if absent:
        raise BadInput(f"not on this host, and vng's guests need them: {host.install_hint(absent)}; ./run installs them")
    if not shutil.which("vng", path=vng_environment()["PATH"]):
        raise BadInput("vng not found: install the harness's Python dependencies (./run does)")


def ssh_unavailable() -> str | None:
    """Why vng --ssh cannot work on this host (one line), or None when it can."""
    absent = host.missing(SSH_PROGRAMS)
    return f"no {host.install_hint(absent)} on this host" if absent else None



def vng_environment() -> dict[str, str]:
    """vng calls its helper programs by name: they sit beside our interpreter."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def probe_kvm(kernel: Kernel, cache_dir: Path) -> tuple[bool, str]:
    """Can this kernel start under KVM here? Boot it for real and wait for its banner.

    /dev/kvm existing is not enough: on some hosts (seen: kvm_pvm) qemu aborts or the
    vCPU stops on the first instruction it cannot emulate. The answer is cached per
    host boot, qemu and kernel.
    """
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is absent or not accessible"
    qemu = qemu_binary()
    key = hashlib.sha256(f"{_boot_id()}|{os.stat(qemu).st_mtime}|{kernel.identity}".encode()).hexdigest()[:16]
    path = cache_dir / KVM_PROBE_FILE
    with locked(cache_dir, "kvm-probe"):  # one probe at a time: xdist workers ask together
        known = read_json(path, {})
        if key not in known:
            usable, why = _boot_under_kvm(qemu, kernel)
            known[key] = {"usable": usable, "why": why}
            write_json(path, known)
    return bool(known[key]["usable"]), str(known[key]["why"])


def _boot_under_kvm(qemu: str, kernel: Kernel) -> tuple[bool, str]:
    argv = [
        qemu, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults", "-display", "none",
        "-no-reboot", "-m", "256", "-serial", "stdio", "-kernel", str(kernel.image),
        "-append", "console=ttyS0 panic=-1",
    ]
    proc = procs.spawn(argv, subprocess.PIPE)
    assert proc.stdout is not None
    seen = b""
    usable, why = False, f"no kernel banner within {KVM_PROBE_TIMEOUT_S:.0f} s under KVM"
    deadline = time.monotonic() + KVM_PROBE_TIMEOUT_S
    try:
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not sel.select(timeout=0.5):
                    continue
                chunk = os.read(proc.stdout.fileno(), 65536)
                if not chunk:
                    break
                seen += chunk
                if b"Linux version" in seen:
                    return True, "KVM works"
                if b"KVM internal error" in seen or b"failed to set MSR" in seen:
                    line = next(ln for ln in seen.decode(errors="replace").splitlines() if "KVM" in ln or "MSR" in ln)
                    return False, f"qemu+KVM fails here: {line.strip()}"
    finally:
        procs.stop(proc)
    if proc.returncode not in (None, -signal.SIGKILL, -signal.SIGTERM):
        why = f"qemu+KVM exited with {proc.returncode}: {seen.decode(errors='replace').strip()[-200:]}"
    return usable, why
