"""A kernel trace decoded to file:line by the tree's own scripts/decode_stacktrace.sh, as the MPTCP CI and NIPA do.

Only a kernel built here from a tree with debug info can be decoded: its vmlinux, the .ko files
of its build dir, and the tree's script (the one that matches that kernel). The raw trace stays
where it was; the decoded one is put beside it (results.blamed). A script that fails or takes
longer than DECODE_TIMEOUT_S decodes nothing: the raw trace is all there is, as before.
"""
from __future__ import annotations

import functools
import re
import subprocess
from pathlib import Path

from harness.kernel import BUILD_PREFIX, Kernel
from harness.kernel.kconfig import built_with

DECODE_TIMEOUT_S = 120.0
SCRIPT = Path("scripts") / "decode_stacktrace.sh"
CONSOLE_PREFIX = re.compile(r"^<\d>")  # the log level a /dev/kmsg-style line may carry
# A build dir inside the tree (harness/kernel/tree.py): DWARF names "../net/mptcp/protocol.c" from it, addr2line joins
# the two, and the script strips only the tree. An object ccache brought from another checkout names that one's.
BUILD_DIR_PART = re.compile(rf"(?:[^\s(]*/)?{re.escape(BUILD_PREFIX)}[^/\s]*/\.\./")


@functools.cache
def decodable(kernel: Kernel) -> bool:
    """A tree build with DWARF (CONFIG_DEBUG_INFO; BTF needs it, so every mode has it), its vmlinux and the script."""
    if kernel.build_dir is None or kernel.source is None or not (kernel.source / SCRIPT).is_file():
        return False
    return (kernel.build_dir / "vmlinux").is_file() and built_with(kernel, "CONFIG_DEBUG_INFO")


def decode(kernel: Kernel, excerpt: tuple[str, ...]) -> tuple[str, ...]:
    """The excerpt as decode_stacktrace.sh prints it (each frame with its file:line), or () when it cannot be."""
    if not excerpt or not decodable(kernel):
        return ()
    assert kernel.build_dir is not None and kernel.source is not None
    text = "\n".join(CONSOLE_PREFIX.sub("", line) for line in excerpt) + "\n"
    try:
        run = subprocess.run(["bash", str(kernel.source / SCRIPT), str(kernel.build_dir / "vmlinux"), str(kernel.source),
                              str(kernel.build_dir)], input=text, capture_output=True, text=True, timeout=DECODE_TIMEOUT_S,
                             cwd=kernel.build_dir)
    except (OSError, subprocess.TimeoutExpired):
        return ()
    lines = tuple(from_the_top(line.rstrip()) for line in run.stdout.splitlines())
    if run.returncode != 0 or lines == tuple(line.rstrip() for line in text.splitlines()):
        return ()  # it failed, or found nothing to decode (no frame in the excerpt: a panic's last words)
    return lines


def from_the_top(line: str) -> str:
    """A decoded line with its paths from the top of the tree ("lib/dump_stack.c:127"), as the kernel prints them."""
    return BUILD_DIR_PART.sub("", line)
