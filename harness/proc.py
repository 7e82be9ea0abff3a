"""Child processes that never outlive the harness: guests, builds, downloads, unpacking.

A long child (vng and its qemu, make and its compilers, apt-get) runs as pid 1 of a PID
namespace of its own when we are root: when pid 1 dies the kernel kills everything in the
namespace, and pid 1 itself gets SIGKILL when the harness dies (a parent-death signal), even
when the harness is SIGKILLed and no handler of ours runs. Without root, only the direct
child gets the parent-death signal. Every child also leads its own process group, which
stop() ends. The parent-death signal fires when the *thread* that started the child ends:
a child started from a worker thread must end before that thread does (the KVM probe does).
"""
from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

_PR_SET_PDEATHSIG = 1
_live: set[subprocess.Popen[bytes]] = set()


# Guests of one round start from threads of their own (harness.run.scheduler): the child runs
# die_with_parent between fork and exec, where only async-signal-safe work is safe. So libc is
# looked up here, once (no dlopen in the child), and no two of our threads fork at once.
_LIBC = ctypes.CDLL(None, use_errno=True)
_FORKING = threading.Lock()


def die_with_parent() -> None:
    """Runs in the child before exec: the kernel kills it if the harness dies (even by SIGKILL)."""
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def contained(argv: list[str]) -> list[str]:
    """argv as pid 1 of its own PID namespace when we can (root); unchanged otherwise."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return argv
    return [unshare, "--fork", "--pid", "--kill-child=SIGKILL", "--", *argv]


def spawn(argv: list[str], stdout: IO[Any] | int | None, env: dict[str, str] | None = None,
          cwd: Path | None = None, stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[bytes]:
    """Start argv contained (see the module's docstring); stderr goes with stdout."""
    argv = contained(argv)
    with _FORKING:
        proc = subprocess.Popen(
            argv, stdin=stdin, stdout=stdout, stderr=subprocess.STDOUT, env=env, cwd=cwd,
            start_new_session=True, preexec_fn=die_with_parent,
        )
    _live.add(proc)
    return proc


def spawn_logged(argv: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """spawn() with its output into `log` (created, or emptied)."""
    with open(log, "wb") as out:
        return spawn(argv, out, env=env)


def run(argv: list[str], stdout: IO[Any] | int | None = subprocess.PIPE, env: dict[str, str] | None = None,
        cwd: Path | None = None, input: bytes | None = None) -> tuple[int, bytes]:
    """Run argv contained to its end: (exit status, its output when stdout is PIPE, else b"")."""
    proc = spawn(argv, stdout, env=env, cwd=cwd, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    try:
        out, _ = proc.communicate(input)
    finally:
        stop(proc)
    return proc.returncode, out or b""


def wait_ticking(proc: subprocess.Popen[bytes], deadline: float, on_tick: Callable[[], object] | None,
                 tick_s: float) -> int | None:
    """proc's exit status, calling on_tick every tick_s meanwhile; None when time.monotonic() passed deadline first
    (proc left running: the caller stops it)."""
    while True:
        try:
            return proc.wait(timeout=min(tick_s, max(0.0, deadline - time.monotonic())))
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                return None
            if on_tick is not None:
                on_tick()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a child and everything it started (they share its group): SIGTERM, then SIGKILL."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5.0)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass  # already gone with its group, or deaf to SIGTERM: SIGKILL follows
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # whatever ignored SIGTERM or outlived the leader
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    _live.discard(proc)


@atexit.register
def stop_all() -> None:
    for proc in list(_live):
        stop(proc)


def leftovers(path: Path) -> list[int]:
    """Processes other than ours building into `path`: what an interrupted run left running.

    Children of this harness die with it; this finds those of a run that could not contain
    them (no root for a PID namespace, an older version), before a build directory is
    written again. A builder works in `path` (its cwd) or names it as make's output
    (O=, OUTPUT=, -C); a guest merely booting an image from there is not one.
    """
    where = str(path)
    forms = (f"O={where}", f"OUTPUT={where}", f"KBUILD_OUTPUT={where}")
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        named = any(a.startswith(forms) for a in args) or any(a == "-C" and b == where for a, b in zip(args, args[1:], strict=False))
        if named or cwd == where or cwd.startswith(where + "/"):
            found.append(int(entry.name))
    return found


def end_leftovers(path: Path) -> int:
    """SIGKILL the leftovers writing under `path` and wait until none is left; how many there were."""
    pids = leftovers(path)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for _ in range(100):
        if not leftovers(path):
            break
        time.sleep(0.1)
    return len(pids)
