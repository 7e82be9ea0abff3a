"""vng's command line and environment for a guest: the only module that knows vng's options, and images/guest.toml's [boot]."""
from __future__ import annotations

import functools
import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import IMAGES_DIR
from harness.errors import BadInput
from harness.guest.commands import SCRIPTS
from harness.guest.probe import qemu_binary, vng_environment
from harness.kernel import Kernel, kconfig
from harness.kernel.vmlinux import has_pvh_entry


@dataclass(frozen=True)
class GuestConfig:
    kernel: Kernel
    cpus: int
    memory: str
    use_kvm: bool
    kernel_console: bool = True  # kernel messages into console.log (vng --verbose): crash evidence
    cache_dir: Path | None = None  # where vng's command lines are recorded (guest.launch); None: each boot through vng



def vng_argv(config: GuestConfig, shared_dir: Path, command: str) -> list[str]:
    argv = [
        "vng", "--run", str(config.kernel.image),
        "--cpus", str(config.cpus), "--memory", config.memory,
        "--rwdir", str(shared_dir),
        "--exec", command,
    ]
    if config.kernel.modules_dir is not None:
        argv += ["--rodir", f"/lib/modules/{config.kernel.release}={config.kernel.modules_dir}"]
    if qemu_virtiofsd_only():
        argv.append("--force-9p")
    if harness_init():  # vng boots QEMU through qemu.sh, which swaps in the harness's init (init.sh)
        argv += ["--qemu", str(SCRIPTS / "qemu.sh")]
    elif skipped := boot_settings().get("skip_modules"):  # images/guest.toml: udev would load them for nothing
        argv += ["--append", f"modprobe.blacklist={','.join(skipped)}"]
    if extra := kernel_append():
        argv += ["--append", extra]
    if not config.use_kvm:
        # One TCG thread for all vCPUs: with a thread per vCPU, Debian 12's QEMU 7.2 now and
        # then runs kernel text the kernel is patching (int3 text poking) and the guest dies
        # of "Oops: int3", booting or mid-test: 8 of ~210 guests here. It cost the whole
        # suite 26 s -> 32 s with two batches side by side.
        argv.append("--qemu-opts=-accel tcg,thread=single")
        argv.append("--disable-kvm")
    elif not can_boot_microvm(config.kernel):
        argv.append("--disable-microvm")
    if config.kernel_console:
        # vng points the serial console at /dev/null unless --verbose; loglevel=5 keeps what
        # matters (warnings and worse: WARNING, BUG, Oops, panic, KASAN, lockups) and drops
        # the boot chatter, which costs time on an emulated serial port under TCG.
        argv += ["--verbose", "--append", "loglevel=5"]
    return argv


def can_boot_microvm(kernel: Kernel) -> bool:
    """With KVM and a virtiofsd it can use, vng boots QEMU's microvm, whose devices are all virtio-mmio: a kernel whose
    .config leaves CONFIG_VIRTIO_MMIO out (a tree's own config, an older lean base) would see no root, console port or
    network there, so it gets the standard PC. An unknown config (a bare image): vng's choice."""
    return kconfig.setting(kernel, "CONFIG_VIRTIO_MMIO") != "n"


@functools.cache
def boot_settings() -> dict[str, Any]:
    """images/guest.toml's [boot]: what the guests boot with besides vng's defaults."""
    return dict(tomllib.loads((IMAGES_DIR / "guest.toml").read_text()).get("boot", {}))


def direct_launch() -> bool:
    """images/guest.toml's [boot] launcher: "direct" (default: QEMU on vng's recorded command line) or "vng"."""
    launcher = boot_settings().get("launcher", "direct")
    if launcher not in ("direct", "vng"):
        raise BadInput(f"images/guest.toml: [boot] launcher = {launcher!r}: use \"direct\" or \"vng\"")
    return bool(launcher == "direct")


def kernel_append() -> str:
    """images/guest.toml's [boot] append: what every guest's kernel command line gets besides vng's."""
    extra = boot_settings().get("append", [])
    if not isinstance(extra, list) or not all(isinstance(a, str) and a and " " not in a for a in extra):
        raise BadInput(f"images/guest.toml: [boot] append = {extra!r}: use a list of kernel parameters, each a string without spaces")
    return " ".join(extra)


def harness_init() -> bool:
    """images/guest.toml's [boot] init: the harness's own init.sh (default), or vng's virtme-ng-init ("vng")."""
    init = boot_settings().get("init", "harness")
    if init not in ("harness", "vng"):
        raise BadInput(f"images/guest.toml: [boot] init = {init!r}: use \"harness\" or \"vng\"")
    return bool(init == "harness")


# Where vng looks for virtiofsd, in its order (virtme/commands/run.py, _get_virtiofsd_path), besides $PATH.
VIRTIOFSD_PATHS = ("/usr/libexec/virtiofsd", "/usr/lib/virtiofsd/virtiofsd", "/usr/lib/virtiofsd", "/usr/lib/qemu/virtiofsd")


@functools.cache
def qemu_virtiofsd_only() -> bool:
    """Would vng pick QEMU's old C virtiofsd (Debian 12's qemu-system-common ships it)?

    vng skips that daemon by its failing `--version` as non-root; as root the check passes,
    vng starts it with the Rust daemon's options, it exits at once, and vng waits ~3 s for
    its socket before falling back to 9p, once per shared directory: measured 10.0 s of a
    dry run instead of 1.1 s with --force-9p. Then 9p it is, from the start.
    """
    found = [p for p in (shutil.which("virtiofsd"), *VIRTIOFSD_PATHS) if p and os.access(p, os.X_OK)]
    if not found:
        return False  # vng uses 9p by itself
    out = subprocess.run([found[0], "--version"], capture_output=True, text=True).stdout
    return "QEMU Project" in out or "Fabrice Bellard" in out


def guest_environment(config: GuestConfig) -> dict[str, str]:
    """vng's environment to boot this guest: with the harness's init, what qemu.sh runs and boots (the real
    QEMU, init.sh, and the kernel's vmlinux where it has a PVH entry: images/guest.toml's [boot] pvh).
    Named QEMU_SH_*, not HARNESS_*: $HARNESS_KERNEL is the user's --harness-kernel knob."""
    env = {k: v for k, v in vng_environment().items() if not k.startswith("QEMU_SH_")}  # none inherited
    if harness_init():
        env.update(QEMU_SH_QEMU=qemu_binary(), QEMU_SH_INIT=str(SCRIPTS / "init.sh"))
        if boot_settings().get("pvh", True) and has_pvh_entry(config.kernel.vmlinux):
            env["QEMU_SH_VMLINUX"] = str(config.kernel.vmlinux)
    return env
