"""Warm guests: kept running between harness runs (--keep-guest), found again by kernel identity.

The registry is <cache>/guests/warm.json; a guest in use is held with a lock file, so two
runs never share one. Before reuse a guest is checked, in the shell of its first job (one SSH
session for both; health.sh): it answers, its kernel is not
tainted (an earlier crash or WARNING), and no earlier subtest left namespaces, mounts or
processes behind.
"""
from __future__ import annotations

import fcntl
import shlex
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO

from harness.cache import locked, read_json, write_json
from harness.guest.commands import SCRIPTS
from harness.guest.persistent import PersistentGuest, group_alive, stop_detached
from harness.guest.vng import GuestConfig

REGISTRY = "warm.json"
HEALTH_SCRIPT = SCRIPTS / "health.sh"  # what a reused guest must show, checked in its first job's own shell
GATE_TIMEOUT_S = 30.0  # a warm guest whose shell has not passed the check by then "does not answer"
HEALTH_PROBLEMS = (  # each fact that must be 0, and what it means when it is not
    ("tainted", "its kernel is tainted ({}: an earlier crash or WARNING)"),
    ("netns", "{} network namespace(s) left by an earlier run"),
    ("mounts", "namespace mounts left by an earlier run"),
    ("procs", "test_progs still running from an earlier run"),
)


@dataclass(frozen=True)
class WarmGuest:
    shared_dir: str
    port: int
    pgid: int
    kernel: str  # identity
    cpus: int
    memory: str
    kvm: bool
    booted_at: float  # epoch seconds
    last_used: float
    idle_timeout_s: float

    def guest(self, config: GuestConfig) -> PersistentGuest:
        return PersistentGuest(config, Path(self.shared_dir), self.port, self.pgid)

    def stop(self) -> None:
        stop_detached(Path(self.shared_dir), self.pgid)

    def fits(self, config: GuestConfig) -> bool:
        return (self.kernel, self.cpus, self.memory, self.kvm) == (
            config.kernel.identity, config.cpus, config.memory, config.use_kvm)


def _path(cache_dir: Path) -> Path:
    return cache_dir / "guests" / REGISTRY


def load(cache_dir: Path) -> list[WarmGuest]:
    try:
        return [WarmGuest(**e) for e in read_json(_path(cache_dir), [])]
    except TypeError:
        return []


def save(cache_dir: Path, guests: list[WarmGuest]) -> None:
    """Callers hold the cache's "guests" lock: runs and `guests stop` rewrite the registry."""
    write_json(_path(cache_dir), [asdict(g) for g in guests])


def is_alive(entry: WarmGuest) -> bool:
    return group_alive(entry.pgid)


def claim(entry: WarmGuest) -> IO[str] | None:
    """An exclusive hold on a warm guest for this run, or None when another run has it."""
    f = open(Path(entry.shared_dir) / "in-use.lock", "w")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return f
    except OSError:
        f.close()
        return None


class Refused(Exception):
    """The warm guest must not be reused: why (one line). Its first job did not run."""


def gated(command: str, ok: Path) -> str:
    """command behind the health check, in one shell: it runs only in a healthy guest, and `ok` appears first."""
    return f"HARNESS_HEALTH_OK={shlex.quote(str(ok))} . {shlex.quote(str(HEALTH_SCRIPT))} && {command}"


def problem_in(output: str) -> str | None:
    """Why the check refused the guest (its "harness-health: fact=value" lines), or None when it did not."""
    facts = dict(line.removeprefix("harness-health: ").split("=", 1) for line in output.splitlines()
                 if line.startswith("harness-health: ") and "=" in line)
    for key, why in HEALTH_PROBLEMS:
        value = facts.get(key, "0").strip()
        if value not in ("0", ""):
            return why.format(value)
    return None


def registered(cache_dir: Path, running: PersistentGuest, idle_timeout_s: float, booted_at: float) -> WarmGuest:
    entry = WarmGuest(
        str(running.shared_dir), running.port, running.pgid, running.config.kernel.identity, running.config.cpus,
        running.config.memory, running.config.use_kvm, booted_at, time.time(), idle_timeout_s,
    )
    save(cache_dir, [g for g in load(cache_dir) if g.shared_dir != entry.shared_dir and is_alive(g)] + [entry])
    return entry


def forget(cache_dir: Path, entry: WarmGuest) -> None:
    save(cache_dir, [g for g in load(cache_dir) if g.shared_dir != entry.shared_dir])


def retire(cache_dir: Path, entry: WarmGuest) -> bool:
    """Stop a warm guest (if it still runs) and take it out of the registry; whether it was running.
    The caller holds the entry's claim, or knows nobody uses it."""
    running = is_alive(entry)
    if running:
        entry.stop()
    with locked(cache_dir, "guests"):  # runs rewrite the registry under the same lock
        forget(cache_dir, entry)
    return running
