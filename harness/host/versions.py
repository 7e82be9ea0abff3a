"""What can change a verdict besides the kernel: the versions of the tools a night runs with, and what changed.

A new failure the morning after a clang, pahole, iproute2, QEMU or virtme-ng upgrade, or after
the harness itself changed, may be theirs, not the kernel's. Each night records them (the
first line each tool prints for its version, the virtme-ng package's version, the harness's
commit) and its summary says which differ from the night before, next to the new failures.
"""
from __future__ import annotations

import importlib.metadata
import subprocess
from pathlib import Path

from harness import host
from harness.data import DATA_ROOT

# tool -> its version command (the first line it prints is recorded)
COMMANDS = {
    "clang": ["clang", "--version"],
    "pahole": ["pahole", "--version"],
    "iproute2": ["ip", "-V"],
    "qemu": ["qemu-system-x86_64", "--version"],
}


def _first_line(argv: list[str], llvm_bin: Path | None) -> str:
    program = str(llvm_bin / argv[0]) if llvm_bin is not None and (llvm_bin / argv[0]).exists() else host.find(argv[0])
    if program is None:
        return "not installed"
    try:
        run = subprocess.run([program, *argv[1:]], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unknown ({type(e).__name__})"
    lines = (run.stdout or run.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def harness_commit() -> str:
    """The harness's own commit (and "+ changes" for a dirty checkout), or the installed package's version."""
    try:
        commit = subprocess.run(["git", "-C", str(DATA_ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True,
                                text=True, timeout=30)
        if commit.returncode == 0 and (DATA_ROOT / ".git").exists():
            dirty = subprocess.run(["git", "-C", str(DATA_ROOT), "status", "--porcelain", "--untracked-files=no"],
                                   capture_output=True, text=True, timeout=30).stdout.strip()
            return commit.stdout.strip() + (" + changes" if dirty else "")
    except (OSError, subprocess.TimeoutExpired):
        pass
    try:
        return f"mptcp-harness {importlib.metadata.version('mptcp-harness')}"
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def recorded(llvm_bin: Path | None = None) -> dict[str, str]:
    """The versions a night runs with."""
    found = {name: _first_line(argv, llvm_bin) for name, argv in COMMANDS.items()}
    try:
        found["virtme-ng"] = importlib.metadata.version("virtme-ng")
    except importlib.metadata.PackageNotFoundError:
        found["virtme-ng"] = "not installed"
    found["harness"] = harness_commit()
    return found


def changed(before: dict[str, str], now: dict[str, str]) -> list[str]:
    """"pahole: v1.24 -> v1.25" for each tool whose version differs from the night before (none when it has none)."""
    return [f"{name}: {before[name]} -> {now[name]}" for name in now if name in before and before[name] != now[name]]
