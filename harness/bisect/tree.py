"""Bisecting the commits of a kernel tree: git bisect in a worktree of the harness's own, repeated runs per step.

The user's checkout is never touched: `git worktree add --detach` makes a checkout under
the cache, git bisect moves that one, and it is removed at the end, also on Ctrl-C or
SIGTERM; its build directories wait beside it for the next bisection (incremental builds).
Each step is judged by `judge()`: a step is bad at its first failing run and good only after
`runs` passing ones, so one flaky result cannot misplace the culprit; a commit that does not
build, boot or have the subtests is skipped, never bad. Too many steps lost to
infrastructure stop the bisection. The culprit is verified at the end (it fails again, its
parent passes again), and a culprit whose kernel image equals its parent's is said to be
suspect. What each step found is kept in a state file: --resume goes on from there.
"""
from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from harness import pipeline
from harness.bisect.step import Kind, Verdict, first_bad, same_failure, signatures, verdict_of
from harness.cache import file_sha256, locked, read_json, used, write_atomic, write_json
from harness.crashes import event_lines
from harness.errors import BadInput, InfraError
from harness.kernel import git
from harness.kernel.tree import move_builds
from harness.results import FAILED_AS_RUN, SuiteRun
from harness.settings import Settings
from harness.suites import Selection

MAX_INFRA_SHARE = 1 / 3  # more steps than this lost to infrastructure: the answer could not be trusted


@dataclass(frozen=True)
class Outcome:
    """What one run of the selection on one commit gave."""

    verdict: Verdict
    image_sha256: str = ""  # the kernel image it booted ("" when none was built)
    infra: bool = False  # the machinery failed (guest lost, boot failed), not the kernel's behaviour
    build_s: float = 0.0
    run_s: float = 0.0
    evidence: tuple[str, ...] = ()  # a bad run: the failing subtests' last lines and the kernel's messages
    signatures: dict[str, str] = field(default_factory=dict)  # a bad run: each failing subtest's (step.signature)


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


class Worktree:
    """A detached checkout of `repo` under the cache, for git bisect to move; removed on exit."""

    def __init__(self, repo: Path, cache_dir: Path) -> None:
        self.repo = repo.resolve()
        self.path = cache_dir / "worktrees" / self.repo.name
        self.parked = cache_dir / "worktrees" / f"{self.repo.name}.builds"  # its build dirs between two runs

    def git(self, *args: str) -> str:
        return git.git(self.path, *args)

    def __enter__(self) -> Worktree:
        if not git.is_checkout(self.repo):
            raise BadInput(f"{self.repo} is not a git checkout: bisecting commits needs one (git clone, or git init)")
        self.held = ExitStack()  # the parked builds' lock (`harness cache prune` keeps off), one bisection per repo
        self.held.enter_context(locked(self.parked.parent, self.parked.name))
        move_builds(self.path, self.parked)  # a killed run's worktree: its builds are kept too
        git.add_worktree(self.repo, self.path)
        move_builds(self.parked, self.path)
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        with self.held:
            move_builds(self.path, self.parked)
            git.remove_worktree(self.repo, self.path)
            used(self.parked)

    def rev(self, name: str) -> str:
        """The commit `name` is (a branch, tag, hash, HEAD~3 ...), or bad input saying where it was looked for."""
        commit = git.commit_of(self.path, name)
        if commit is None:
            raise BadInput(f"{name!r} names no commit in {self.repo}: give a commit, branch or tag of that checkout")
        return commit


class InPlace(Worktree):
    """The harness's own clone (a nightly's --git), bisected where it is: its build dir, the night's, is reused.
    On exit, git bisect is reset and the clone put back on the commit it had."""

    def __init__(self, repo: Path) -> None:
        self.repo = self.path = repo.resolve()

    def __enter__(self) -> InPlace:
        self.was = self.rev("HEAD")
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        git.run(self.path, "bisect", "reset")
        git.run(self.path, "checkout", "-q", "-f", "--detach", self.was)


@dataclass
class Bisection:
    """git bisect driven step by step in `tree`, each commit judged by `run_once(commit)`."""

    tree: Worktree
    good: str
    bad: str
    run_once: Callable[[str], Outcome]
    runs: int = 3
    state_file: Path | None = None
    say: Callable[[str], object] = print
    terms: tuple[str, str] = ("good", "bad")  # --term-old / --term-new
    steps: list[Step] = field(default_factory=list)
    check_bad_end: bool = False  # run the bad end first: it must fail (and SameFailure learns how)

    def _record(self, commit: str) -> Step:
        step = judged_step(commit, lambda: self.run_once(commit), self.runs)
        self.steps.append(step)
        if self.state_file is not None:
            write_json(self.state_file, {"good": self.good, "bad": self.bad, "steps": [s.plain() for s in self.steps]})
        self.say(f"{commit[:12]}: {step.kind.value} ({step.why}; {step.runs} run(s))")
        return step

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
            self.say(f"resuming: {len(self.steps)} step(s) already judged")

    def find(self) -> str:
        """The first bad commit (hash)."""
        old, new = self.terms
        if self.check_bad_end and not any(s.commit == self.bad for s in self.steps):
            end = self._record(self.bad)
            if end.kind is not Kind.BAD:
                raise BadInput(f"--bad {self.bad[:12]} is {end.kind.value} ({end.why}): it must fail the selection")
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


EVIDENCE_LINES = 40  # of a failing subtest's output, in the report


