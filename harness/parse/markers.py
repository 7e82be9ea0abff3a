"""Markers in the guest's kernel log: where each batch starts and ends, and each subtest's result.

The host gets results from log files in the shared directory and kernel messages from the
serial console: two channels, read at different moments, so which subtest was running when
a WARNING appeared cannot be told from when the host saw it (on a busy host one channel
lags the other). The guest therefore also writes each result line into the kernel's own log
(/dev/kmsg), and an incident belongs to the subtest whose result follows it there: one
ordering, the kernel's. The writers are in guest/scripts: batch.sh marks a batch's start
and end, shell-suite.sh marks each result before printing it, and test_progs' output goes
through mark-results.awk, so a message printed in the instant after a result line is
counted to that subtest, not to the next. This module reads them back.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from harness.parse.console import ConsoleEvent
from harness.parse.test_progs import SUBTEST_RESULT

# <4>: shown on a console booted with loglevel=5, like the warnings it places
_MARKER = re.compile(r"harness: batch (?P<batch>\d+) (?:(?P<edge>start|scan|end)|done (?P<line>.*))$")


def is_marker(event: ConsoleEvent) -> bool:
    return _MARKER.search(event.text) is not None


@dataclass
class _BatchMarks:
    start: int | None = None  # console line numbers
    end: int | None = None
    scan: int | None = None  # kmemleak's scan after the batch (debug kernels): a leak then is the batch's
    done: list[tuple[int, str]] = field(default_factory=list)  # (line, subtest name)

    def first_without_result(self, names: tuple[str, ...], up_to: float = float("inf")) -> str | None:
        """The first of `names` with no result marker on or before console line `up_to`."""
        finished = {n for at, n in self.done if at <= up_to}
        return next((n for n in names if n not in finished), None)


@dataclass(frozen=True)
class Timeline:
    """The markers of one guest run, by batch."""

    batches: dict[int, _BatchMarks]

    @classmethod
    def from_console(cls, events: list[ConsoleEvent]) -> Timeline:
        batches: dict[int, _BatchMarks] = {}
        for event in events:
            m = _MARKER.search(event.text)
            if m is None:
                continue
            marks = batches.setdefault(int(m["batch"]), _BatchMarks())
            if m["edge"] == "start":
                marks.start = event.line_no
            elif m["edge"] == "scan":
                marks.scan = event.line_no
            elif m["edge"] == "end":
                marks.end = event.line_no
            elif r := SUBTEST_RESULT.match(m["line"]):
                marks.done.append((event.line_no, r["name"]))
        return cls(batches)

    def running_at(self, line_no: int, planned: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
        """Per batch started and not ended at console line `line_no`, the subtest running there.

        That is the one whose result comes next in the log; when none comes (the guest died
        first), the first of the batch's planned subtests (full names) without a result.
        A marker's own line counts as after it.
        """
        names = []
        for index, marks in sorted(self.batches.items()):
            if marks.start is None or marks.start > line_no or (marks.end is not None and marks.end <= line_no):
                continue
            if marks.scan is not None and marks.scan <= line_no:  # a leak the batch left: all of its subtests
                names += [n for _, n in marks.done]
                continue
            name = next((n for at, n in marks.done if at > line_no), None)
            if name is None:
                name = marks.first_without_result(planned.get(index, ()), up_to=line_no)
            if name is not None:
                names.append(name)
        return tuple(names)

    def unfinished(self, pending: dict[int, tuple[str, ...]]) -> tuple[str, ...]:
        """Per started batch that has `pending` subtests (full names), the first without a result marker.

        At the end of a guest that did not finish: the subtests that were running when it stopped.
        """
        names = []
        for index, waiting in sorted(pending.items()):
            marks = self.batches.get(index)
            if marks is None or marks.start is None:
                continue
            name = marks.first_without_result(waiting)
            if name is not None:
                names.append(name)
        return tuple(names)
