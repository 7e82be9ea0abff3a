"""A persistent guest: booted once, it runs many commands (scripts/agent.sh) until stopped; or kept, detached."""
from __future__ import annotations

import math
import os
import shlex
import signal
import subprocess
import time
from pathlib import Path

from harness import proc as procs
from harness.errors import InfraError
from harness.guest.commands import SCRIPTS
from harness.guest.probe import require_tools
from harness.guest.vng import GuestConfig, guest_environment, vng_argv

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
