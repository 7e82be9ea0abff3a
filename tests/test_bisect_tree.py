"""Bisecting commits: real git (a small repository made here), the step replaced by recorded outcomes per commit."""
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bisect.judge import judge, verify
from harness.bisect.kernels import bisect_list
from harness.bisect.outcome import Outcome
from harness.bisect.report import Report
from harness.bisect.sizing import Sizing, percent_sure
from harness.bisect.step import Kind, Verdict
from harness.bisect.tree import Bisection
from harness.bisect.worktree import Worktree, checked_out
from harness.cache import prune
from harness.errors import InfraError
from harness.kernel import BUILD_PREFIX
from tests.helpers import REPO_ROOT, run_harness


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """c0 .. c7, one file changed per commit; a dirty file and an untracked one the bisection must leave alone."""
    r = tmp_path / "linux"
    r.mkdir()
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.email", "dev@example.org")
    git(r, "config", "user.name", "A Developer")
    for n in range(8):
        (r / f"f{n}.c").write_text(f"int f{n};\n")
        git(r, "add", ".")
        git(r, "commit", "-q", "-m", f"c{n}")
    (r / "f0.c").write_text("int f0; /* uncommitted */\n")
    (r / "notes.txt").write_text("mine\n")
    return r


def by_subject(repo: Path, plan: dict[str, list[Kind]], calls: list[str]) -> Callable[[str], Outcome]:
    """run_once(commit): the next recorded outcome for that commit's subject (its last one repeats)."""
    subjects = dict(line.split(" ", 1) for line in git(repo, "log", "--format=%H %s").splitlines())

    def run_once(commit: str) -> Outcome:
        subject = subjects[commit]
        calls.append(subject)
        kinds = plan[subject]
        kind = kinds[min(calls.count(subject) - 1, len(kinds) - 1)]
        return Outcome(Verdict(kind, f"{subject} recorded"), image_sha256=subject, infra=kind is Kind.UNTESTABLE
                       and subject == "infra")
    return run_once


GOOD, BAD, SKIP = [Kind.GOOD], [Kind.BAD], [Kind.UNTESTABLE]


def built_in(tree: Worktree) -> Path:
    build = tree.path / f"{BUILD_PREFIX}normal-0123abcd"
    build.mkdir()
    (build / ".gitignore").write_text("*\n")  # as kbuild and the harness write it
    (build / "vmlinux").write_text("built")
    return build


def test_judge_repeats_a_pass_until_n_passes_and_stops_at_the_first_failure() -> None:
    seq = iter([Kind.GOOD, Kind.GOOD, Kind.BAD, Kind.GOOD])
    outcome, runs = judge(lambda: Outcome(Verdict(next(seq), "")), 3)
    assert (outcome.verdict.kind, runs) == (Kind.BAD, 3)
    outcome, runs = judge(lambda: Outcome(Verdict(Kind.BAD, "")), 3)
    assert (outcome.verdict.kind, runs) == (Kind.BAD, 1)


def test_culprit_found_unbuildable_commit_skipped_intermittent_failure_caught_checkout_untouched(repo: Path, tmp_path: Path) -> None:
    before = (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), (repo / "f0.c").read_text())
    # c5 breaks; after it, the failure shows only on a second run; c3 does not build
    plan = {"c0": GOOD, "c1": GOOD, "c2": GOOD, "c3": SKIP, "c4": GOOD,
            "c5": [Kind.GOOD, Kind.BAD], "c6": [Kind.GOOD, Kind.BAD], "c7": BAD}
    calls: list[str] = []
    with Worktree(repo, tmp_path / "cache") as tree:
        run_once = by_subject(repo, plan, calls)
        bisection = Bisection(tree, tree.rev("main~7"), tree.rev("main"), run_once, sizing=Sizing(max_runs=3), say=lambda _: None)
        culprit = bisection.find()
        report = Report.of(culprit, tree, bisection.steps, verify(culprit, tree.rev(f"{culprit}^"), run_once, Sizing(max_runs=3)), 1.0)
        worktree = tree.path
    assert report.subject == "c5" and report.author == "A Developer <dev@example.org>"
    assert report.problems == ()  # c5 failed again (its second run), c4 passed again
    assert "c5" in calls and all(calls.count(s) <= 3 for s in ("c1", "c2"))
    assert not worktree.exists() and git(repo, "worktree", "list").count("\n") == 1
    assert (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), (repo / "f0.c").read_text()) == before
    report.write(tmp_path / "out")
    assert "first bad: " in (tmp_path / "out" / "bisect.md").read_text()
    verifying = json.loads((tmp_path / "out" / "bisect.json").read_text())["verification"]  # its runs and times
    assert [(s["kind"], s["runs"]) for s in verifying] == [("bad", 1), ("good", 3)]
    assert "(verifying) | good |" in (tmp_path / "out" / "bisect.md").read_text()


