"""git, called one way: the nightly's clone of a URL, bisect's worktree, and what a tree holds now.

A failing command is one line: what ran, where, and git's last line (InfraError); a revision
that names no commit is the caller's bad input (commit_of gives None).
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

from harness import proc as procs
from harness.cache import locked
from harness.errors import InfraError
from harness.kernel import BUILD_PREFIX


def run(where: Path, *args: str) -> tuple[int, str]:
    """git's exit code and its output (stdout and stderr), whatever it says."""
    code, out = procs.run(["git", "-C", str(where), *args])
    return code, out.decode(errors="replace")


def last_line(text: str) -> str:
    """git's reason: its first "fatal:" or "error:" line (more lines and hints may follow it), else its last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    reasons = [ln for ln in lines if ln.startswith(("fatal:", "error:"))]
    return (reasons[:1] or lines[-1:] or ["no output"])[0][:300]


def git(where: Path, *args: str) -> str:
    """git's output; a failure is an InfraError naming the command, the place and git's last line."""
    code, text = run(where, *args)
    if code != 0:
        raise InfraError(f"git {' '.join(args)} in {where} failed: {last_line(text)}")
    return text


def is_checkout(path: Path) -> bool:
    return (path / ".git").exists()


def commit_of(where: Path, rev: str) -> str | None:
    """The commit `rev` names in the checkout at `where` (full hash), or None when it names none."""
    code, text = run(where, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return text.strip() if code == 0 and text.strip() else None


def clone_dir(url: str, cache_dir: Path) -> Path:
    """The harness's own clone of url: one per URL, under the cache."""
    name = url.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git") or "tree"
    return cache_dir / "git" / f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:12]}"


def fetch(url: str, branch: str | None, cache_dir: Path) -> tuple[Path, str]:
    """The branch's newest commit, checked out alone (shallow) in the harness's clone of url: (clone, commit).

    A fetch that fails or is killed leaves the clone as it was: the next one starts over in it.
    """
    clone = clone_dir(url, cache_dir)
    with locked(clone.parent, clone.name):  # one harness at a time in this clone
        if not is_checkout(clone):
            shutil.rmtree(clone, ignore_errors=True)
            clone.mkdir(parents=True)
            git(clone, "init", "-q")
        for stale in ("shallow.lock", "index.lock"):  # a killed git left them; no other git runs here now
            (clone / ".git" / stale).unlink(missing_ok=True)
        code, text = run(clone, "fetch", "-q", "--depth", "1", url, branch or "HEAD")  # a night builds one commit
        if code != 0:
            raise InfraError(f"could not fetch {branch or 'HEAD'} from {url}: {last_line(text)}")
        git(clone, "checkout", "-q", "-f", "--detach", "FETCH_HEAD")
        git(clone, "clean", "-q", "-f", "-d", "-x", "-e", f"/{BUILD_PREFIX}*")  # anything but the build dirs
        return clone, git(clone, "rev-parse", "HEAD").strip()


def add_worktree(repo: Path, path: Path) -> None:
    """A detached checkout of repo's HEAD at path (any earlier one there removed first)."""
    remove_worktree(repo, path)
    path.parent.mkdir(parents=True, exist_ok=True)
    git(repo, "worktree", "add", "--detach", str(path), "HEAD")


def remove_worktree(repo: Path, path: Path) -> None:
    run(repo, "worktree", "remove", "--force", str(path))
    run(repo, "worktree", "prune")


def content(tree: Path, paths: list[str]) -> bytes:
    """What paths hold now, whatever the commit: git's ids of them at HEAD, the uncommitted changes and the untracked
    files (names and content) under them. Two checkouts, or two commits, with the same content give the same."""
    untracked = _stdout(tree, "ls-files", "--others", "--exclude-standard", "-z", "--", *paths)
    return _stdout(tree, "ls-tree", "HEAD", "--", *paths) + _stdout(tree, "diff", "HEAD", "--", *paths) + untracked + b"".join(
        hashlib.sha256((tree / name.decode()).read_bytes()).digest() for name in untracked.split(b"\0") if name)


def state(tree: Path, pathspec: list[str]) -> bytes:
    """HEAD, the uncommitted changes and the untracked files under pathspec: what the checkout holds now
    (stdout only: quick commands, not contained)."""
    return _stdout(tree, "rev-parse", "HEAD") + _stdout(tree, "diff", "HEAD", "--", *pathspec) + \
        _stdout(tree, "ls-files", "--others", "--exclude-standard", "--", *pathspec)


def _stdout(tree: Path, *args: str) -> bytes:
    """A quick git command's stdout (not contained): what the checkout holds."""
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True).stdout
