"""One vng guest: the KVM probe, vng's command line, the console log, and never a leftover qemu.

This is the only module that knows vng's options. A one-shot guest boots, runs one
script (results go to a shared directory, not through vng's exit code) and powers off.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import host
from harness import proc as procs
from harness.errors import BadInput, InfraError
from harness.kernel import Kernel

KVM_PROBE_TIMEOUT_S = 20.0
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
    cache = cache_dir / "kvm-probe.json"
    try:
        known = json.loads(cache.read_text())
    except (OSError, ValueError):
        known = {}
    if key in known:
        return bool(known[key]["usable"]), str(known[key]["why"])
    argv = [
        qemu, "-accel", "kvm", "-cpu", "host", "-machine", "q35", "-nodefaults", "-display", "none",
        "-no-reboot", "-m", "256", "-serial", "stdio", "-kernel", str(kernel.image),
        "-append", "console=ttyS0 panic=-1",
    ]
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True, preexec_fn=procs.die_with_parent,
    )
    assert proc.stdout is not None
    seen = b""
    usable, why = False, f"no kernel banner within {KVM_PROBE_TIMEOUT_S:.0f} s under KVM"
    deadline = time.monotonic() + KVM_PROBE_TIMEOUT_S
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
                usable, why = True, "KVM works"
                break
            if b"KVM internal error" in seen or b"failed to set MSR" in seen:
                line = next(ln for ln in seen.decode(errors="replace").splitlines() if "KVM" in ln or "MSR" in ln)
                why = f"qemu+KVM fails here: {line.strip()}"
                break
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
    if not usable and proc.returncode not in (None, -signal.SIGKILL) and why.startswith("no kernel banner"):
        why = f"qemu+KVM exited with {proc.returncode}: {seen.decode(errors='replace').strip()[-200:]}"
    known[key] = {"usable": usable, "why": why}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(known, indent=1))
    return usable, why


@dataclass(frozen=True)
class GuestConfig:
    kernel: Kernel
    cpus: int
    memory: str
    use_kvm: bool
    kernel_console: bool = True  # kernel messages into console.log (vng --verbose): crash evidence


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


def vng_environment() -> dict[str, str]:
    """vng calls its helper programs by name: they sit beside our interpreter."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
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
    proc = procs.spawn_logged(vng_argv(config, shared_dir, f"sh {script}"), console, env=vng_environment())
    timed_out, returncode = False, None
    deadline = start + timeout_s
    try:
        while returncode is None:
            try:
                returncode = proc.wait(timeout=min(TICK_S, max(0.0, deadline - time.monotonic())))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    timed_out = True
                    break
                if on_tick is not None:
                    on_tick()
    finally:
        procs.stop(proc)
    return GuestExit(returncode, timed_out, time.monotonic() - start, console)


AGENT_READY = "agent.ready"
AGENT_STOP = "agent.stop"


def agent_script(shared_dir: Path) -> str:
    """What a persistent guest runs instead of a test: network for SSH, then jobs until told to stop.

    vng's init starts sshd before this runs, but with Debian's kernel the NIC's driver is a
    module and udev renames the NIC (net.ifnames=0 notwithstanding), so vng's DHCP finds no
    eth0: sshd listens, yet qemu's forwarded port reaches nothing and no banner comes. Here
    virtio_net is loaded and whatever NIC appears gets slirp's fixed address. root's shell
    becomes sh in the guest's /etc overlay: bash would read the host's ~/.bashrc on every
    SSH command (seconds under TCG).
    """
    w = shlex.quote(str(shared_dir))
    return f"""#!/bin/bash
# written by harness.guest: the agent of a persistent guest
W={w}
modprobe virtio_net 2>/dev/null
for i in $(seq 100); do nic=$(ls /sys/class/net | grep -v '^lo$' | head -1); [ -n "$nic" ] && break; sleep 0.1; done
if [ -n "$nic" ]; then
  ip link set "$nic" up && ip addr add 10.0.2.15/24 dev "$nic" 2>/dev/null; ip route add default via 10.0.2.2 2>/dev/null
fi
usermod -s /bin/sh root 2>/dev/null
mkdir -p "$W/queue"
echo "$(uname -r) ${{nic:-no-nic}}" > "$W/{AGENT_READY}"
while [ ! -e "$W/{AGENT_STOP}" ]; do
  for job in "$W"/queue/*.sh; do
    [ -e "$job" ] || continue
    base="${{job%.sh}}"; mv "$job" "$base.run"
    bash "$base.run" > "$base.out" 2>&1; echo $? > "$base.rc"
  done
  sleep 1  # idle guests cost the host little; only the shared-directory fallback waits on this
done
sync
"""


IDLE_UNTIL = "idle-until"  # a kept guest powers off when the host clock passes this (epoch seconds)

# Runs beside a kept guest, in its process group, on the host: stops it once idle-until has
# passed, even if no harness process ever comes back (and kills it if it does not power off).
_WATCHDOG = f"""
W=$1; shift
"$@" &
guest=$!
while kill -0 "$guest" 2>/dev/null; do
  sleep 2
  if [ "$(date +%s)" -gt "$(cat "$W/{IDLE_UNTIL}" 2>/dev/null || echo 0)" ]; then
    touch "$W/{AGENT_STOP}"
    for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do kill -0 "$guest" 2>/dev/null || exit 0; sleep 1; done
    kill -KILL -- -$$
  fi
done
"""


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
        script = shared_dir / "agent.sh"
        script.write_text(agent_script(shared_dir))
        start = time.monotonic()
        argv = vng_argv(config, shared_dir, f"bash {script}") + (["--ssh", str(port), "--ssh-tcp"] if ssh else [])
        console = shared_dir / "console.log"
        if keep_for_s is None:
            proc = procs.spawn_logged(argv, console, env=vng_environment())
        else:
            set_idle_deadline(shared_dir, timeout_s + keep_for_s)
            with open(console, "wb") as out:
                proc = subprocess.Popen(  # no parent-death signal, no PID namespace: it is meant to stay
                    ["sh", "-c", _WATCHDOG, "watchdog", str(shared_dir), *argv], stdin=subprocess.DEVNULL,
                    stdout=out, stderr=subprocess.STDOUT, env=vng_environment(), start_new_session=True,
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
