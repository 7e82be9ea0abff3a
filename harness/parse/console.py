"""Separate kernel console messages from test output that shares the serial console with them.

A printk can land in the middle of a line a test is writing: the test's line then stops,
the kernel's message follows on the same line, and the test's line goes on later on a line
of its own. With printk timestamps ("[   11.519625] ") the kernel's part is found wherever
it starts, and the two halves of the test's line are joined again. Without timestamps only
what follows a recognised result token can be told apart (see parse.test_progs).
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass

# "[   11.519625] ", or with CONFIG_PRINTK_CALLER "[    8.684612][  T157] " (task) / "[C1]" (CPU)
KERNEL_TIMESTAMP = re.compile(r"\[\s*\d+\.\d{3,9}\](?:\[\s*[TC]\d+\])? ")


@dataclass(frozen=True)
class ConsoleEvent:
    line_no: int  # 1-based line in the input where the kernel message starts
    text: str


@dataclass(frozen=True)
class NumberedLine:
    line_no: int  # where the line (or its first half) starts in the input
    text: str


class Separator:
    """separate(), for a log read as it grows: feed() whole lines as they come, end() once nothing more will."""

    def __init__(self) -> None:
        self.line_no = 0  # lines read so far
        self.head, self.head_line_no = "", 0  # the first half of a test line cut by a kernel message

    def feed(self, text: str) -> tuple[list[NumberedLine], list[ConsoleEvent]]:
        lines: list[NumberedLine] = []
        events: list[ConsoleEvent] = []
        for raw in text.splitlines():
            self.line_no += 1
            line = raw.rstrip("\r")
            m = KERNEL_TIMESTAMP.search(line)
            if m is not None:
                events.append(ConsoleEvent(self.line_no, line[m.start():]))
                if m.start() > 0:
                    self.head, self.head_line_no = self.head + line[: m.start()], self.head_line_no or self.line_no
                continue
            if self.head:
                lines.append(NumberedLine(self.head_line_no, self.head + line))
                self.head, self.head_line_no = "", 0
            else:
                lines.append(NumberedLine(self.line_no, line))
        return lines, events

    def end(self) -> list[NumberedLine]:
        """A test line's first half that no second half followed."""
        return [NumberedLine(self.head_line_no, self.head)] if self.head else []


def separate(text: str) -> tuple[list[NumberedLine], list[ConsoleEvent]]:
    """Test output lines (re-joined where a kernel message split them) and the kernel's messages."""
    separator = Separator()
    lines, events = separator.feed(text)
    return lines + separator.end(), events


class IncidentKind(enum.StrEnum):
    """What went wrong in the kernel, by the marker it printed (the value is the word reports show)."""

    PANIC = "panic"
    OOPS = "oops"
    KASAN = "kasan"
    UBSAN = "ubsan"
    SOFT_LOCKUP = "soft lockup"
    RCU_STALL = "rcu stall"
    HUNG_TASK = "hung task"
    KMEMLEAK = "kmemleak"
    LOCKDEP = "lockdep"
    REF_LEAK = "ref leak"
    BUG = "bug"
    WARNING = "warning"


# What the kernel prints when something went wrong (the MPTCP CI fails a run on any of these).
INCIDENT_MARKERS: tuple[tuple[IncidentKind, re.Pattern[str], bool], ...] = (
    # (kind, pattern on the message, fatal: the guest does not survive it)
    (IncidentKind.PANIC, re.compile(r"Kernel panic - not syncing"), True),
    (IncidentKind.OOPS, re.compile(r"\bOops\b|general protection fault|BUG: unable to handle"), False),
    (IncidentKind.KASAN, re.compile(r"BUG: KASAN:"), False),
    (IncidentKind.UBSAN, re.compile(r"UBSAN:"), False),
    (IncidentKind.SOFT_LOCKUP, re.compile(r"BUG: soft lockup|watchdog: BUG:"), False),
    (IncidentKind.RCU_STALL, re.compile(r"rcu: INFO: rcu_\w+ (?:self-)?detected stall|rcu_\w+ self-detected stall"), False),
    (IncidentKind.HUNG_TASK, re.compile(r"INFO: task .* blocked for more than"), False),
    (IncidentKind.KMEMLEAK, re.compile(r"unreferenced object (?:\(percpu\) )?0x|kmemleak: \d+ new suspected memory leaks"), False),
    # lockdep and RCU-lockdep (debug kernels): their reports start with "WARNING: <what>" and no "CPU"/"at"
    (IncidentKind.LOCKDEP, re.compile(r"possible circular locking dependency detected|inconsistent lock state|possible recursive "
                           r"locking detected|suspicious RCU usage|bad unlock balance detected|possible irq lock "
                           r"inversion dependency detected|held lock freed|lock held when returning to user space"), False),
    # reference leaks: ref_tracker's report, and a device that cannot go away
    (IncidentKind.REF_LEAK, re.compile(r"ref_tracker: .* has \d+/\d+ users at|unregister_netdevice: waiting for .* to become free"),
     False),
    (IncidentKind.BUG, re.compile(r"\bBUG:"), False),
    (IncidentKind.WARNING, re.compile(r"\bWARNING: .*(?:CPU|at )"), False),
)
TRACE_END = re.compile(r"---\[ end (?:trace|Kernel panic)")
EXCERPT_MAX_LINES = 80


@dataclass(frozen=True)
class Incident:
    """A kernel incident, from the console parser to every report: found here, then attributed by the run that saw
    it (who was running, its fingerprint: harness.crashes.attributed) and decoded where the tree can."""

    kind: IncidentKind
    fatal: bool
    line_no: int  # where it starts on its console (0: read back from a report)
    excerpt: tuple[str, ...]  # from the marker line to the end of its trace
    decoded: tuple[str, ...] = ()  # the excerpt with file:line, when the kernel's tree could decode it (kernel.decode)
    running: tuple[str, ...] = ()  # the subtests running where it sits in the kernel log
    fingerprint: str = ""  # its first reliable call-trace functions (harness.crashes.fingerprint); "": none


def find_incidents(events: list[ConsoleEvent]) -> list[Incident]:
    """Kernel incidents among console messages: the first marker, then its trace up to its end marker."""
    incidents: list[Incident] = []
    i = 0
    while i < len(events):
        kind_fatal = _marker(events[i].text)
        if kind_fatal is None:
            i += 1
            continue
        kind, fatal = kind_fatal
        start = i
        if i > 0 and "[ cut here ]" in events[i - 1].text:
            start = i - 1
        end = i
        while end + 1 < len(events) and end - start < EXCERPT_MAX_LINES - 1:
            end += 1
            if TRACE_END.search(events[end].text):
                break
            if _marker(events[end].text) is not None and not fatal and kind is not IncidentKind.PANIC:
                end -= 1  # the next incident starts here
                break
        incidents.append(Incident(kind, fatal, events[start].line_no, tuple(e.text for e in events[start:end + 1])))
        i = end + 1
    return incidents


def _marker(text: str) -> tuple[IncidentKind, bool] | None:
    message = KERNEL_TIMESTAMP.sub("", text, count=1)
    for kind, pattern, fatal in INCIDENT_MARKERS:
        if pattern.search(message):
            return kind, fatal
    return None
