"""A step judged by repeated runs: bad at the first bad run, good only after as many passing ones as the bad end's
failure rate asks (harness.bisect.sizing), a different failure "cannot tell" (SameFailure); the bad end measured first
(measure); and the culprit verified (it fails again, its parent passes again), with how sure each step is."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from harness.bisect.outcome import Outcome
from harness.bisect.sizing import MEASURE_FAILURES, Rate, Sizing, percent_sure
from harness.bisect.step import Kind, same_failure


@dataclass
class SameFailure:
    """run_once that calls a step bad only when an expected failure comes back with the same signature; any other
    failure is "cannot tell". Without expected failures, the first bad run's become them (the bad end's, tested
    first: Bisection.check_bad_end)."""

    run_once: Callable[[str], Outcome]
    expected: dict[str, str] = field(default_factory=dict)

    def __call__(self, commit: str) -> Outcome:
        found = self.run_once(commit)
        if found.verdict.kind is Kind.BAD and not self.expected:
            self.expected = dict(found.signatures)
            return found
        return dataclasses.replace(found, verdict=same_failure(found.verdict, found.signatures, self.expected))


@dataclass
class Step:
    commit: str
    kind: Kind
    why: str
    runs: int
    infra: bool = False
    image_sha256: str = ""
    build_s: float = 0.0
    run_s: float = 0.0
    sure: float | None = None  # how sure the verdict is: a good one, 1 - the chance a bad commit passed its runs

    def plain(self) -> dict[str, object]:
        return dataclasses.asdict(self) | {"kind": self.kind.value}


def judge(run_once: Callable[[], Outcome], runs: int) -> tuple[Outcome, int]:
    """Repeated runs: bad at the first bad run, untestable at the first untestable one, good after `runs` good ones."""
    last = run_once()
    done = 1
    while last.verdict.kind is Kind.GOOD and done < runs:
        last = run_once()
        done += 1
    return last, done


def judged_step(name: str, run_once: Callable[[], Outcome], sizing: Sizing) -> Step:
    """judge() with its figures, as a step of the report (`name`: a commit, or a kernel of a list): times summed, and
    how sure it is (a failure the same way: sure; passes: as sure as their number makes it)."""
    seen: list[Outcome] = []

    def counted() -> Outcome:
        seen.append(run_once())
        return seen[-1]
    outcome, done = judge(counted, sizing.runs())
    kind = outcome.verdict.kind
    sure = 1.0 if kind is Kind.BAD else sizing.sure(done) if kind is Kind.GOOD else None
    return Step(name, kind, outcome.verdict.why, done, outcome.infra, outcome.image_sha256,
                round(sum(o.build_s for o in seen), 1), round(sum(o.run_s for o in seen), 1), sure)


def measure(name: str, run_once: Callable[[], Outcome], max_runs: int) -> tuple[Step, Rate]:
    """The bad end run until it has failed MEASURE_FAILURES times (the same way, with SameFailure) or max_runs times:
    its step (bad when it failed at all) and its failure rate. A run that cannot tell is not counted; one at the
    first run (no build, no guest) ends it."""
    seen: list[Outcome] = []
    failures = 0
    while len(seen) < max_runs and failures < MEASURE_FAILURES:
        seen.append(run_once())
        kind = seen[-1].verdict.kind
        failures += kind is Kind.BAD
        if kind is Kind.UNTESTABLE and (len(seen) == 1 or seen[-1].infra):
            break
    counted = [o for o in seen if o.verdict.kind is not Kind.UNTESTABLE]
    rate = Rate(failures, len(counted))
    last = next((o for o in reversed(seen) if o.verdict.kind is Kind.BAD), seen[-1])
    kind = Kind.BAD if failures else last.verdict.kind
    why = f"{last.verdict.why}; {rate}" if failures else last.verdict.why if not counted else \
        f"passed {len(counted)} of {len(counted)} run(s)"
    return Step(name, kind, why, len(seen), last.infra, last.image_sha256, round(sum(o.build_s for o in seen), 1),
                round(sum(o.run_s for o in seen), 1), 1.0 if failures else None), rate


def culprit_sure(steps: Iterable[Step]) -> float | None:
    """How sure the culprit is: every good verdict right (a bad one is a failure seen the same way); None: unknown."""
    sure = 1.0
    for s in steps:
        if s.kind is Kind.GOOD:
            if s.sure is None:
                return None
            sure *= s.sure
    return sure


def sure_text(sure: float | None) -> str:
    return f"{percent_sure(sure)} confident" if sure is not None else "confidence unknown"


@dataclass(frozen=True)
class Verification:
    problems: tuple[str, ...]  # none: verified
    evidence: tuple[str, ...]  # what the culprit's failing run showed
    steps: tuple[Step, ...] = ()  # the culprit's runs again, then its parent's: their verdicts and times


def verify(culprit: str, parent: str, run_once: Callable[[str], Outcome], sizing: Sizing) -> Verification:
    """KernelCI's check: the culprit fails again and its parent passes again; problems found, in words."""
    problems = []
    seen: list[Outcome] = []

    def counted(commit: str) -> Outcome:
        seen.append(run_once(commit))
        return seen[-1]
    again = judged_step(culprit, lambda: counted(culprit), sizing)
    if again.kind is not Kind.BAD:
        problems.append(f"the culprit did not fail again ({again.kind.value}: {again.why})")
    evidence = seen[-1].evidence  # the run that judged it
    before = judged_step(parent, lambda: run_once(parent), sizing)
    if before.kind is not Kind.GOOD:
        problems.append(f"its parent did not pass again ({before.kind.value}: {before.why})")
    if again.image_sha256 and again.image_sha256 == before.image_sha256:
        problems.append("the culprit's kernel image is identical to its parent's: the change cannot be what broke it")
    return Verification(tuple(problems), evidence, (again, before))
