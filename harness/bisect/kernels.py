"""Bisecting a list of kernels (Debian's builds, oldest first): the first bad one, with the same measure of the bad
end, steps sized by its rate, verification and report as commits have."""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from harness.bisect.judge import Step, judged_step, measure, verify
from harness.bisect.outcome import Outcome
from harness.bisect.report import Report
from harness.bisect.sizing import Sizing
from harness.bisect.step import Kind, Verdict
from harness.errors import BadInput, InfraError


def bisect_list(names: list[str], run_once: Callable[[str], Outcome], sizing: Sizing,
                say: Callable[[str], object]) -> Report:
    """The first bad of a list of kernels (oldest first): the newest measured first, then steps sized by its rate."""
    start = time.monotonic()
    steps: list[Step] = []

    def test(name: str) -> Verdict:
        nonlocal sizing
        if name == names[-1] and sizing.rate is None:
            step, rate = measure(name, lambda: run_once(name), sizing.max_runs)
            sizing = dataclasses.replace(sizing, rate=rate) if rate.failures else sizing
            steps.append(step)
            say(sizing.told())
        else:
            steps.append(judged_step(name, lambda: run_once(name), sizing))
        return Verdict(steps[-1].kind, steps[-1].why)

    good, bad = first_bad(names, test, say)
    checked = verify(names[bad], names[good], run_once, sizing)
    return Report(names[bad], f"(last good: {names[good]})", "", checked.problems, tuple(steps),
                  round(time.monotonic() - start, 1), checked.evidence, checked.steps, sizing.told())


def first_bad(kernels: list[str], test: Callable[[str], Verdict], say: Callable[[str], object]) -> tuple[int, int]:
    """Binary search over `kernels` (oldest first): the indices of the last good and the first bad.

    Both ends are tested first: the last must be bad (tested first: its rate sizes the others) and the first good. An untestable kernel
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
    for end, wanted in ((last, Kind.BAD), (0, Kind.GOOD)):
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
