"""Failure rates from the history (harness.history): per subtest, mode and kernel line, the rate with its 95 %
interval, how it failed, where to read the last failure, and a class (pure: outcomes in, rows out).

A kernel line is a kernel without its state: a tree's identity without its commit's state, a Debian build as it
is. The class: stable (never failed), failing (failed every time), flaky (fails sometimes), or changed at a state
(passed every time before one kernel state, failed every time from it on: a regression, not a flake).
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness import night_summary
from harness.history import Outcome, from_runs, rate_text, wilson
from harness.report.json import from_json
from harness.results import Status


@dataclass(frozen=True)
class Rate:
    test: str
    mode: str
    kernel: str  # the kernel line
    runs: int
    failures: int
    signatures: dict[str, int] = field(default_factory=dict)  # how it failed, how often
    last_failure: str = ""  # where to read it
    kind: str = "stable"

    @property
    def rate(self) -> float:
        return self.failures / self.runs if self.runs else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.failures, self.runs)

    def plain(self) -> dict[str, object]:
        low, high = self.interval
        return {"test": self.test, "mode": self.mode, "kernel": self.kernel, "runs": self.runs,
                "failures": self.failures, "rate": round(self.rate, 4), "low": round(low, 4), "high": round(high, 4),
                "signatures": self.signatures, "last_failure": self.last_failure, "class": self.kind}

    def line(self) -> str:
        said = ", ".join(f"{n}x {s}" for s, n in self.signatures.items())
        return (f"{self.test} [{self.mode}, {self.kernel}]: {rate_text(self.failures, self.runs)} {self.kind}"
                + (f"; {said}" if said else "") + (f"; last: {self.last_failure}" if self.last_failure else ""))


def kernel_line(identity: str) -> str:
    """A tree's identity ("tree:<path>:<mode>:<state>") without its state; any other kernel's as it is."""
    return identity.rsplit(":", 1)[0] if identity.startswith("tree:") and identity.count(":") >= 3 else identity


def _weight(o: Outcome) -> tuple[int, int]:
    """(runs, failures) an outcome stands for: a flaky one failed, then passed on its retry."""
    if o.status is Status.FLAKY:
        return 2, 1
    return 1, int(o.failed)


def counted(outcomes: Iterable[Outcome]) -> tuple[int, int]:
    """(runs, failures) of these outcomes, a flaky one counted as its two runs: the one count of a rate."""
    weights = [_weight(o) for o in outcomes]
    return sum(w[0] for w in weights), sum(w[1] for w in weights)


def _kind(outcomes: list[Outcome], runs: int, failures: int) -> str:
    if failures == 0:
        return "stable"
    if failures == runs:
        return "failing"
    states = [(o.kernel, o.failed) for o in outcomes]  # oldest first
    first_bad = next(i for i, (_, bad) in enumerate(states) if bad)
    if first_bad and all(bad for _, bad in states[first_bad:]) and states[first_bad][0] != states[first_bad - 1][0] \
            and all(o.status is not Status.FLAKY for o in outcomes):
        return f"changed at {states[first_bad][0].rsplit(':', 1)[-1][:12]}"
    return "flaky"


def rates(outcomes: Iterable[Outcome], last: int | None = None) -> list[Rate]:
    """Per (test, mode, kernel line), over its `last` outcomes (all by default): the failing first, then by name."""
    groups: dict[tuple[str, str, str], list[Outcome]] = {}
    for o in outcomes:
        groups.setdefault((o.test, o.mode, kernel_line(o.kernel)), []).append(o)
    found = []
    for (test, mode, kernel), seen in groups.items():
        seen = seen[-last:] if last else seen
        runs, failures = counted(seen)
        failed = [o for o in seen if o.failed]
        signatures = dict(Counter(o.signature or o.status.value for o in failed).most_common())
        found.append(Rate(test, mode, kernel, runs, failures, signatures,
                          failed[-1].location if failed else "", _kind(seen, runs, failures)))
    return sorted(found, key=lambda r: (-r.rate, r.test, r.mode, r.kernel))


def night_outcomes(night: Path) -> list[Outcome]:
    """A night's outcomes, read back from its dir (summary.json, each mode's results.json): a NIGHTS_DIR copied to
    another machine brings its history with it. [] when it is no night (no readable summary)."""
    try:
        summary = night_summary.read(night / "summary.json")
    except (OSError, ValueError):
        return []
    started = datetime.datetime.fromisoformat(summary.started).timestamp() if summary.started[:1].isdigit() else 0.0
    found = []
    for mode in summary.modes:
        results = night / mode / "results.json"
        try:
            runs = from_json(results.read_text())
        except (OSError, ValueError):
            continue
        found += [dataclasses.replace(o, time=started)
                  for o in from_runs(runs, summary.night, "night", mode, str(results))]
    return found


def to_json(found: list[Rate]) -> str:
    return json.dumps([r.plain() for r in found], indent=1) + "\n"
