"""Separate kernel console messages from test output that shares the serial console with them.

A printk can land in the middle of a line a test is writing: the test's line then stops,
the kernel's message follows on the same line, and the test's line goes on later on a line
of its own. With printk timestamps ("[   11.519625] ") the kernel's part is found wherever
it starts, and the two halves of the test's line are joined again. Without timestamps only
what follows a recognised result token can be told apart (see parse.test_progs).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

KERNEL_TIMESTAMP = re.compile(r"\[\s*\d+\.\d{3,9}\] ")


@dataclass(frozen=True)
class ConsoleEvent:
    line_no: int  # 1-based line in the input where the kernel message starts
    text: str


@dataclass(frozen=True)
class NumberedLine:
    line_no: int  # where the line (or its first half) starts in the input
    text: str


def separate(text: str) -> tuple[list[NumberedLine], list[ConsoleEvent]]:
    """Test output lines (re-joined where a kernel message split them) and the kernel's messages."""
    lines: list[NumberedLine] = []
    events: list[ConsoleEvent] = []
    head, head_line_no = "", 0  # the first half of a test line cut by a kernel message
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\r")
        m = KERNEL_TIMESTAMP.search(line)
        if m is not None:
            events.append(ConsoleEvent(line_no, line[m.start():]))
            if m.start() > 0:
                head, head_line_no = head + line[: m.start()], head_line_no or line_no
            continue
        if head:
            lines.append(NumberedLine(head_line_no, head + line))
            head, head_line_no = "", 0
        else:
            lines.append(NumberedLine(line_no, line))
    if head:
        lines.append(NumberedLine(head_line_no, head))
    return lines, events
