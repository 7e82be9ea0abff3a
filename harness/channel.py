"""How a command reaches a running guest: SSH (paramiko), or the shared directory when SSH cannot be had.

Both run one shell command with its own timeout and give back its exit status and output.
Results of the test runs themselves travel as files in the shared directory either way.
"""
from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import paramiko

TICK_S = 0.5


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None  # None: no status came back (timed out, connection lost)
    output: str  # stdout and stderr, interleaved as the guest wrote them
    timed_out: bool
    elapsed_s: float


class Channel(Protocol):
    name: str

    def run(self, command: str, timeout_s: float, on_tick: Callable[[], object] | None = None) -> CommandResult: ...

    def close(self) -> None: ...


class SshChannel:
    """One SSH connection to the guest's sshd (vng --ssh, forwarded from a host port)."""

    name = "ssh"

    def __init__(self, port: int, key: Path, connect_timeout_s: float = 30.0, user: str = "root") -> None:
        self.client = paramiko.SSHClient()
        self.client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # a fresh guest, fresh host keys
        pkey = paramiko.Ed25519Key.from_private_key_file(str(key))
        deadline = time.monotonic() + connect_timeout_s
        while True:
            try:
                self.client.connect(
                    "127.0.0.1", port=port, username=user, pkey=pkey, timeout=10, banner_timeout=10,
                    auth_timeout=10, allow_agent=False, look_for_keys=False,
                )
                return
            except (paramiko.SSHException, OSError) as e:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"no SSH on 127.0.0.1:{port} within {connect_timeout_s:.0f} s: {e}") from e
                time.sleep(1.0)

    def run(self, command: str, timeout_s: float, on_tick: Callable[[], object] | None = None) -> CommandResult:
        start = time.monotonic()
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            return CommandResult(None, "SSH connection lost", False, 0.0)
        chan = transport.open_session()
        chan.set_combine_stderr(True)
        chan.exec_command(command)
        out = bytearray()
        deadline, next_tick = start + timeout_s, start + TICK_S
        while not (chan.exit_status_ready() and not chan.recv_ready()):
            if time.monotonic() >= deadline or not transport.is_active():
                chan.close()
                return CommandResult(None, out.decode(errors="replace"), transport.is_active(), time.monotonic() - start)
            if chan.recv_ready():
                out += chan.recv(65536)
                continue
            time.sleep(0.05)
            if on_tick is not None and time.monotonic() >= next_tick:
                next_tick += TICK_S
                on_tick()
        while chan.recv_ready():
            out += chan.recv(65536)
        status = chan.recv_exit_status()
        chan.close()
        return CommandResult(status, out.decode(errors="replace"), False, time.monotonic() - start)

    def close(self) -> None:
        self.client.close()


class SharedDirChannel:
    """The fallback: the guest's agent runs scripts dropped into <shared>/queue/ and leaves their status beside them."""

    name = "shared directory"

    def __init__(self, shared_dir: Path) -> None:
        self.queue = shared_dir / "queue"
        self.queue.mkdir(parents=True, exist_ok=True)
        self.count = 0

    def run(self, command: str, timeout_s: float, on_tick: Callable[[], object] | None = None) -> CommandResult:
        start = time.monotonic()
        self.count += 1
        job = self.queue / f"job-{self.count}"
        tmp = job.with_suffix(".tmp")
        tmp.write_text(command + "\n")
        tmp.rename(job.with_suffix(".sh"))  # the agent only picks up whole files
        rc, out = job.with_suffix(".rc"), job.with_suffix(".out")
        while not rc.exists() or not rc.read_text().strip():
            if time.monotonic() - start >= timeout_s:
                text = out.read_text(errors="replace") if out.exists() else ""
                return CommandResult(None, text, True, time.monotonic() - start)
            time.sleep(TICK_S)
            if on_tick is not None:
                on_tick()
        text = out.read_text(errors="replace") if out.exists() else ""
        return CommandResult(int(rc.read_text().strip()), text, False, time.monotonic() - start)

    def close(self) -> None:
        pass


def free_port() -> int:
    """A TCP port on the loopback that nothing listens on now (qemu binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port
