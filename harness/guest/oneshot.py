"""A one-shot guest: boot, run one script (results go to a shared directory, not through vng's exit code), power off."""
from __future__ import annotations

import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import proc as procs
from harness.guest import launch
from harness.guest.probe import require_tools
from harness.guest.vng import GuestConfig, direct_launch, guest_environment, vng_argv

TICK_S = 0.5


@dataclass(frozen=True)
class GuestExit:
    returncode: int | None  # vng's; None when we killed it
    timed_out: bool
    elapsed_s: float
    console_log: Path


def run_once(
    config: GuestConfig, shared_dir: Path, script: Path, timeout_s: float, on_tick: Callable[[], object] | None = None,
) -> GuestExit:
    """Boot, run `script` (which must sit under shared_dir), power off. The guest never outlives this call.

    on_tick is called about twice a second while the guest runs (to read results as they come).
    The console goes to console.log beside the script.
    """
    require_tools()
    console = script.parent / "console.log"
    start = time.monotonic()
    # read by the guest's shell itself (".", not "sh"): one program fewer to start over 9p
    env = guest_environment(config)
    argv, status = one_shot_argv(config, shared_dir, f". {shlex.quote(str(script))}", console.with_name("guest.status"), env)
    proc = procs.spawn_logged(argv, console, env=env)
    try:
        returncode = procs.wait_ticking(proc, start + timeout_s, on_tick, TICK_S)
    finally:
        procs.stop(proc)
    timed_out = returncode is None
    if status is not None and returncode is not None:
        returncode = launch.script_status(status)  # as vng gives it
    return GuestExit(returncode, timed_out, time.monotonic() - start, console)


def one_shot_argv(config: GuestConfig, shared_dir: Path, command: str, status: Path,
                  env: dict[str, str] | None = None) -> tuple[list[str], Path | None]:
    """QEMU's command line recorded from vng's for this guest (guest.launch), and the file the guest's exit status
    goes to; or vng's command line (and None: vng gives the status) when there is no recording.
    env: the guest's environment when the caller has it already (guest_environment(config))."""
    vng = vng_argv(config, shared_dir, command)
    if config.cache_dir is None or not direct_launch() or "," in str(shared_dir) + str(status):
        return vng, None
    placeholder = config.cache_dir / "guests" / "launch" / "shared"
    placeholder.mkdir(parents=True, exist_ok=True)
    recording = launch.recorded(vng_argv(config, placeholder, "true"), placeholder,
                                guest_environment(config) if env is None else env, config.cache_dir)
    if recording is None:
        return vng, None
    status.write_bytes(b"")
    return launch.qemu_argv(recording, shared_dir, command, status), status
