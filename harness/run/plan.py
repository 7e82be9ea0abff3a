"""Where a subtest is scheduled: which subtests run together in one test_progs, side by side in one guest.

The selected subtests are split into at most `concurrency` batches, longest first by the
durations recorded in earlier runs (equal guesses on a first run); for the whole suite, the rest
of the test (subtests the build has beyond the suite file, e.g. 7.3's sockmap) is one more item,
weighing what its subtests took before. Each batch is one
test_progs invocation (its start-up, ~1.4 s under TCG, is paid once per batch).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.suites import Suite

REST = ""  # in a plan's weights: the rest of the test (what the build has beyond the suite file; no subtest's name)


@dataclass(frozen=True)
class Batch:
    index: int
    subtests: tuple[str, ...]  # names without the test prefix, in suite order
    runs_rest: bool = False  # also runs what the build has beyond the suite file

    def log(self, workdir: Path) -> Path:
        return workdir / f"batch-{self.index}.log"

    def status_file(self, workdir: Path) -> Path:
        return workdir / f"batch-{self.index}.rc"


def plan_batches(suite: Suite, subtests: tuple[str, ...], durations: dict[str, float], concurrency: int) -> list[Batch]:
    """Longest-processing-time-first: each subtest, longest first, goes to the lightest batch."""
    if not subtests:
        return []
    known = [durations[s] for s in subtests if s in durations]
    guess = sum(known) / len(known) if known else 1.0
    weights = {s: durations.get(s, guess) for s in subtests}
    if set(subtests) >= set(suite.subtests):  # the whole suite: one batch also runs the rest of the test, which
        weights[REST] = sum(t for s, t in durations.items() if s not in suite.subtests)  # weighs what it took before
    loads = [0.0] * max(1, min(concurrency, len(subtests)))
    members: list[set[str]] = [set() for _ in loads]
    for sub in sorted(weights, key=lambda s: -weights[s]):  # stable: suite order on ties, the rest last
        lightest = loads.index(min(loads))
        loads[lightest] += weights[sub]
        members[lightest].add(sub)
    return [Batch(i, tuple(s for s in subtests if s in m), runs_rest=REST in m) for i, m in enumerate(members)]


def progs_argv(suite: Suite, batch: Batch, batches: list[Batch]) -> list[str]:
    """-a takes exact names (-t would match substrings: subflow ~ iters_subflow); -v prints each result as it ends
    (batch.sh line-buffers its stdout, as stdbuf -oL would)."""
    argv = ["./test_progs", "-v"]
    if batch.runs_rest:
        others = [f"{suite.test}/{s}" for b in batches if b is not batch for s in b.subtests]
        return argv + ["-a", suite.test] + (["-b", ",".join(others)] if others else [])
    return argv + ["-a", ",".join(f"{suite.test}/{s}" for s in batch.subtests)]
