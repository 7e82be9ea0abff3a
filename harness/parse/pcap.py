"""A packet capture read back for a person (--pcap): tcpdump's own lines, its MPTCP option decoding included.

tcpdump (4.99 in Debian 12) names every MPTCP option it meets in a TCP header: "mptcp 12 capable v1", "join id 1
token ...", "add-addr v1 id 1 10.0.2.1", "dss ack ... seq ...", "fail", "fast-close", "prio", "remove-addr", "tcprst".
read() keeps the last packets and counts the options; the whole capture is one command away (command()).
"""
from __future__ import annotations

import re
import shlex
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

LAST = 12  # packets of the excerpt: the end of the capture, where the failure is
OPTION = re.compile(r"\bmptcp \d+ ([a-z-]+)")  # "mptcp 16 add-addr v1 ...": the option's kind


@dataclass(frozen=True)
class Capture:
    path: Path
    packets: int
    last: tuple[str, ...]  # tcpdump's lines of the last packets, oldest first
    options: dict[str, int] = field(default_factory=dict)  # MPTCP option kind -> packets carrying it
    error: str = ""  # what tcpdump said when it could not read the file (a capture cut off by a crash)

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(self.options.items(), key=lambda kv: -kv[1]))
        return f"{self.path.name}: {self.packets} packets" + (f"; MPTCP options: {kinds}" if kinds else "; no MPTCP option")


def command(path: Path) -> str:
    """What shows the whole capture, decoded."""
    return f"tcpdump -r {shlex.quote(str(path))} -nn -v"


def read(path: Path, last: int = LAST) -> Capture:
    """The capture's packets as tcpdump prints them (-nn: addresses and ports as numbers; -tt: seconds since the
    epoch, one clock for every capture of a run). A truncated file (its writer killed) gives what it holds."""
    proc = subprocess.run(["tcpdump", "-r", str(path), "-nn", "-tt"], capture_output=True, text=True, errors="replace")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    options = Counter(m for line in lines for m in set(OPTION.findall(line)))
    error = "" if proc.returncode == 0 else next(
        (line for line in proc.stderr.splitlines() if not line.startswith("reading from file")), f"exit {proc.returncode}")
    return Capture(path, len(lines), tuple(lines[-last:]), dict(options), error)


def excerpt(captures: list[Capture]) -> list[str]:
    """The lines a failure's output gets: each capture's summary and last packets, and the command for the rest."""
    out: list[str] = []
    for c in captures:
        out.append(f"[pcap] {c.summary()}" + (f" ({c.error})" if c.error else ""))
        out += [f"[pcap]   {line}" for line in c.last]
        if c.packets > len(c.last):
            out.append(f"[pcap]   ... all {c.packets}: {command(c.path)}")
    return out
