"""Every outcome of every run, kept in SQLite (Python's sqlite3) in the harness cache: record() and rates().

One row per subtest result: which test of which suite, the mode, the kernel's identity, the status, how it failed
(its signature: the first failing check, or the crash's fingerprint), the duration, the time, what recorded it
(pytest, a --count round, a night, a bisect step, a verify-fix round) and where to read it. A row is unique by
(run, test, mode, kernel): a night's shards merged, or a night read again from its NIGHTS_DIR, count once.

Concurrent runs and pytest-xdist workers write at once: WAL, a busy timeout, one transaction per record().
A damaged file is said in one line, moved aside (history.sqlite.damaged-<time>), and a new one started: the
run that found it loses nothing of its own.
"""
from __future__ import annotations

import datetime
import math
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.results import FAILED_AT_FIRST, ROUND, SKIPS, Status, SuiteRun, signature
from harness.settings import Settings

FILE = "history.sqlite"
COLUMNS = (
    "run TEXT NOT NULL",  # what recorded it, once: a night's name, a pytest session, a bisect step's run
    "source TEXT NOT NULL",  # pytest, round, night, bisect, verify-fix
    "test TEXT NOT NULL",  # mptcp/subflow (a --count round's without its [i-n])
    "suite TEXT NOT NULL",
    "mode TEXT NOT NULL",  # normal, debug, btf, prebuilt
    "kernel TEXT NOT NULL",  # the kernel's identity (a tree's with its state)
    "status TEXT NOT NULL",  # results.Status's value
    "signature TEXT NOT NULL",  # how it failed ("" when it did not)
    "duration_s REAL",
    "time REAL NOT NULL",  # seconds since the epoch
    "location TEXT NOT NULL",  # where to read it (a report or a round's directory)
    "UNIQUE (run, test, mode, kernel)",
)
TABLE = f"CREATE TABLE IF NOT EXISTS outcomes ({', '.join(COLUMNS)})"
INDEX = "CREATE INDEX IF NOT EXISTS by_test ON outcomes (test, mode, time)"
BUSY_TIMEOUT_MS = 60_000
Z95 = 1.959964  # the normal quantile of a two-sided 95 % interval


@dataclass(frozen=True)
class Outcome:
    run: str
    source: str
    test: str
    suite: str
    mode: str
    kernel: str
    status: Status
    signature: str = ""
    duration_s: float | None = None
    time: float = 0.0
    location: str = ""

    @property
    def failed(self) -> bool:
        return self.status in FAILED_AT_FIRST


def wilson(failures: int, runs: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a failure rate (95 % by default): (low, high), within [0, 1]; (0, 1) for no runs."""
    if runs <= 0:
        return 0.0, 1.0
    p = failures / runs
    centre = (p + z * z / (2 * runs)) / (1 + z * z / runs)
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / (1 + z * z / runs)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_text(failures: int, runs: int) -> str:
    """ "2 failed of 50 (4 %, 95 %: 1-13 %)": a count never goes without its rate and interval."""
    low, high = wilson(failures, runs)
    return f"{failures} failed of {runs} ({percent(failures / runs if runs else 0.0)} %, 95 %: " \
           f"{percent(low)}-{percent(high)} %)"


def percent(x: float) -> str:
    return f"{100 * x:.0f}" if 100 * x >= 1 or x == 0 else f"{100 * x:.1f}"


class History:
    """The history file of a cache; `say` is told when a damaged file is moved aside."""

    def __init__(self, cache_dir: Path, say: Callable[[str], object] = print) -> None:
        self.path, self.say = cache_dir / FILE, say

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for attempt in (1, 2):
            try:
                db = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute(TABLE)
                db.execute(INDEX)
                break
            except sqlite3.DatabaseError as e:  # "file is not a database" and the like; not a lock, not a full disk
                if attempt == 2 or isinstance(e, sqlite3.OperationalError):
                    raise
                self._move_aside(e)
        try:
            yield db
        finally:
            db.close()

    def _move_aside(self, error: sqlite3.DatabaseError) -> None:
        aside = self.path.with_name(f"{FILE}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.rename(aside.with_name(aside.name + suffix))
        self.say(f"history: {self.path} is damaged ({error}); moved aside to {aside}, a new one started")

    def record(self, outcomes: Iterable[Outcome]) -> int:
        """The outcomes, in one transaction; those already there (same run, test, mode, kernel) kept as they were.
        How many were new. A history that cannot be written (a full disk, a lock held past the timeout, a path that
        is no file) is said in one line and costs the run nothing: 0."""
        rows = [(o.run, o.source, o.test, o.suite, o.mode, o.kernel, o.status.value, o.signature, o.duration_s,
                 o.time or time.time(), o.location) for o in outcomes]
        if not rows:
            return 0
        try:
            with self._db() as db:
                db.execute("BEGIN IMMEDIATE")
                before = db.total_changes
                db.executemany("INSERT OR IGNORE INTO outcomes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
                return db.total_changes - before
        except (sqlite3.Error, OSError) as e:
            self.say(f"history: {len(rows)} outcome(s) not recorded in {self.path} ({e}); the run is not changed by it")
            return 0

    def outcomes(self, since: float = 0.0) -> list[Outcome]:
        """Every outcome recorded since `since` (seconds since the epoch), oldest first."""
        with self._db() as db:
            rows = db.execute("SELECT run, source, test, suite, mode, kernel, status, signature, duration_s, time, "
                              "location FROM outcomes WHERE time >= ? ORDER BY time, rowid", (since,)).fetchall()
        return [Outcome(r[0], r[1], r[2], r[3], r[4], r[5], Status(r[6]), r[7], r[8], r[9], r[10]) for r in rows]


def from_runs(runs: Iterable[SuiteRun], run: str, source: str, mode: str, location: str = "") -> list[Outcome]:
    """The outcomes of a front end's runs: each subtest of its suite file (a --count round's under its own name
    without the round), as `source` saw it; `run` names what recorded them (a round's number is added)."""
    found, now = [], time.time()
    for suite_run in runs:
        for r in suite_run.subtests:
            if not r.in_suite or r.status in SKIPS:  # a test that did not run says nothing of its rate
                continue
            m = ROUND.match(r.name)
            name, key = (m["name"], f"{run}#{m['round']}") if m else (r.name, run)
            how = signature(r) if r.status is not Status.PASSED else ""
            found.append(Outcome(key, source if not m else "round", name, suite_run.suite, mode, suite_run.kernel,
                                 r.status, how, r.duration_s, now, location))
    return found


def keep(settings: Settings, runs: list[SuiteRun], source: str, mode: str, location: str = "",
         say: Callable[[str], object] = print) -> None:
    """A front end's runs into its cache's history, as a run of their own (--history off: nothing)."""
    if settings.history and runs:
        History(settings.cache_dir, say).record(
            from_runs(runs, f"{source}:{time.strftime('%Y%m%d-%H%M%S')}:{os.getpid()}:{time.monotonic_ns()}", source,
                      mode, location))


def since(text: str, now: float | None = None) -> float:
    """--since: "30d", "12h", "2w" or an ISO date (2026-12-01) as seconds since the epoch; ValueError otherwise."""
    now = time.time() if now is None else now
    units = {"h": 3600, "d": 86400, "w": 7 * 86400}
    if len(text) > 1 and text[-1] in units and text[:-1].isdigit():
        return now - int(text[:-1]) * units[text[-1]]
    try:
        day = datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--since {text!r}: give a span (30d, 12h, 2w) or a date (2026-12-01)") from None
    return datetime.datetime.combine(day, datetime.time(), datetime.UTC).timestamp()