def test_one_run_per_step_would_misplace_an_intermittent_culprit(repo: Path, tmp_path: Path) -> None:
    plan = {"c0": GOOD, "c1": GOOD, "c2": GOOD, "c3": GOOD, "c4": GOOD,
            "c5": [Kind.GOOD, Kind.BAD], "c6": [Kind.GOOD, Kind.BAD], "c7": BAD}
    with Worktree(repo, tmp_path / "cache") as tree:
        once = Bisection(tree, tree.rev("main~7"), tree.rev("main"), by_subject(repo, plan, []), sizing=Sizing(max_runs=1),
                         say=lambda _: None).find()
        assert git(repo, "show", "-s", "--format=%s", once).strip() == "c7"  # wrong: why runs default to 3


def test_too_many_infrastructure_failures_stop_the_bisection(repo: Path, tmp_path: Path) -> None:
    def infra(commit: str) -> Outcome:
        return Outcome(Verdict(Kind.UNTESTABLE, "guest lost"), infra=True)
    with Worktree(repo, tmp_path / "cache") as tree:
        with pytest.raises(InfraError, match="infrastructure reasons"):
            Bisection(tree, tree.rev("main~7"), tree.rev("main"), infra, say=lambda _: None).find()


def test_resume_does_not_run_what_was_judged(repo: Path, tmp_path: Path) -> None:
    plan = {f"c{n}": GOOD for n in range(5)} | {"c5": BAD, "c6": BAD, "c7": BAD}
    state = tmp_path / "state.json"
    first: list[str] = []
    with Worktree(repo, tmp_path / "cache") as tree:
        good, bad = tree.rev("main~7"), tree.rev("main")
        b = Bisection(tree, good, bad, by_subject(repo, plan, first), sizing=Sizing(max_runs=1), state_file=state, say=lambda _: None)
        assert git(repo, "show", "-s", "--format=%s", b.find()).strip() == "c5"
    again: list[str] = []
    with Worktree(repo, tmp_path / "cache") as tree:
        b = Bisection(tree, good, bad, by_subject(repo, plan, again), sizing=Sizing(max_runs=1), state_file=state, say=lambda _: None)
        b.resume()
        assert git(repo, "show", "-s", "--format=%s", b.find()).strip() == "c5"
    assert first and again == []


def test_sigterm_removes_the_worktree(repo: Path, tmp_path: Path) -> None:
    code = (
        "import signal, sys, time\n"
        "from pathlib import Path\n"
        "from harness.bisect.worktree import Worktree\n"
        "def stop(*_): raise KeyboardInterrupt\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        f"with Worktree(Path({str(repo)!r}), Path({str(tmp_path / 'cache')!r})) as t:\n"
        "    print(t.path, flush=True)\n"
        "    time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))
    assert proc.stdout is not None
    path = Path(proc.stdout.readline().strip())
    assert path.is_dir()
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)
    assert not path.exists() and git(repo, "worktree", "list").count("\n") == 1


