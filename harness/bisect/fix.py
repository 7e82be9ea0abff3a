"""Does my patch fix it? (`harness verify-fix`): the failure reproduced on a base commit, then the fix run N times.

One passing run of a fix for a flaky failure is a false "Tested-by" (syzbot's users asked for
this). So the selection first runs on the base commit, --reproduce rounds, and stops with one
line when it never fails there; then on the fix commit, --count rounds, stopping at the first
failure. Both commits are checked out in a worktree of the harness's own (bisect's: the user's
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

    def rate(self, failed_first: bool = False) -> str:
        """"3 of 3 failed", or "0 failed of 20" (failed_first)."""
        told = f"{self.failed} failed of {self.ran}" if failed_first else f"{self.failed} of {self.ran} failed"
        return (told if self.ran else "no round ran") + (f" ({self.untestable} could not tell)" if self.untestable else "")


def run_rounds(settings: Settings, chosen: list[Selection], rounds: int, stop_at_failure: bool,
               say: Say) -> tuple[int, int, int, tuple[str, ...], list[str]]:
    """The selection `rounds` times in one persistent guest: (ran, failed, untestable, first failure, verdicts)."""
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
                if stop_at_failure:
                    break
            elif verdict.kind is Kind.UNTESTABLE:
                untestable += 1
    return ran, failed, untestable, first, verdicts


def on_commit(tree: Worktree, commit: str, settings: Settings, chosen: list[Selection], rounds: int,
              stop_at_failure: bool, say: Say) -> Rounds:
    """Check `commit` out in the worktree, build it, run its rounds."""
    tree.git("checkout", "-q", "--detach", commit)
    found = Rounds(commit, tree.git("log", "-1", "--format=%s", commit).strip())
    say(f"{commit[:12]} {found.subject}: {rounds} round(s) of {', '.join(s for c in chosen for s in map(c.suite.full_name, c.subtests))}")
    start = time.monotonic()
    try:
        found.ran, found.failed, found.untestable, found.first_failure, found.rounds = run_rounds(
            dataclasses.replace(settings, kernel_tree=tree.path), chosen, rounds, stop_at_failure, say)
    except BuildFailed as e:
        found.why = f"does not build: {str(e).splitlines()[0]}"
    except InfraError as e:
        found.why = f"no guest: {str(e).splitlines()[0]}"
    found.seconds = round(time.monotonic() - start, 1)
    return found


def verdict(base: Rounds, fix: Rounds, count: int) -> tuple[int, str]:
    """The exit code and the closing line: 0 fixed, 1 not fixed, 2 the failure does not reproduce, 3 no answer."""
    b, f = base.commit[:12], fix.commit[:12]
    if base.why or fix.why:
        return Exit.INFRA, f"no answer: {b if base.why else f} {base.why or fix.why}"
    if base.failed == 0:
        return Exit.BAD_INPUT, (f"the failure does not reproduce on {b}: {base.rate()}; nothing to verify (a rarer "
                                "failure needs more --reproduce rounds)")
    told = f"reproduced on {b}: {base.rate()}; with the fix {f}: {fix.rate(failed_first=True)}"
    if fix.failed:
        return Exit.FAILED, f"{told} (stopped at its first failure): not fixed"
    if fix.ran - fix.untestable == 0:
        return Exit.INFRA, f"{told}: no round of the fix could tell"
    return Exit.PASSED, f"{told}" + (f" of {count} asked" if fix.ran < count else "") + ": fixed"


def verify_fix(repo: Path, base_rev: str, fix_rev: str, settings: Settings, chosen: list[Selection],
               reproduce: int, count: int, out: Path, say: Say) -> int:
    """The three steps (reproduce on the base, the fix N times, both rates); verify-fix.json in `out`."""
    with Worktree(repo, settings.cache_dir) as tree:
        base_commit, fix_commit = tree.rev(base_rev), tree.rev(fix_rev)
        if base_commit == fix_commit:
            raise BadInput(f"--base {base_rev} and --fix {fix_rev} are the same commit: give the fix's own commit")
        base = on_commit(tree, base_commit, settings, chosen, reproduce, False, say)
        fix = Rounds(fix_commit, "")
        if base.failed and not base.why:
            fix = on_commit(tree, fix_commit, settings, chosen, count, True, say)
    code, line = verdict(base, fix, count)
    write_json(out / "verify-fix.json", {"base": dataclasses.asdict(base), "fix": dataclasses.asdict(fix),
                                        "exit": int(code), "verdict": line})
    for text in base.first_failure[:12]:
        say(f"  {text}")
    say(line)
    say(f"report: {out / 'verify-fix.json'}")
    return code
