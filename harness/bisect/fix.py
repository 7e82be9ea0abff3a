"""Does my patch fix it? (`harness verify-fix`): the failure reproduced on a base commit, then the fix run N times.

One passing run of a fix for a flaky failure is a false "Tested-by" (syzbot's users asked for
this). So the selection first runs on the base commit until it has failed 3 times (at most
--reproduce rounds): the base's failure rate; it stops with one line when it never fails there.
Then on the fix commit, stopping at the first failure, or once its passes make a commit that
still fails like the base unlikely enough (--confidence, harness.bisect.sizing), or at --count
rounds (then how sure it is is said). Both commits are checked out in a worktree of the harness's own (bisect's: the user's
checkout is not touched) and built as any tree is, in one build dir, so the second build is
incremental. A commit's rounds run in one persistent guest, not one boot per round.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import history, pipeline
from harness.bisect.outcome import evidence
from harness.bisect.sizing import MEASURE_FAILURES, Rate, Sizing, percent_sure
from harness.bisect.step import Kind, verdict_of
from harness.bisect.worktree import Worktree
from harness.cache import write_json
from harness.errors import BadInput, BuildFailed, Exit, InfraError
from harness.settings import Settings
from harness.suites import Selection

Say = Callable[[str], object]


@dataclass
class Rounds:
    """A commit's rounds: how many ran, failed, or could not tell (nothing ran, a result lost)."""

    commit: str
    subject: str
    ran: int = 0
    failed: int = 0
    untestable: int = 0
    why: str = ""  # the build failed, or the guest never came up: no round ran
    first_failure: tuple[str, ...] = ()  # its failing subtests' last lines and the kernel's messages
    seconds: float = 0.0
    rounds: list[str] = field(default_factory=list)  # each round's verdict and why

    @property
    def told(self) -> int:
        """Rounds that passed or failed (not those that could not tell)."""
        return self.ran - self.untestable

    def sizing(self, confidence: float) -> Sizing:
        """The fix's rounds sized by this base's failure rate."""
        return Sizing(confidence, rate=Rate(self.failed, self.told))

    def rate(self) -> str:
        """"3 failed of 9 (33 %, 95 %: 12-65 %)", and the rounds that could not tell."""
        return (history.rate_text(self.failed, self.told) if self.told else "no round told") + \
            (f" ({self.untestable} could not tell)" if self.untestable else "")


Enough = Callable[[int, int], bool]  # (rounds told, failed): stop now


def run_rounds(settings: Settings, chosen: list[Selection], rounds: int, enough: Enough,
               say: Say) -> tuple[int, int, int, tuple[str, ...], list[str]]:
    """The selection at most `rounds` times in one persistent guest, until `enough`: (ran, failed, untestable, first
    failure, verdicts)."""
    def indented(line: str) -> None:
        say(f"  {line}")
    prepared = pipeline.prepare(pipeline.PrepareRequest.of(settings), [s.suite for s in chosen], indented)
    ran = failed = untestable = 0
    first: tuple[str, ...] = ()
    verdicts: list[str] = []
    with pipeline.Session(dataclasses.replace(settings, persistent_guest=True), prepared, indented,
                          progress=lambda line: None) as session:
        for n in range(1, rounds + 1):
            runs = [session.run_in_guest(sel.suite, sub) for sel in chosen for sub in sel.subtests]
            history.keep(settings, runs, "verify-fix", pipeline.mode_of(settings), say=indented)
            verdict = verdict_of([r for run in runs for r in run.subtests])
            ran += 1
            verdicts.append(f"{verdict.kind.value}: {verdict.why}")
            say(f"  round {n}/{rounds}: {verdict.kind.value} ({verdict.why})")
            if verdict.kind is Kind.BAD:
                failed += 1
                first = first or evidence(runs)
            elif verdict.kind is Kind.UNTESTABLE:
                untestable += 1
            if enough(ran - untestable, failed):
                break
    return ran, failed, untestable, first, verdicts


