"""SSH to a kept guest through an OpenSSH connection held open beside it (ControlMaster).

The run that keeps a guest leaves `ssh -M` connected to it (start_master); later runs open sessions on its
socket, each an `ssh` process that starts in milliseconds, where a connection of their own would cost ~0.3 s to
import paramiko and ~0.5 s of handshake and authentication against the guest's sshd under TCG. The master lives
as long as the guest's connection: when the guest stops, QEMU's forwarded port closes and the master exits with it
(ServerAlive catches a guest that hangs). Without OpenSSH's client, or with its master gone, a run connects with
paramiko (channel_paramiko.SshChannel).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import host
from harness import proc as procs
from harness.guest.channel import TICK_S, CommandResult, Via

LOST = 255  # what ssh exits with when it, not the command, failed


def control_path(shared_dir: Path) -> Path | None:
    """The master's socket for the guest with this shared directory: short (a socket's path has at most 107 bytes,
    a cache's may be longer) and private to the user; None when its directory is not ours alone (made by another
    user of a shared /tmp): then no master, paramiko as before."""
    where = Path(tempfile.gettempdir()) / f"mptcp-harness-{os.getuid()}"
    where.mkdir(mode=0o700, exist_ok=True)
    mine = where.lstat()
    if mine.st_uid != os.getuid() or mine.st_mode & 0o077:  # (a symlink: lstat gives its 0o777)
        return None
    return where / f"{hashlib.sha256(str(shared_dir).encode()).hexdigest()[:16]}.ssh"


def _argv(ctl: Path, port: int, key: Path, *rest: str) -> list[str]:
    return ["ssh", "-p", str(port), "-i", str(key), "-o", f"ControlPath={ctl}", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            *rest, "root@127.0.0.1"]


def start_master(shared_dir: Path, port: int, key: Path) -> None:
    """Leave a master connected to the guest (in the background, not waited for: a kept guest's run goes on)."""
    ctl = control_path(shared_dir)
    if ctl is None or host.missing(("ssh",)):
        return
    argv = _argv(ctl, port, key, "-M", "-N", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3")
    subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)  # outlives this run, as the guest does


def master_alive(ctl: Path, port: int, key: Path) -> bool:
    if not ctl.exists():
        return False
    check = subprocess.run(_argv(ctl, port, key, "-O", "check"), stdin=subprocess.DEVNULL, capture_output=True)
    return check.returncode == 0


class OpenSshChannel:
    """Commands as sessions on the master's connection (ControlMaster=no: never a connection of its own)."""

    via = Via.SSH_KEPT

    def __init__(self, ctl: Path, port: int, key: Path) -> None:
        self.ctl, self.port, self.key = ctl, port, key

    @classmethod
    def attach(cls, shared_dir: Path, port: int, key: Path) -> OpenSshChannel | None:
        """A channel on the guest's master, or None when there is none (no OpenSSH client, master gone)."""
        ctl = control_path(shared_dir)
        if ctl is None or host.missing(("ssh",)) or not master_alive(ctl, port, key):
            return None
        return cls(ctl, port, key)

    def run(self, command: str, timeout_s: float, on_tick: Callable[[], object] | None = None) -> CommandResult:
        start = time.monotonic()
        with tempfile.TemporaryFile() as out:
            proc = subprocess.Popen(_argv(self.ctl, self.port, self.key, "-o", "ControlMaster=no", "-T") + [command],
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            status = self._wait(proc, start + timeout_s, on_tick)
            out.seek(0)
            text = out.read().decode(errors="replace")
        if status is None:
            return CommandResult(None, text, True, time.monotonic() - start)
        if status == LOST and not master_alive(self.ctl, self.port, self.key):
            return CommandResult(None, "SSH connection lost\n" + text, False, time.monotonic() - start)
        return CommandResult(status, text, False, time.monotonic() - start)

    @staticmethod
    def _wait(proc: subprocess.Popen[bytes], deadline: float, on_tick: Callable[[], object] | None) -> int | None:
        """The ssh's exit status; None when the deadline passed first. The ssh never outlives this (nor on_tick's
        raising: a warm guest's gate, harness.guest.pool)."""
        try:
            return procs.wait_ticking(proc, deadline, on_tick, TICK_S)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def close(self) -> None:
        pass  # the master stays for the next run; it goes with the guest
