"""Bisecting the commits of a kernel tree: git bisect driven step by step (Bisection).

It moves a worktree of the harness's own (harness.bisect.worktree: the user's checkout is never touched). Each
step is judged by repeated runs (harness.bisect.judge): the bad end is measured first (its failure rate), then a step is
bad at its first failing run, good only after as many passing ones as that rate asks for --confidence
(harness.bisect.sizing), so a flaky failure cannot misplace the culprit; a commit that does not build, boot or have the
subtests is skipped, never bad. Too many steps lost to infrastructure stop the bisection. What each step found is
kept in a state file: --resume goes on from there. The culprit is then verified (judge.verify) and reported
(harness.bisect.report).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.bisect.judge import Step, judged_step, measure
from harness.bisect.outcome import Outcome
from harness.bisect.sizing import Rate, Sizing, percent_sure
from harness.bisect.step import Kind
from harness.bisect.worktree import Worktree
from harness.cache import read_json, write_json
from harness.errors import BadInput, InfraError
from harness.kernel import git

MAX_INFRA_SHARE = 1 / 3  # more steps than this lost to infrastructure: the answer could not be trusted


@dataclass
class Bisection:
    """git bisect driven step by step in `tree`, each commit judged by `run_once(commit)`."""

    tree: Worktree
    good: str
    bad: str
    run_once: Callable[[str], Outcome]
    sizing: Sizing = field(default_factory=Sizing)
    state_file: Path | None = None
    say: Callable[[str], object] = print
    terms: tuple[str, str] = ("good", "bad")  # --term-old / --term-new
    steps: list[Step] = field(default_factory=list)
    check_bad_end: bool = False  # measure the bad end first: it must fail (SameFailure learns how), its rate sizes steps

    def _record(self, commit: str) -> Step:
        return self._keep(judged_step(commit, lambda: self.run_once(commit), self.sizing))

    def _keep(self, step: Step) -> Step:
        self.steps.append(step)
        if self.state_file is not None:
            rate = self.sizing.rate
            write_json(self.state_file, {"good": self.good, "bad": self.bad, "steps": [s.plain() for s in self.steps],
                                         "rate": [rate.failures, rate.runs, rate.source] if rate else None})
        sure = f", {percent_sure(step.sure)} sure" if step.sure is not None and step.kind is Kind.GOOD else ""
        self.say(f"{step.commit[:12]}: {step.kind.value} ({step.why}; {step.runs} run(s){sure})")
        return step

    def _measure_bad_end(self) -> None:
        """The bad end's failure rate (a resumed bisection has it), which sizes every step after it."""
        if any(s.commit == self.bad for s in self.steps):
            return
        step, rate = measure(self.bad, lambda: self.run_once(self.bad), self.sizing.max_runs)
        if step.kind is Kind.BAD:
            self.sizing = dataclasses.replace(self.sizing, rate=rate)
        self._keep(step)
        if step.kind is not Kind.BAD:
            raise BadInput(f"--bad {self.bad[:12]} is {step.kind.value} ({step.why}): it must fail the selection")
        self.say(self.sizing.told())

    def _mark(self, step: Step) -> str:
        """Tell git bisect; what it said (where it goes next, or the culprit)."""
        word = {Kind.GOOD: self.terms[0], Kind.BAD: self.terms[1]}.get(step.kind, "skip")
        code, text = git.run(self.tree.path, "bisect", word, step.commit)
        if code != 0 and "only 'skip'ped commits left" not in text:
            raise InfraError(f"git bisect {word} {step.commit} failed: {text.strip()[-400:]}")
        return text

    def resume(self) -> None:
        """Steps found before an interruption, from the state file (same good and bad only)."""
        state = read_json(self.state_file, {}) if self.state_file is not None else {}
        if state.get("good") == self.good and state.get("bad") == self.bad:
            self.steps = [Step(**{**s, "kind": Kind(s["kind"])}) for s in state.get("steps", [])]
            if state.get("rate"):
                self.sizing = dataclasses.replace(self.sizing, rate=Rate(*state["rate"]))
            self.say(f"resuming: {len(self.steps)} step(s) already judged")

    def find(self) -> str:
        """The first bad commit (hash)."""
        old, new = self.terms
        if self.check_bad_end:
            self._measure_bad_end()
        self.tree.git("bisect", "start", f"--term-old={old}", f"--term-new={new}")
        out = self.tree.git("bisect", new, self.bad) + self.tree.git("bisect", old, self.good)
        for step in self.steps:  # what a previous run found
            out = self._mark(step)
        while True:
            if (culprit := _first_bad(out, new)) is not None:
                return culprit
            if "only 'skip'ped commits left" in out:
                raise InfraError("only untestable commits are left between good and bad: " + " ".join(out.split()[-12:]))
            commit = self.tree.rev("HEAD")
            step = next((s for s in self.steps if s.commit == commit), None) or self._record(commit)
            infra = sum(s.infra for s in self.steps)
            if len(self.steps) >= 3 and infra > MAX_INFRA_SHARE * len(self.steps):
                raise InfraError(f"{infra} of {len(self.steps)} steps failed for infrastructure reasons: "
                                 "stopping rather than trusting the answer")
            out = self._mark(step)


def _first_bad(out: str, term: str) -> str | None:
    for line in out.splitlines():
        if line.endswith(f"is the first {term} commit"):
            return line.split()[0]
    return None
