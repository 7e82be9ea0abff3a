"""A step judged by repeated runs: bad at the first bad run, good only after `runs` passing ones, a different failure
"cannot tell" (SameFailure); and the culprit verified (it fails again, its parent passes again)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

from harness.bisect.outcome import Outcome
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


def judged_step(name: str, run_once: Callable[[], Outcome], runs: int) -> Step:
    """judge() with its figures, as a step of the report (`name`: a commit, or a kernel of a list): times summed."""
    seen: list[Outcome] = []

    def counted() -> Outcome:
        seen.append(run_once())
        return seen[-1]
    outcome, done = judge(counted, runs)
    return Step(name, outcome.verdict.kind, outcome.verdict.why, done, outcome.infra, outcome.image_sha256,
                round(sum(o.build_s for o in seen), 1), round(sum(o.run_s for o in seen), 1))


@dataclass(frozen=True)
class Verification:
    problems: tuple[str, ...]  # none: verified
    evidence: tuple[str, ...]  # what the culprit's failing run showed
    steps: tuple[Step, ...] = ()  # the culprit's runs again, then its parent's: their verdicts and times


def verify(culprit: str, parent: str, run_once: Callable[[str], Outcome], runs: int) -> Verification:
    """KernelCI's check: the culprit fails again and its parent passes again; problems found, in words."""
    problems = []
    seen: list[Outcome] = []

    def counted(commit: str) -> Outcome:
        seen.append(run_once(commit))
        return seen[-1]
    again = judged_step(culprit, lambda: counted(culprit), runs)
    if again.kind is not Kind.BAD:
        problems.append(f"the culprit did not fail again ({again.kind.value}: {again.why})")
    evidence = seen[-1].evidence  # the run that judged it
    before = judged_step(parent, lambda: run_once(parent), runs)
    if before.kind is not Kind.GOOD:
        problems.append(f"its parent did not pass again ({before.kind.value}: {before.why})")
    if again.image_sha256 and again.image_sha256 == before.image_sha256:
        problems.append("the culprit's kernel image is identical to its parent's: the change cannot be what broke it")
    return Verification(tuple(problems), evidence, (again, before))
