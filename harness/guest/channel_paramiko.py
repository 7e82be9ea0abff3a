"""SSH to a guest with paramiko (imported only when a guest persists: it is slow to import)."""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import paramiko

from harness.guest.channel import TICK_S, CommandResult, Via


class SshChannel:
    """One SSH connection to the guest's sshd (vng --ssh, forwarded from a host port)."""

    via = Via.SSH

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
                time.sleep(0.2)  # a guest's sshd starts beside its agent: it may listen a moment later

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
