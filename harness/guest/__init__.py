"""One vng guest: the KVM probe, vng's command line, the console log, and never a leftover qemu.

This is the only module that knows vng's options. A one-shot guest boots, runs one
script (results go to a shared directory, not through vng's exit code) and powers off.
"""
from __future__ import annotations

import functools
import hashlib
import math
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import host
from harness import proc as procs
from harness.cache import locked, read_json, write_json
from harness.errors import BadInput, InfraError
from harness.guest import launch
from harness.guest.commands import SCRIPTS
from harness.kernel import Kernel
from harness.kernel.vmlinux import has_pvh_entry
from harness.settings import IMAGES_DIR

KVM_PROBE_TIMEOUT_S = 20.0
KVM_PROBE_FILE = "kvm-probe.json"
TICK_S = 0.5


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


@dataclass(frozen=True)
class GuestConfig:
    kernel: Kernel
    cpus: int
    memory: str
    use_kvm: bool
    kernel_console: bool = True  # kernel messages into console.log (vng --verbose): crash evidence
    cache_dir: Path | None = None  # where vng's command lines are recorded (guest.launch); None: each boot through vng


@dataclass(frozen=True)
class GuestExit:
    returncode: int | None  # vng's; None when we killed it
    timed_out: bool
    elapsed_s: float
    console_log: Path


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
    if config.kernel_console:
        # vng points the serial console at /dev/null unless --verbose; loglevel=5 keeps what
        # matters (warnings and worse: WARNING, BUG, Oops, panic, KASAN, lockups) and drops
        # the boot chatter, which costs time on an emulated serial port under TCG.
        argv += ["--verbose", "--append", "loglevel=5"]
    return argv


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


def vng_environment() -> dict[str, str]:
    """vng calls its helper programs by name: they sit beside our interpreter."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


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


def run_once(
    config: GuestConfig, shared_dir: Path, script: Path, timeout_s: float, on_tick: Callable[[], object] | None = None,
) -> GuestExit:
    """Boot, run `script` (which must sit under shared_dir), power off. The guest never outlives this call.

    on_tick is called about twice a second while the guest runs (to read results as they come).
    The console goes to console.log beside the script.
    """
    require_tools()
    console = script.parent / "console.log"
    start = time.monotonic()
    # read by the guest's shell itself (".", not "sh"): one program fewer to start over 9p
    env = guest_environment(config)
    argv, status = one_shot_argv(config, shared_dir, f". {shlex.quote(str(script))}", console.with_name("guest.status"), env)
    proc = procs.spawn_logged(argv, console, env=env)
    try:
        returncode = procs.wait_ticking(proc, start + timeout_s, on_tick, TICK_S)
    finally:
        procs.stop(proc)
    timed_out = returncode is None
    if status is not None and returncode is not None:
        returncode = launch.script_status(status)  # as vng gives it
    return GuestExit(returncode, timed_out, time.monotonic() - start, console)


def one_shot_argv(config: GuestConfig, shared_dir: Path, command: str, status: Path,
                  env: dict[str, str] | None = None) -> tuple[list[str], Path | None]:
    """QEMU's command line recorded from vng's for this guest (guest.launch), and the file the guest's exit status
    goes to; or vng's command line (and None: vng gives the status) when there is no recording.
    env: the guest's environment when the caller has it already (guest_environment(config))."""
    vng = vng_argv(config, shared_dir, command)
    if config.cache_dir is None or not direct_launch() or "," in str(shared_dir) + str(status):
        return vng, None
    placeholder = config.cache_dir / "guests" / "launch" / "shared"
    placeholder.mkdir(parents=True, exist_ok=True)
    recording = launch.recorded(vng_argv(config, placeholder, "true"), placeholder,
                                guest_environment(config) if env is None else env, config.cache_dir)
    if recording is None:
        return vng, None
    status.write_bytes(b"")
    return launch.qemu_argv(recording, shared_dir, command, status), status


AGENT_READY = "agent.ready"  # the agent (scripts/agent.sh) is up
AGENT_STOP = "agent.stop"  # tells the agent to power the guest off
IDLE_UNTIL = "idle-until"  # a kept guest powers off when the host clock passes this (epoch seconds)
SCRIPT_NAMES = {"HARNESS_READY": AGENT_READY, "HARNESS_STOP": AGENT_STOP, "HARNESS_IDLE_UNTIL": IDLE_UNTIL}


