"""Where a bisection moves between commits: a worktree of the harness's own (the user's checkout is never touched)
or, for the nightly's own clone, the clone itself; and a run made on the commit checked out there."""
from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType

from harness.bisect.outcome import Outcome
from harness.cache import locked, used
from harness.errors import BadInput
from harness.kernel import git
from harness.kernel.tree import move_builds


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


def checked_out(tree: Worktree, run: Callable[[str], Outcome]) -> Callable[[str], Outcome]:
    """run_once(commit): `run(commit)` with the commit checked out in the worktree (verification goes back to commits)."""
    def run_once(commit: str) -> Outcome:
        if tree.rev("HEAD") != commit:
            tree.git("checkout", "-q", "--detach", commit)
        return run(commit)
    return run_once
