"""Where a subtest is scheduled: which subtests run together in one test_progs, side by side in one guest.

The selected subtests are split into at most `concurrency` batches, longest first by the
durations recorded in earlier runs (equal guesses on a first run). Each batch is one
test_progs invocation (its start-up, ~1.4 s under TCG, is paid once per batch).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.suites import Suite


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
    loads = [0.0] * max(1, min(concurrency, len(subtests)))
    members: list[set[str]] = [set() for _ in loads]
    for sub in sorted(subtests, key=lambda s: -durations.get(s, guess)):  # stable: suite order on ties
        lightest = loads.index(min(loads))
        loads[lightest] += durations.get(sub, guess)
        members[lightest].add(sub)
    whole_suite = set(subtests) >= set(suite.subtests)
    rest = loads.index(min(loads)) if whole_suite else -1
    return [Batch(i, tuple(s for s in subtests if s in m), runs_rest=i == rest) for i, m in enumerate(members)]


def progs_argv(suite: Suite, batch: Batch, batches: list[Batch]) -> list[str]:
    """-a takes exact names (-t would match substrings: subflow ~ iters_subflow); -v prints each result as it ends
    (batch.sh line-buffers its stdout, as stdbuf -oL would)."""
    argv = ["./test_progs", "-v"]
    if batch.runs_rest:
        others = [f"{suite.test}/{s}" for b in batches if b is not batch for s in b.subtests]
        return argv + ["-a", suite.test] + (["-b", ",".join(others)] if others else [])
    return argv + ["-a", ",".join(f"{suite.test}/{s}" for s in batch.subtests)]
