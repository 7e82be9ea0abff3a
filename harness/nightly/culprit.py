"""The nightly names the culprit: a mode's new failures bisected between the night before's commit and tonight's.

When: a night built from git (--git, or --kernel-tree of a checkout) whose mode has new failures
(failed after their retries: not flaky, not xfail, not infrastructure) against the night before
of that mode, whose commit is known (--bisect auto, the default; off turns it off). How:
harness bisect's machinery in a worktree of that clone (the mode's build dir and ccache reused
from night to night), tonight's commit measured first (its failure rate sizes each step's runs in
one persistent guest), unbuildable commits skipped, culprit and parent verified, how sure it is
said; a step is bad only when one of tonight's failures comes back the same way
(bisect.tree.SameFailure, with tonight's signatures). The failures the culprit does not
explain are bisected once more. When --bisect-budget runs out, the range narrowed so far is
reported. A later night still failing the same way does not bisect again: it names the culprit
found then. A bisection never changes the night's exit code.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.bisect.judge import SameFailure, sure_text, verify
from harness.bisect.outcome import Outcome, Repeated
from harness.bisect.report import Report
from harness.bisect.sizing import Sizing
from harness.bisect.step import signatures
from harness.bisect.tree import Bisection
from harness.bisect.worktree import InPlace, Worktree, checked_out
from harness.errors import BadInput, InfraError
from harness.kernel import git
from harness.night_summary import Finding
from harness.results import SuiteRun
from harness.settings import Settings
from harness.suites import Selection, narrowed

Say = Callable[[str], None]
BUDGET_S = 4 * 3600.0  # --bisect-budget's default
MAX_BISECTIONS = 2  # per mode and night: the failures the first culprit did not explain get one more
DEEPEN = (64, 256, 1024, 4096)  # commits fetched in turn until the night before's commit is reachable


class BudgetSpent(Exception):
    pass


def carried(before: Finding, still_failing: list[str]) -> Finding | None:
    """The night before's culprit, when tests it covered still fail: named again, not bisected again."""
    covered = tuple(t for t in before.failures if t in still_failing)
    if not before.culprit or not covered:
        return None
    line = f"still failing since {before.since}, culprit {before.culprit[:12]} {before.subject}".rstrip()
    return dataclasses.replace(before, line=line, failures=covered, report="", elapsed_s=0.0)


def reachable(repo: Path, good: str, bad: str, url: str | None, ref: str | None, say: Say) -> bool:
    """Whether `good` is an ancestor of `bad`, deepening a shallow clone of `url` until it is (said), or giving up."""
    def ancestor() -> bool:
        return git.run(repo, "merge-base", "--is-ancestor", good, bad)[0] == 0
    if ancestor():
        return True
    for depth in DEEPEN if url else ():
        code, text = git.run(repo, "fetch", "-q", f"--deepen={depth}", url or "", ref or "HEAD")
        if code != 0:
            say(f"bisect: could not deepen the clone ({git.last_line(text)})")
            return False
        if ancestor():
            say(f"bisect: history deepened by {depth} commits: the night before's {good[:12]} is reachable")
            return True
    return False


@dataclass
class Budget:
    """run_once within a deadline: a step is not started once the budget is spent."""

    run_once: Callable[[str], Outcome]
    deadline: float

    def __call__(self, commit: str) -> Outcome:
        if time.monotonic() > self.deadline:
            raise BudgetSpent(commit)
        return self.run_once(commit)


def bisect_range(tree: Worktree) -> str:
    """git bisect's range so far: "A..B" (the closest good one, the newest bad one)."""
    refs = tree.git("for-each-ref", "--format=%(refname) %(objectname)", "refs/bisect").split("\n")
    found = dict(r.split() for r in refs if r.strip())
    bad = next((v for k, v in found.items() if k.endswith("/bad")), "")
    goods = [v for k, v in found.items() if "/good-" in k]
    nearest = min(goods, key=lambda g: int(tree.git("rev-list", "--count", f"{g}..{bad}").strip() or 0), default="")
    return f"{nearest[:12]}..{bad[:12]}"


