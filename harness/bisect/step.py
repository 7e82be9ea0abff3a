"""Bisecting a regression: one verdict per kernel, across a list of builds or under `git bisect run`.

A step runs the selected subtests on one kernel through the pipeline (harness.pipeline:
kernel, payload, guest, parse; no pytest) and reduces the results to a verdict: good (every
selected subtest passed), bad (one failed or timed out, or the kernel died under it), or
untestable (a subtest is not in this build, a result was lost, nothing ran).
"""
from __future__ import annotations

import enum
import sys
from collections.abc import Callable
from dataclasses import dataclass

from harness import pipeline
from harness.errors import BadInput, InfraError
from harness.results import FAILED_AS_RUN, Status, SubtestResult
from harness.run.select import selections
from harness.settings import for_command

# git bisect run's protocol: 0 good, 1 bad, 125 skip this commit, 128+ abort the bisection
GIT_GOOD, GIT_BAD, GIT_SKIP, GIT_ABORT = 0, 1, 125, 128


class Kind(enum.Enum):
    GOOD = "good"
    BAD = "bad"
    UNTESTABLE = "untestable"


@dataclass(frozen=True)
class Verdict:
    kind: Kind
    why: str  # a few words: which subtest decided it
    absent: bool = False  # untestable because the build lacks a selected subtest

    @property
    def git_code(self) -> int:
        return {Kind.GOOD: GIT_GOOD, Kind.BAD: GIT_BAD}.get(self.kind, GIT_SKIP)


def verdict_of(results: list[SubtestResult]) -> Verdict:
    """The verdict of one run (subtests beyond the suite file do not count)."""
    tests = [r for r in results if r.in_suite]
    if not tests:
        return Verdict(Kind.UNTESTABLE, "no subtest ran")
    for r in tests:
        if r.status in FAILED_AS_RUN:  # xfail too: it failed, as expected
            return Verdict(Kind.BAD, f"{r.name} {r.status.value}: {r.reason or 'see its output'}")
    for r in tests:
        if r.status in (Status.LOST, Status.NOT_RUN, Status.SKIPPED):
            return Verdict(Kind.UNTESTABLE, f"{r.name} {r.status.value} ({r.reason or r.status.value})", r.absent)
    flaky = [r.name for r in tests if r.status is Status.FLAKY]
    return Verdict(Kind.GOOD, f"{len(tests)} passed" + (f" ({', '.join(flaky)} only on retry)" if flaky else ""))


def run_step(argv: list[str]) -> Verdict:
    """Run the selection on one kernel (its options in argv); progress on stderr: stdout is the verdict."""
    settings, keyword = for_command(argv, "bisect-step")
    chosen = selections(keyword)
    try:
        ran = pipeline.run(settings, chosen, say=lambda line: print(f"[harness] {line}", file=sys.stderr, flush=True))
    except InfraError as e:  # the guest never came up
        return Verdict(Kind.UNTESTABLE, f"no results: {str(e).splitlines()[0]}")
    if (error := ran.build_error or ran.prepare_error) is not None:
        return Verdict(Kind.UNTESTABLE, f"no results: {error.splitlines()[0]}")
    return verdict_of([r for run in ran.runs for r in run.subtests])


def first_bad(kernels: list[str], test: Callable[[str], Verdict], say: Callable[[str], object]) -> tuple[int, int]:
    """Binary search over `kernels` (oldest first): the indices of the last good and the first bad.

    Both ends are tested first: the first must be good and the last bad. An untestable kernel
    in between is stepped over, like `git bisect skip` (the answer then spans it).
    """
    if len(kernels) < 2:
        raise BadInput("bisect needs at least two kernels, oldest first: --kernels OLD,...,NEW")
    verdicts: dict[int, Verdict] = {}

    def judged(i: int) -> Verdict:
        if i not in verdicts:
            verdicts[i] = test(kernels[i])
            say(f"{kernels[i]}: {verdicts[i].kind.value} ({verdicts[i].why})")
        return verdicts[i]

    last = len(kernels) - 1
    for end, wanted in ((0, Kind.GOOD), (last, Kind.BAD)):
        found = judged(end)
        if found.kind is Kind.UNTESTABLE and not found.absent:
            raise InfraError(f"{kernels[end]} could not be tested ({found.why})")
        if found.kind != wanted:
            raise BadInput(f"{kernels[end]} is {found.kind.value} ({found.why}), the {'oldest' if end == 0 else 'newest'} "
                           f"kernel must be {wanted.value}: choose another range")
    good, bad = 0, last
    untestable: set[int] = set()
    while True:
        middle = [i for i in range(good + 1, bad) if i not in untestable]
        if not middle:
            return good, bad
        i = middle[len(middle) // 2]
        kind = judged(i).kind
        if kind is Kind.GOOD:
            good = i
        elif kind is Kind.BAD:
            bad = i
        else:
            untestable.add(i)