def test_the_worktrees_build_dirs_wait_for_the_next_bisection_even_after_a_killed_one(repo: Path, tmp_path: Path) -> None:
    """Its kernel build dirs are inside the worktree (harness/kernel/tree.py): kept beside it between bisections,
    and taken out of a worktree a killed run left, so the next bisection builds incrementally."""
    with Worktree(repo, tmp_path / "cache") as tree:
        build = built_in(tree)
        assert git(tree.path, "status", "--porcelain") == ""
    assert not tree.path.exists() and git(repo, "worktree", "list").count("\n") == 1
    with Worktree(repo, tmp_path / "cache"):
        assert (build / "vmlinux").read_text() == "built"
    killed = Worktree(repo, tmp_path / "cache").__enter__()  # never left: the worktree stays, as after SIGKILL
    (killed.path / f"{BUILD_PREFIX}normal-0123abcd" / "vmlinux").write_text("built again")
    killed.held.close()  # its lock went with the process
    with Worktree(repo, tmp_path / "cache"):
        assert (build / "vmlinux").read_text() == "built again"


def test_cache_prune_removes_parked_builds_long_unused_but_not_while_a_bisection_of_the_repo_runs(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with Worktree(repo, cache) as tree:
        built_in(tree)
    parked, month_ago = cache / "worktrees" / f"{repo.name}.builds", time.time() - 40 * 86400
    assert (parked / f"{BUILD_PREFIX}normal-0123abcd" / "vmlinux").is_file()
    with Worktree(repo, cache) as tree:
        os.utime(parked, (month_ago, month_ago))
        assert prune(cache, 30 * 86400)[0] == []  # the bisection holds its lock
    worktree = cache / "worktrees" / "other"  # one a killed bisection of another repo left: git's, not prune's
    worktree.mkdir()
    for old in (parked, worktree):
        os.utime(old, (month_ago, month_ago))
    assert prune(cache, 30 * 86400)[0] == [parked] and worktree.is_dir()


def test_verification_runs_each_commit_checked_out_in_the_worktree(repo: Path, tmp_path: Path) -> None:
    """After bisect ends, HEAD is wherever it stopped: the culprit and its parent are checked out before their runs."""
    seen: list[str] = []
    with Worktree(repo, tmp_path / "cache") as tree:
        def run(commit: str) -> Outcome:
            seen.append(git(tree.path, "log", "-1", "--format=%s").strip())
            return Outcome(Verdict(Kind.BAD if seen[-1] == "c5" else Kind.GOOD, seen[-1]), image_sha256=seen[-1])
        checked = verify(tree.rev("main~2"), tree.rev("main~3"), checked_out(tree, run), Sizing(max_runs=2))
    assert seen == ["c5", "c4", "c4"] and checked.problems == ()


def test_a_list_of_kernels_gets_the_same_repeated_runs_verification_and_report(tmp_path: Path) -> None:
    """7.2 fails only on its second run: one run each would call 7.3 the first bad build."""
    plan = {"6.12": GOOD, "7.1": GOOD, "7.2": [Kind.GOOD, Kind.BAD], "7.3": BAD}
    calls: list[str] = []

    def run_once(kernel: str) -> Outcome:
        calls.append(kernel)
        kinds = plan[kernel]
        kind = kinds[min(calls.count(kernel) - 1, len(kinds) - 1)]
        return Outcome(Verdict(kind, f"{kernel} recorded"), image_sha256=kernel,
                       evidence=("mptcp/base failed", "kernel: WARNING") if kind is Kind.BAD else ())

    report = bisect_list(list(plan), run_once, Sizing(max_runs=3), lambda _: None)
    assert (report.commit, report.subject, report.problems) == ("7.2", "(last good: 7.1)", ())
    # the newest measured first (3 of 3 failed: a good step needs 2 passes to be 95 % sure), then the oldest
    assert [(s.commit, s.kind, s.runs, percent_sure(s.sure)) for s in report.steps] == [
        ("7.3", Kind.BAD, 3, "100 %"), ("6.12", Kind.GOOD, 2, "96 %"), ("7.2", Kind.BAD, 2, "100 %"),
        ("7.1", Kind.GOOD, 2, "96 %")]
    assert "3 failed of 3 (100 %, 95 %: 44-100 %)" in report.sizing
    report.write(tmp_path)
    assert "kernel: WARNING" in (tmp_path / "bisect.md").read_text()


def test_a_step_reports_the_build_and_run_time_of_all_its_runs() -> None:
    from harness.bisect.judge import judged_step

    step = judged_step("c1", lambda: Outcome(Verdict(Kind.GOOD, "1 passed"), build_s=10.0, run_s=5.0), Sizing(max_runs=3))
    assert (step.runs, step.build_s, step.run_s) == (3, 30.0, 15.0)
    broken = judged_step("c2", lambda: Outcome(Verdict(Kind.UNTESTABLE, "does not build"), build_s=99.0), Sizing(max_runs=3))
    assert (broken.runs, broken.build_s, broken.run_s) == (1, 99.0, 0.0)


def test_a_revision_that_names_no_commit_is_bad_input_in_one_line(repo: Path, tmp_path: Path) -> None:
    """Found trying main at 1191709: exit 3, as if the infrastructure had failed."""
    run = run_harness("bisect", "--kernel-tree", str(repo), "--good", "nosuchrev", "--bad", "main",
                      "--out", str(tmp_path / "out"), f"--harness-cache={tmp_path / 'cache'}")
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert "'nosuchrev' names no commit in" in run.stderr and str(repo) in run.stderr
    assert git(repo, "worktree", "list").strip().count("\n") == 0  # the harness's worktree is gone again


def test_a_step_that_fails_differently_is_cannot_tell_and_the_culprit_is_still_the_regression(repo: Path, tmp_path: Path) -> None:
    """Issue 38's rule, for `harness bisect` too: c6 is the regression (mptcp/base's check fails); c3, git bisect's
    first midpoint, panics instead (another failure): skipped, never bad. The bad end runs first and defines how."""
    from harness.bisect.judge import SameFailure

    regression = {"mptcp/base": "verify_msk:FAIL:bpf_map_lookup_elem unexpected error: -N"}
    panic = {"mptcp/base": "kernel panic: the guest died [no call trace]"}
    subjects = dict(line.split(" ", 1) for line in git(repo, "log", "--format=%H %s").splitlines())
    calls: list[str] = []

    def run_once(commit: str) -> Outcome:
        n = int(subjects[commit][1:])
        calls.append(subjects[commit])
        if n == 3:
            return Outcome(Verdict(Kind.BAD, "mptcp/base failed"), signatures=panic)
        if n >= 6:
            return Outcome(Verdict(Kind.BAD, "mptcp/base failed"), signatures=regression)
        return Outcome(Verdict(Kind.GOOD, "1 passed"))
    with Worktree(repo, tmp_path / "cache") as tree:
        same = SameFailure(run_once)
        bisection = Bisection(tree, tree.rev("main~7"), tree.rev("main"), same, sizing=Sizing(max_runs=1), say=lambda _: None,
                              check_bad_end=True)
        culprit = bisection.find()
        subject = tree.git("log", "-1", "--format=%s", culprit).strip()
    assert subject == "c6" and calls[:2] == ["c7", "c3"] and same.expected == regression
    (c3,) = [s for s in bisection.steps if subjects[s.commit] == "c3"]
    assert c3.kind is Kind.UNTESTABLE
    assert c3.why == "cannot tell: a different failure (mptcp/base: kernel panic: the guest died [no call trace])"


def test_a_bad_end_that_passes_is_bad_input(repo: Path, tmp_path: Path) -> None:
    from harness.errors import BadInput
    calls: list[str] = []
    with Worktree(repo, tmp_path / "cache") as tree:
        run_once = by_subject(repo, {f"c{n}": GOOD for n in range(8)}, calls)
        bisection = Bisection(tree, tree.rev("main~7"), tree.rev("main"), run_once, sizing=Sizing(max_runs=1), say=lambda _: None,
                              check_bad_end=True)
        with pytest.raises(BadInput, match="it must fail the selection"):
            bisection.find()
