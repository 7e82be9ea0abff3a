"""`harness shell`: an interactive shell in a guest of the chosen kernel, with the payload at hand.

The guest is the pipeline's persistent guest (booted, or a kept one attached with --keep-guest); the shell is an
`ssh -t` session to it on this terminal. Its cwd and PATH hold test_progs and its BPF objects; the harness's guest
scripts are in $HARNESS_SCRIPTS; a banner says how to run a subtest by hand as the harness does. The command exits
with the shell's status; the guest stops when the shell ends (kept with --keep-guest), and no qemu outlives a
closed terminal (the guest dies with the harness, see harness.proc).
"""
from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

from harness.guest.commands import SCRIPTS
from harness.guest.persistent import PersistentGuest

BANNER = """\
mptcp-harness shell: kernel {kernel}
  here: {payload} (test_progs and its BPF objects; on PATH)
  one subtest, as the harness runs it:   ./test_progs -v -a mptcp/base
  side by side, isolated as the harness does:
      sh $HARNESS_SCRIPTS/isolated.sh /tmp/scratch-1 ./test_progs -v -a mptcp/subflow
  the kernel's messages: dmesg    exit: exit or Ctrl-D (the guest stops{kept})
"""


def ssh_argv(running: PersistentGuest, command: str) -> list[str]:
    """An interactive session (a pty) to the guest's sshd, running `command`."""
    return ["ssh", "-t", "-q", "-p", str(running.port), "-i", str(running.ssh_key),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "root@127.0.0.1", command]


def login_command(payload: Path, banner: Path) -> str:
    """What the session runs in the guest: into the payload, the banner, then an interactive shell."""
    q = shlex.quote
    return (f"cd {q(str(payload))} && export PATH={q(str(payload))}:$PATH HARNESS_SCRIPTS={q(str(SCRIPTS))} && "
            f"cat {q(str(banner))} && exec bash --norc -i")


def open_shell(running: PersistentGuest, payload: Path, kernel: str, kept: bool) -> int:
    """Run the shell on this terminal; its exit status."""
    banner = running.shared_dir / "shell-banner.txt"
    banner.write_text(BANNER.format(kernel=kernel, payload=payload, kept=", kept for the next run" if kept else ""))
    return subprocess.call(ssh_argv(running, login_command(payload, banner)))