def agent_command(shared_dir: Path) -> str:
    """What a persistent guest runs instead of a test: scripts/agent.sh (network for SSH, then jobs until told to stop)."""
    names = " ".join(f"{k}={v}" for k, v in SCRIPT_NAMES.items())
    return f"{names} bash {shlex.quote(str(SCRIPTS / 'agent.sh'))} {shlex.quote(str(shared_dir))}"


class PersistentGuest:
    """A guest booted once that runs many commands (SSH, else the shared directory) until stopped.

    An ordinary one has the one-shot guest's containment (own PID namespace, parent-death
    signal, group kill, atexit), so it never outlives the harness. A kept one (--keep-guest)
    is detached on purpose, with a watchdog that stops it after its idle deadline.
    """

    def __init__(self, config: GuestConfig, shared_dir: Path, port: int, pgid: int,
                 proc: subprocess.Popen[bytes] | None = None) -> None:
        self.config, self.shared_dir, self.port, self.pgid, self.proc = config, shared_dir, port, pgid, proc
        self.console = shared_dir / "console.log"
        self.boot_s: float | None = None

    @classmethod
    def boot(cls, config: GuestConfig, shared_dir: Path, port: int, timeout_s: float,
             keep_for_s: float | None = None, ssh: bool = True) -> PersistentGuest:
        """Boot and wait for the agent. keep_for_s: detach it, idle for at most that long after now.

        ssh: run sshd in it (vng --ssh, forwarded from `port`); without, commands go through the shared directory.
        """
        require_tools()
        shared_dir.mkdir(parents=True, exist_ok=True)
        for stale in (AGENT_READY, AGENT_STOP):
            (shared_dir / stale).unlink(missing_ok=True)
        start = time.monotonic()
        argv = vng_argv(config, shared_dir, agent_command(shared_dir)) + (["--ssh", str(port), "--ssh-tcp"] if ssh else [])
        console = shared_dir / "console.log"
        if keep_for_s is None:
            proc = procs.spawn_logged(argv, console, env=guest_environment(config))
        else:
            set_idle_deadline(shared_dir, timeout_s + keep_for_s)
            with open(console, "wb") as out:
                proc = subprocess.Popen(  # no parent-death signal, no PID namespace: it is meant to stay
                    ["sh", str(SCRIPTS / "watchdog.sh"), str(shared_dir), *argv], stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, env={**guest_environment(config), **SCRIPT_NAMES}, start_new_session=True,
                )
        self = cls(config, shared_dir, port, proc.pid, proc if keep_for_s is None else None)
        while not (shared_dir / AGENT_READY).exists():
            if proc.poll() is not None:
                raise GuestDied(f"the guest exited during boot (vng exit {proc.returncode}; console: {console})")
            if time.monotonic() - start > timeout_s:
                self.stop()
                raise GuestDied(f"the guest did not come up within {timeout_s:.0f} s (console: {console})")
            time.sleep(0.2)
        self.boot_s = time.monotonic() - start
        return self

    @property
    def ssh_key(self) -> Path:
        return vng_ssh_key()

    def alive(self) -> bool:
        return self.proc.poll() is None if self.proc is not None else group_alive(self.pgid)

    def stop(self, grace_s: float = 15.0) -> None:
        """Ask the agent to power off; kill the guest if it does not within grace_s."""
        if self.proc is None:
            stop_detached(self.shared_dir, self.pgid, grace_s)
            return
        (self.shared_dir / AGENT_STOP).touch()
        try:
            self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass
        procs.stop(self.proc)
        self.proc = None


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def stop_detached(shared_dir: Path, pgid: int, grace_s: float = 15.0) -> None:
    """Stop a kept guest we did not start in this process: ask its agent, then kill its group."""
    (shared_dir / AGENT_STOP).touch()
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not group_alive(pgid):
            return
        time.sleep(0.2)
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def set_idle_deadline(shared_dir: Path, seconds_from_now: float) -> None:
    (shared_dir / IDLE_UNTIL).write_text(f"{math.ceil(time.time() + seconds_from_now)}\n")


def vng_ssh_key() -> Path:
    from virtme_ng.utils import SSH_DIR  # where vng keeps the key it authorises in its guests

    return Path(SSH_DIR) / "id_virtme"


class GuestDied(InfraError):
    """The guest is gone or never came up: what ran in it is lost, not failed."""