@dataclass(frozen=True)
class Report:
    commit: str  # the first bad commit, or the first bad kernel of a list
    subject: str
    author: str
    problems: tuple[str, ...]  # from verify(): none means verified
    steps: tuple[Step, ...]
    elapsed_s: float
    evidence: tuple[str, ...] = ()  # the failing subtest's output and the kernel's messages at the culprit
    verification: tuple[Step, ...] = ()  # the culprit's runs again and its parent's (their times are in elapsed_s)

    @classmethod
    def of(cls, culprit: str, tree: Worktree, steps: list[Step], checked: Verification, elapsed_s: float) -> Report:
        subject, author = tree.git("show", "-s", "--format=%s%x00%an <%ae>", culprit).strip().split("\0")
        return cls(culprit, subject, author, checked.problems, tuple(steps), round(elapsed_s, 1), checked.evidence,
                   checked.steps)

    def lines(self) -> list[str]:
        """The terminal's and the Markdown's summary."""
        verified = "verified: it fails again, its parent passes again" if not self.problems else \
            "NOT verified: " + "; ".join(self.problems)
        return [f"first bad: {self.commit[:12]} {self.subject}".rstrip(), *([f"author: {self.author}"] * bool(self.author)),
                verified, f"{len(self.steps)} step(s) in {self.elapsed_s:.0f} s{self._verifying()}"]

    def _verifying(self) -> str:
        """Of the whole time, what the verification took: ", the verification 160 s of it"."""
        spent = sum(s.build_s + s.run_s for s in self.verification)
        return f", the verification {spent:.0f} s of it" if self.verification else ""

    def write(self, out: Path) -> None:
        """bisect.json and bisect.md in `out`."""
        self.write_as(out, "bisect")

    def write_as(self, out: Path, stem: str) -> None:
        """<stem>.json and <stem>.md in `out`."""
        out.mkdir(parents=True, exist_ok=True)
        doc = dataclasses.asdict(self) | {"steps": [s.plain() for s in self.steps], "verified": not self.problems,
                                          "verification": [s.plain() for s in self.verification]}
        write_atomic(out / f"{stem}.json", json.dumps(doc, indent=1) + "\n")
        table = ["| step | verdict | why | runs | build s | run s |", "| --- | --- | --- | --- | --- | --- |"]
        table += [f"| {s.commit[:12]}{label} | {s.kind.value} | {s.why} | {s.runs} | {s.build_s:.0f} | {s.run_s:.0f} |"
                  for label, steps in (("", self.steps), (" (verifying)", self.verification)) for s in steps]
        shown = ["", "## At the first bad one", "", "```", *self.evidence, "```"] if self.evidence else []
        write_atomic(out / f"{stem}.md", "\n".join(["# Bisection", "", *(f"- {ln}" for ln in self.lines()), "", *table,
                                                  *shown]) + "\n")


def bisect_list(names: list[str], run_once: Callable[[str], Outcome], runs: int,
                say: Callable[[str], object]) -> Report:
    """The first bad of a list of kernels (oldest first): the same repeated runs, verification and report as commits."""
    start = time.monotonic()
    steps: list[Step] = []

    def test(name: str) -> Verdict:
        steps.append(judged_step(name, lambda: run_once(name), runs))
        return Verdict(steps[-1].kind, steps[-1].why)

    good, bad = first_bad(names, test, say)
    checked = verify(names[bad], names[good], run_once, runs)
    return Report(names[bad], f"(last good: {names[good]})", "", checked.problems, tuple(steps),
                  round(time.monotonic() - start, 1), checked.evidence, checked.steps)


def evidence(runs: list[SuiteRun]) -> tuple[str, ...]:
    """What a bad run showed: each failing subtest's last lines, then the kernel's messages."""
    lines: list[str] = []
    for run in runs:
        for r in run.subtests:
            if r.in_suite and r.status in FAILED_AS_RUN:  # as step.verdict judges a run bad
                lines += [f"{r.name} {r.status.value}: {r.reason}".rstrip(": "), *r.output[-EVIDENCE_LINES:]]
        lines += [f"kernel: {line}" for line in event_lines(run.incidents)]
    return tuple(lines)


def run_selection(settings: Settings, selections: list[Selection], say: Callable[[str], object]) -> Outcome:
    """One run of the selection on settings' kernel (a tree, or a prebuilt one): prepare, boot, run, judge."""
    def quiet(line: str) -> None:
        say(f"  {line}")
    ran = pipeline.run(settings, selections, quiet)
    if ran.build_error is not None:
        return Outcome(Verdict(Kind.UNTESTABLE, f"does not build: {_first_error(ran.build_error)}"), build_s=ran.build_s)
    if ran.kernel is None:
        return Outcome(Verdict(Kind.UNTESTABLE, f"not prepared: {_first_error(ran.prepare_error or '')}"), infra=True,
                       build_s=ran.build_s)
    verdict = verdict_of([r for run in ran.runs for r in run.subtests])
    infra = any(run.infra_errors for run in ran.runs) and verdict.kind is Kind.UNTESTABLE
    found = [r for run in ran.runs for r in run.subtests]
    return Outcome(verdict, file_sha256(ran.kernel.image), infra, ran.build_s, ran.run_s,
                   evidence(ran.runs) if verdict.kind is Kind.BAD else (), signatures(found) if verdict.kind is Kind.BAD else {})


def _first_error(message: str) -> str:
    """A build failure in a few words: its first compiler error when it shows one ("file:line:col: error: ...")."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    error = next((ln for ln in lines if " error: " in ln or ln.startswith("error: ")), "")
    return f"{lines[0]} {error.rsplit('/', 1)[-1]}".strip() if lines else "no message"


def checked_out(tree: Worktree, run: Callable[[], Outcome]) -> Callable[[str], Outcome]:
    """run_once(commit): `run` with the commit checked out in the worktree (verification goes back to commits)."""
    def run_once(commit: str) -> Outcome:
        if tree.rev("HEAD") != commit:
            tree.git("checkout", "-q", "--detach", commit)
        return run()
    return run_once
