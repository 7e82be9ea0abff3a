"""Where a subtest is scheduled: which subtests run together in one test_progs, side by side in one guest.

The selected subtests are split into at most `concurrency` batches, longest first by the
durations recorded in earlier runs (equal guesses on a first run); for the whole suite, the rest
of the test (subtests the build has beyond the suite file, e.g. 7.3's sockmap) is one more item,
weighing what its subtests took before. Each batch is one
test_progs invocation (its start-up, ~1.4 s under TCG, is paid once per batch).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from harness.guest.commands import Batch
from harness.suites import Suite

REST = ""  # in a plan's weights: the rest of the test (what the build has beyond the suite file; no subtest's name)


def guessed(names: Sequence[str], durations: Mapping[str, float]) -> dict[str, float]:
    """Each name's weight: its recorded duration, else the mean of those recorded (1.0 when none is)."""
    known = [durations[n] for n in names if n in durations]
    guess = sum(known) / len(known) if known else 1.0
    return {n: durations.get(n, guess) for n in names}


def longest_first(weights: Mapping[str, float], parts: int) -> list[set[str]]:
    """Longest-processing-time first: each name, heaviest first (the given order among equals), into the part
    with the least weight so far (the lowest-numbered among equals). Deterministic: the batches of a guest and
    the shards of a CI matrix (harness.run.shard) are both made by it."""
    loads = [0.0] * max(1, parts)
    members: list[set[str]] = [set() for _ in loads]
    for name in sorted(weights, key=lambda n: -weights[n]):  # sorted is stable
        lightest = loads.index(min(loads))
        loads[lightest] += weights[name]
        members[lightest].add(name)
    return members


def plan_batches(suite: Suite, subtests: tuple[str, ...], durations: dict[str, float], concurrency: int) -> list[Batch]:
    """At most `concurrency` batches, longest first; the whole suite's plan also weighs the rest of the test."""
    if not subtests:
        return []
    weights = guessed(subtests, durations)
    if set(subtests) >= set(suite.subtests):  # the whole suite: one batch also runs the rest of the test, which
        weights[REST] = sum(t for s, t in durations.items() if s not in suite.subtests)  # weighs what it took before
    members = longest_first(weights, min(concurrency, len(subtests)))
    return [Batch(i, tuple(s for s in subtests if s in m), runs_rest=REST in m) for i, m in enumerate(members)]
