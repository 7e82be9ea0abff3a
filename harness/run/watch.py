"""Watching a round while its guest runs: results as they come, kernel incidents, and when to stop the round.

The batches' logs (shared directory) and the guest's console are read about twice a
second. Each result is reported once, with how long it took; a subtest past its timeout,
a kernel panic, or the run's deadline ends the round early (Stop). Which subtest a kernel
incident belongs to is read from the markers in the kernel log (harness.parse.markers).
"""
from __future__ import annotations

import dataclasses
import enum
import time
from collections.abc import Callable
from pathlib import Path

from harness.crashes import attributed
from harness.guest.commands import Batch
from harness.parse import markers
from harness.parse.console import ConsoleEvent, Incident, Separator, find_incidents
from harness.parse.test_progs import TestProgsReader
from harness.results import SubtestResult, by_incident, reported
from harness.suites import Suite

PANIC_GRACE_S = 15.0  # after a panic, time for the guest to power off before it is killed


class StopKind(enum.Enum):
    TIMEOUT = "timeout"  # a subtest ran past its timeout
    CRASH = "crash"  # the kernel panicked and the guest did not power off
    INTERRUPTED = "interrupted"  # Ctrl-C or SIGTERM
    DEADLINE = "deadline"  # the run's own deadline passed


class Stop(Exception):
    """Raised from the watch to end a round early: the guest is killed."""

    def __init__(self, why: str, kind: StopKind) -> None:
        super().__init__(why)
        self.why, self.kind = why, kind


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


