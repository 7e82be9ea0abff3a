"""How a command reaches a running guest: SSH (channel_paramiko.py; channel_openssh.py on a kept guest's open
connection), or the shared directory when SSH cannot be had.

Both run one shell command with its own timeout and give back its exit status and output.
Results of the test runs themselves travel as files in the shared directory either way.
"""
from __future__ import annotations

import enum
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

TICK_S = 0.5


@dataclass(frozen=True)
class CommandResult:
    exit_status: int | None  # None: no status came back (timed out, connection lost)
    output: str  # stdout and stderr, interleaved as the guest wrote them
    timed_out: bool
    elapsed_s: float


class Via(enum.Enum):
    SHARED_DIR = "shared directory"
    SSH = "ssh"  # a connection of this run's own
    SSH_KEPT = "ssh (the kept guest's open connection)"


class Channel(Protocol):
    via: Via

    def run(self, command: str, timeout_s: float, on_tick: Callable[[], object] | None = None) -> CommandResult: ...

    def close(self) -> None: ...


class SharedDirChannel:
    """The fallback: the guest's agent runs scripts dropped into <shared>/queue/ and leaves their status beside them."""

    via = Via.SHARED_DIR

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
