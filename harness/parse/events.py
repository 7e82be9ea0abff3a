"""The kernel incidents a report lists (results.json's "console_events"), read back into values (pure).

A run writes each incident as a header line, then its excerpt (harness.crashes.event_lines):

    warning (running: canary/warning) [canary_warning]:
    [    4.032665] ------------[ cut here ]------------
    ...
    panic (running: nothing of ours):

The header is the only line of this form (a console line starts with its timestamp), so the excerpt of one is
every line up to the next header.
"""
from __future__ import annotations

import dataclasses
import re

from harness.parse.console import INCIDENT_MARKERS, Incident, IncidentKind

NOBODY = "nothing of ours"  # who ran, when no subtest of the run did
EVENT_HEADER = re.compile(r"^(?P<kind>[\w ]+) \(running: (?P<who>[^)]*)\)(?: \[(?P<fp>[^\]]+)\])?:$")
FATAL = frozenset(kind for kind, _, fatal in INCIDENT_MARKERS if fatal)  # a header does not say: its kind does


def read_events(lines: tuple[str, ...] | list[str]) -> list[Incident]:
    """The incidents of a report's event lines, each with its kind, who ran, its fingerprint and its excerpt."""
    found: list[Incident] = []
    for line in lines:
        if (m := EVENT_HEADER.match(line)) is not None and m["kind"] in set(IncidentKind):
            who = () if m["who"] == NOBODY else tuple(w.strip() for w in m["who"].split(","))
            kind = IncidentKind(m["kind"])
            found.append(Incident(kind, kind in FATAL, 0, (), running=who, fingerprint=m["fp"] or ""))
        elif found:
            found[-1] = dataclasses.replace(found[-1], excerpt=(*found[-1].excerpt, line))
    return found
