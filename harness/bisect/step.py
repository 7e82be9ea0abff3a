"""A bisection step's verdict, from the results of one run (pure): good (every selected subtest passed), bad (one
failed or timed out, or the kernel died under it), or untestable (a subtest the build lacks, a result was lost,
nothing ran); and a failure's signature, what must come back the same for a step to be bad. The run itself:
harness.bisect.outcome."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from harness.results import FAILED_AS_RUN, UNTESTABLE, Status, SubtestResult, signature

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
        if r.status in UNTESTABLE:
            return Verdict(Kind.UNTESTABLE, f"{r.name} {r.status.value} ({r.reason or r.status.value})",
                           r.status is Status.NOT_IN_BUILD)
    flaky = [r.name for r in tests if r.status is Status.FLAKY]
    return Verdict(Kind.GOOD, f"{len(tests)} passed" + (f" ({', '.join(flaky)} only on retry)" if flaky else ""))


def signatures(results: list[SubtestResult]) -> dict[str, str]:
    """Each failing subtest of the suite files (as verdict_of judges a run bad) with its signature."""
    return {r.name: signature(r) for r in results if r.in_suite and r.status in FAILED_AS_RUN}


def same_failure(found: Verdict, seen: dict[str, str], expected: dict[str, str]) -> Verdict:
    """A bad verdict stays bad only when one of the expected failures is there with the same signature; any other
    failure or crash makes the step "cannot tell" (git bisect skip), and says what it was."""
    if found.kind is not Kind.BAD or not expected:
        return found
    same = [n for n, sig in seen.items() if expected.get(n) == sig]
    if same:
        return Verdict(Kind.BAD, f"{', '.join(same)} failed the same way ({expected[same[0]]})")
    other = "; ".join(f"{n}: {sig}" for n, sig in seen.items()) or found.why
    return Verdict(Kind.UNTESTABLE, f"cannot tell: a different failure ({other})")