class Watch:
    """Reads the batches' logs and the guest console while the guest runs."""

    def __init__(self, suite: Suite, batches: list[Batch], workdir: Path, console: Path,
                 progress: Callable[[SubtestResult], object] | None, deadline: float | None,
                 fail_on_warning: bool = True) -> None:
        self.suite, self.batches, self.workdir, self.console = suite, batches, workdir, console
        self.progress, self.deadline, self.fail_on_warning = progress, deadline, fail_on_warning
        self.shown: dict[str, SubtestResult] = {}  # what each result line said, as the verdict will
        self.judged: dict[int, Incident] = {}  # incidents (attributed) by their console line
        self.start = time.monotonic()
        self.seen_at: dict[str, float] = {}  # subtest name -> when its result line was first seen
        self.durations: dict[str, float] = {}
        self.batch_start: dict[int, float] = {}  # when its log appeared: the guest is up, test_progs starting
        # when its command's first output came, before any result: test_progs has started (its bpf_testmod lines
        # come first, ~2-3 s after the log appeared under TCG; with -v the first subtest's own lines follow as it
        # prints them, so this is within a tick of that subtest's start); the first subtest is timed from there,
        # so that the batch's start-up is not counted in the duration the next run's plan weighs (plan.py)
        self.output_start: dict[int, float] = {}
        self.reported: dict[int, set[str]] = {}
        self.readers: dict[int, TestProgsReader] = {}  # per batch, its log as read so far
        self.logs: dict[int, Lines] = {}  # per batch, its log's whole lines as they come
        # a persistent guest's console holds earlier runs: read only what comes from now on
        self.console_lines = Lines(console, console.stat().st_size if console.exists() else 0)
        self.console_separator = Separator()  # the console's kernel messages, numbered from where it was first read
        self.console_events: list[ConsoleEvent] = []
        self.panic_seen_at: float | None = None

    def running(self) -> list[str]:
        """Per unfinished batch, its first subtest without a result (test_progs runs them in suite order)."""
        names = []
        for b in self.batches:
            if b.status_file(self.workdir).exists():
                continue
            done = self.reported.get(b.index, set())
            pending = [s for s in b.subtests if self.suite.full_name(s) not in done]
            if pending and b.index in self.batch_start:
                names.append(self.suite.full_name(pending[0]))
        return names

    def tick(self, final: bool = False) -> None:
        """Read what came; unless `final` (the guest has exited), stop the round when it must end."""
        now = time.monotonic()
        self._read_console()  # first: an incident already there is in the result line shown next
        for b in self.batches:
            if b.log(self.workdir).exists():
                self._read_batch(b, now, final)
        if final:
            return
        if self.panic_seen_at is not None and time.monotonic() - self.panic_seen_at > PANIC_GRACE_S:
            raise Stop("kernel panic", StopKind.CRASH)  # a panicked guest normally powers off by itself
        if self.deadline is not None and now > self.deadline:
            raise Stop("the run's deadline passed", StopKind.DEADLINE)

    def _read_batch(self, b: Batch, now: float, final: bool) -> None:
        started = self.batch_start.setdefault(b.index, now)
        reader = self.readers.setdefault(b.index, TestProgsReader())
        reader.feed(self.logs.setdefault(b.index, Lines(b.log(self.workdir))).new())
        parsed = reader.log()
        if reader.started and not parsed.subtests:
            self.output_start.setdefault(b.index, now)
        self.reported[b.index] = set(parsed.subtests)
        new = [n for n in sorted(parsed.subtests, key=lambda n: parsed.subtests[n].line_no) if n not in self.seen_at]
        previous = max((self.seen_at[n] for n in parsed.subtests if n in self.seen_at),
                       default=self.output_start.get(b.index, started))
        for name in new:  # several at once: the time since the last one is shared out
            self.seen_at[name] = now
            self.durations[name] = (now - previous) / len(new)
        if new:
            said = reported(parsed, self.suite.runner.nested, self.suite.printed_by)  # as the verdict will say
            for name in new:
                self._show(dataclasses.replace(said[name], duration_s=_rounded(self.durations[name])))
        last = max((self.seen_at[n] for n in parsed.subtests), default=started)
        if not final and not b.status_file(self.workdir).exists() and now - last > self.suite.timeout_s:
            late = [n for n in self.running() if n in {self.suite.full_name(s) for s in b.subtests}]
            raise Stop(f"{', '.join(late) or 'batch ' + str(b.index)}: no result within {self.suite.timeout_s:.0f} s",
                       StopKind.TIMEOUT)

    def duration(self, name: str) -> float | None:
        return _rounded(self.durations.get(name))

    def _show(self, result: SubtestResult) -> None:
        """A result line, judged with the incidents the console already showed while it ran (results.by_incident,
        as the verdict is)."""
        for incident in self.judged.values():
            if result.name in incident.running:
                result = by_incident(result, incident, self.fail_on_warning)
        self.shown[result.name] = result
        if self.progress is not None:
            self.progress(result)

    def _judge(self) -> None:
        """Incidents that came since: each judged once, and a result line already shown that one changes is shown
        again, saying what changed it."""
        for incident in self._incidents_so_far()[0]:
            if incident.line_no in self.judged:
                continue
            self.judged[incident.line_no] = incident
            for name in (n for n in incident.running if n in self.shown):
                before = self.shown[name]
                after = by_incident(before, incident, self.fail_on_warning)
                if after.status is before.status:
                    continue
                self.shown[name] = after
                if self.progress is not None:
                    self.progress(dataclasses.replace(after, reason=f"{after.reason}: on the console after its "
                                                                    f"{before.status.value} line"))

    def _read_console(self) -> None:
        new = self.console_separator.feed(self.console_lines.new())[1]
        self.console_events += new
        found = _incidents(new)  # (the new lines only: this runs on every tick)
        if self.panic_seen_at is None and any(i.fatal for i in found):
            self.panic_seen_at = time.monotonic()
        if found:
            self._judge()

    def incidents(self) -> tuple[list[Incident], markers.Timeline]:
        """Every incident with its whole trace, attributed to the subtests running where it sits in the kernel log
        (crashes.attributed); the markers."""
        self._read_console()
        return self._incidents_so_far()

    def _incidents_so_far(self) -> tuple[list[Incident], markers.Timeline]:
        timeline = markers.Timeline.from_console(self.console_events)
        planned = {b.index: tuple(self.suite.full_name(s) for s in b.subtests) for b in self.batches}
        return [attributed(i, timeline.running_at(i.line_no, planned)) for i in _incidents(self.console_events)], timeline


class Lines:
    """A file that grows (a batch log, a guest's console): new() gives the whole lines written since it was last
    asked, a half line waiting for its end."""

    def __init__(self, path: Path, offset: int = 0) -> None:
        self.path, self.offset = path, offset

    def new(self) -> str:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                chunk = f.read()
        except OSError:
            return ""
        complete = chunk.rfind(b"\n") + 1
        self.offset += complete
        return chunk[:complete].decode(errors="replace")


def _incidents(events: list[ConsoleEvent]) -> list[Incident]:
    return find_incidents([e for e in events if not markers.is_marker(e)])