@dataclass(frozen=True)
class Job:
    """A mode's bisection: between the night before's commit (good) and tonight's (bad), in `repo`."""

    repo: Path  # the harness's clone (--git) or the user's checkout (--kernel-tree)
    good: str
    bad: str
    settings: Settings  # the mode's
    selections: tuple[Selection, ...]  # the night's
    out: Path  # the mode's dir of the night: bisect.json, bisect.md
    budget_s: float = BUDGET_S
    url: str | None = None  # --git: where to deepen the shallow clone from
    ref: str | None = None
    # each step's runs, sized by tonight's failure rate measured on tonight's commit: 99 % a step (unattended, and runs
    # are cheap in one persistent guest), so that the culprit, the product of its good steps, is ~95 % sure or more
    sizing: Sizing = Sizing(confidence=0.99)


@dataclass
class Recorded:
    """run_once that keeps each commit's last outcome (which failures the culprit's own runs showed, and how)."""

    run_once: Callable[[str], Outcome]
    last: dict[str, Outcome] = field(default_factory=dict)

    def __call__(self, commit: str) -> Outcome:
        self.last[commit] = self.run_once(commit)
        return self.last[commit]


def find(job: Job, failures: list[str], runs: list[SuiteRun], night: str, say: Say) -> list[Finding]:
    """The culprit(s) of a mode's new failures, each bisection's finding; never raises for what the tree does."""
    if not reachable(job.repo, job.good, job.bad, job.url, job.ref, say):
        return [Finding(f"no culprit: the night before's {job.good[:12]} is not an ancestor of {job.bad[:12]} (a force-"
                        f"pushed branch, or more than {sum(DEEPEN)} commits back): not bisected", failures=tuple(failures))]
    expected = {n: s for n, s in signatures([r for run in runs for r in run.subtests]).items() if n in failures}
    deadline, found, rest = time.monotonic() + job.budget_s, [], list(failures)
    try:
        # the harness's own clone (--git) is bisected in place, in the night's build dir; a user's checkout in a worktree
        with InPlace(job.repo) if job.url else Worktree(job.repo, job.settings.cache_dir) as tree:
            for n in range(MAX_BISECTIONS):
                finding = _bisect(job, tree, rest, {k: expected[k] for k in rest if k in expected}, deadline, night,
                                  f"{'' if n == 0 else n + 1}", say)
                found.append(finding)
                rest = [t for t in rest if t not in finding.failures]
                if not finding.culprit or not finding.verified or not rest:
                    break
                say(f"bisect: {finding.culprit[:12]} explains {', '.join(finding.failures)}; bisecting the rest: "
                    f"{', '.join(rest)}")
    except (InfraError, BadInput) as e:
        found.append(Finding(f"no culprit: {str(e).splitlines()[0]}", failures=tuple(rest)))
    return found


def _bisect(job: Job, tree: Worktree, failures: list[str], expected: dict[str, str], deadline: float,
            night: str, suffix: str, say: Say) -> Finding:
    chosen = list(narrowed(job.selections, failures))
    settings = dataclasses.replace(job.settings, kernel_tree=tree.path)
    start = time.monotonic()
    say(f"bisect: {', '.join(failures)} between {job.good[:12]} (the night before) and {job.bad[:12]}")
    with Repeated(lambda _: settings, chosen, say) as repeated:
        recorded = Recorded(checked_out(tree, repeated))
        run_once = SameFailure(Budget(recorded, deadline), dict(expected))
        bisection = Bisection(tree, job.good, job.bad, run_once, job.sizing, job.out / f"bisect{suffix}-state.json",
                              lambda line: say(f"bisect: {line}"), check_bad_end=True)
        try:
            culprit = bisection.find()
            checked = verify(culprit, tree.rev(f"{culprit}^"), run_once, bisection.sizing)
        except BudgetSpent:
            return Finding(f"range narrowed to {bisect_range(tree)} (budget spent)", failures=tuple(failures),
                           elapsed_s=round(time.monotonic() - start, 1))
    report = Report.of(culprit, tree, bisection.steps, checked, time.monotonic() - start, bisection.sizing.told())
    report.write_as(job.out, f"bisect{suffix}")
    at_culprit = recorded.last.get(culprit)
    explained = [t for t in failures if at_culprit is not None and at_culprit.signatures.get(t) == expected.get(t)]
    verified = not report.problems
    line = (f"culprit: {culprit[:12]} {report.subject} ({report.author.split(' <')[0]}), "
            + ("verified" if verified else "NOT verified: " + "; ".join(report.problems)) + f", {sure_text(report.sure)}")
    return Finding(line, culprit, report.subject, report.author, verified, tuple(explained or failures), night,
                   str(job.out / f"bisect{suffix}.md"), round(time.monotonic() - start, 1))