def on_commit(tree: Worktree, commit: str, settings: Settings, chosen: list[Selection], rounds: int,
              enough: Enough, say: Say) -> Rounds:
    """Check `commit` out in the worktree, build it, run its rounds."""
    tree.git("checkout", "-q", "--detach", commit)
    found = Rounds(commit, tree.git("log", "-1", "--format=%s", commit).strip())
    names = ", ".join(s for c in chosen for s in map(c.suite.full_name, c.subtests))
    say(f"{commit[:12]} {found.subject}: up to {rounds} round(s) of {names}")
    start = time.monotonic()
    try:
        found.ran, found.failed, found.untestable, found.first_failure, found.rounds = run_rounds(
            dataclasses.replace(settings, kernel_tree=tree.path), chosen, rounds, enough, say)
    except BuildFailed as e:
        found.why = f"does not build: {str(e).splitlines()[0]}"
    except InfraError as e:
        found.why = f"no guest: {str(e).splitlines()[0]}"
    found.seconds = round(time.monotonic() - start, 1)
    return found


def verdict(base: Rounds, fix: Rounds, count: int, confidence: float = Sizing().confidence) -> tuple[int, str]:
    """The exit code and the closing line: 0 fixed, 1 not fixed, 2 the failure does not reproduce, 3 no answer."""
    b, f = base.commit[:12], fix.commit[:12]
    if base.why or fix.why:
        return Exit.INFRA, f"no answer: {b if base.why else f} {base.why or fix.why}"
    if base.failed == 0:
        return Exit.BAD_INPUT, (f"the failure does not reproduce on {b}: {base.rate()}; nothing to verify (a rarer "
                                "failure needs more --reproduce rounds)")
    told = f"reproduced on {b}: {base.rate()}; with the fix {f}: {fix.rate()}"
    if fix.failed:
        return Exit.FAILED, f"{told} (stopped at its first failure): not fixed"
    if fix.told == 0:
        return Exit.INFRA, f"{told}: no round of the fix could tell"
    sure = base.sizing(confidence).sure(fix.told) or 0.0
    if sure >= confidence:
        return Exit.PASSED, f"{told}: fixed, {percent_sure(sure)} confident"
    return Exit.PASSED, (f"{told} of {count} asked: fixed as far as they tell, only {percent_sure(sure)} confident (more "
                         f"--count rounds to be {percent_sure(confidence)} sure)")


def enough_on_base(told: int, failed: int) -> bool:
    return failed >= MEASURE_FAILURES


def enough_on_fix(base: Rounds, confidence: float) -> Enough:
    """The fix's rounds stop at a failure, or once a commit failing like the base would have failed (confidence)."""
    sizing = base.sizing(confidence)

    def enough(told: int, failed: int) -> bool:
        return failed > 0 or (sizing.sure(told) or 0.0) >= confidence
    return enough


def verify_fix(repo: Path, base_rev: str, fix_rev: str, settings: Settings, chosen: list[Selection],
               reproduce: int, count: int, out: Path, say: Say, confidence: float = Sizing().confidence) -> int:
    """The three steps (the base's rate, the fix's rounds sized by it, both rates); verify-fix.json in `out`."""
    with Worktree(repo, settings.cache_dir) as tree:
        base_commit, fix_commit = tree.rev(base_rev), tree.rev(fix_rev)
        if base_commit == fix_commit:
            raise BadInput(f"--base {base_rev} and --fix {fix_rev} are the same commit: give the fix's own commit")
        base = on_commit(tree, base_commit, settings, chosen, reproduce, enough_on_base, say)
        fix = Rounds(fix_commit, "")
        if base.failed and not base.why:
            fix = on_commit(tree, fix_commit, settings, chosen, count, enough_on_fix(base, confidence), say)
    code, line = verdict(base, fix, count, confidence)
    write_json(out / "verify-fix.json", {"base": dataclasses.asdict(base), "fix": dataclasses.asdict(fix),
                                        "exit": int(code), "verdict": line})
    for text in base.first_failure[:12]:
        say(f"  {text}")
    say(line)
    say(f"report: {out / 'verify-fix.json'}")
    return code
