"""The harness cache is shared by concurrent runs (pytest-xdist workers, two terminals)."""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def locked(cache_dir: Path, name: str) -> Iterator[None]:
    """Hold an exclusive lock while filling a part of the cache: the second comes to find it done."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(cache_dir / f"{name}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def require_free_space(cache_dir: Path, needed_gb: float, for_what: str,
                       elsewhere: str = "point HARNESS_CACHE elsewhere") -> None:
    """Stop before a long job that would fill the disk half way."""
    from harness.errors import BadInput

    probe = cache_dir
    while not probe.exists():
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    if free_gb < needed_gb:
        raise BadInput(
            f"not enough disk for {for_what}: {free_gb:.1f} GB free under {probe}, about {needed_gb:.1f} GB needed; "
            f"free some space{' or ' + elsewhere if elsewhere else ''}"
        )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Write a file atomically: a reader sees the old file or the new one, never half of one; a write that fails
    (a full disk, a signal) leaves the old file and no temporary one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_json(path: Path, data: object) -> None:
    """A JSON file, written atomically (write_atomic)."""
    write_atomic(path, json.dumps(data, indent=1, sort_keys=True) + "\n")


def read_json(path: Path, default: Any) -> Any:
    """A JSON cache file, or `default` when it is missing or unreadable (a cache can always be rebuilt)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return default


FULL_CHECK_EVERY = 20  # about one use in this many checks every file's sha256, whatever its size and mtime say


def manifest(directory: Path, patterns: tuple[str, ...]) -> dict[str, list[Any]]:
    """What a cache entry holds, to check it later: relative path -> [size, mtime_ns, sha256] of each file matching
    one of `patterns` (globs under directory)."""
    found: dict[str, list[Any]] = {}
    for pattern in patterns:
        for path in sorted(directory.glob(pattern)):
            if path.is_file() and not path.is_symlink():
                st = path.stat()
                found[str(path.relative_to(directory))] = [st.st_size, st.st_mtime_ns, file_sha256(path)]
    return found


def damage(directory: Path, files: dict[str, list[Any]], full: bool = False) -> str | None:
    """What is wrong with a cache entry against its manifest, in a few words, or None when it is whole. Cheap: size
    and mtime; a file whose size or mtime changed (or every file, with full) is checked by its sha256."""
    for name, (size, mtime_ns, digest) in files.items():
        path = directory / name
        try:
            st = path.stat()
        except OSError:
            return f"{name} is missing"
        if (st.st_size, st.st_mtime_ns) != (size, mtime_ns) or full:
            if st.st_size != size or file_sha256(path) != digest:
                return f"{name} changed since it was made (its sha256 differs)"
    return None


def move_aside(entry: Path, problem: str, then: str, say: Callable[[str], None]) -> None:
    """A damaged cache entry out of the way, kept to look at as <name>.damaged-<time> (the one before it removed),
    said in one line: "cache: <entry>: <problem>: moved aside to ..., <then>"."""
    for old in entry.parent.glob(f"{entry.name}.damaged-*"):
        shutil.rmtree(old, ignore_errors=True)
    aside = entry.with_name(f"{entry.name}.damaged-{int(time.time())}")
    entry.rename(aside)
    say(f"cache: {entry}: {problem}: moved aside to {aside.name}, {then}")


def full_check_now() -> bool:
    return random.randrange(FULL_CHECK_EVERY) == 0


# The cache's entries, for `harness cache verify|prune`: (folder, the stamp file with a manifest, or "" for none)
ENTRIES = (("payloads", "payload.json"), ("payloads", "kselftests.json"), ("kernels", "harness-kernel.json"),
           ("builds", ""), ("runs", ""), ("bisect", ""), ("worktrees", ""))
# What prune may remove in a folder: of worktrees/, only the build dirs a bisection parks between two runs
# (`<repo>.builds`, harness/bisect/tree.py), never a worktree git knows of
PRUNED = {"worktrees": "*.builds"}


def used(entry: Path) -> None:
    """Mark a cache entry as used now (its directory's mtime): `harness cache prune` keeps what was used lately."""
    try:
        os.utime(entry)
    except OSError:
        pass


def verify(cache_dir: Path) -> list[tuple[Path, str | None]]:
    """Every entry that has a manifest, fully checked: (entry, what is wrong or None)."""
    found = []
    for folder, stamp_name in ENTRIES:
        for stamp in sorted((cache_dir / folder).glob(f"*/{stamp_name}")) if stamp_name else []:
            known = read_json(stamp, None)
            problem = "no readable stamp" if not isinstance(known, dict) else damage(stamp.parent, known.get("files", {}),
                                                                                      full=True)
            found.append((stamp.parent, problem))
    return found


def prune(cache_dir: Path, older_than_s: float) -> tuple[list[Path], int]:
    """Remove the entries not used for older_than_s seconds (and damaged or partial leftovers of any age), but none
    a run holds the lock of; what was removed and the bytes freed."""
    removed, freed, now = [], 0, time.time()
    for folder in sorted({f for f, _ in ENTRIES}):
        for entry in sorted(p for p in (cache_dir / folder).glob(PRUNED.get(folder, "*")) if p.is_dir()):
            leftover = ".damaged-" in entry.name or ".partial-" in entry.name
            if not leftover and now - entry.stat().st_mtime < older_than_s:
                continue
            with _unless_locked(entry) as free:
                if free:
                    freed += sum(p.stat().st_size for p in entry.rglob("*") if p.is_file() and not p.is_symlink())
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry)
    return removed, freed


@contextmanager
def _unless_locked(entry: Path) -> Iterator[bool]:
    """Whether nobody holds the entry's lock (its `<name>.lock` beside it), holding it meanwhile."""
    lock = entry.with_name(f"{entry.name.split('.partial-')[0].split('.damaged-')[0]}.lock")
    if not lock.exists():
        yield True
        return
    with open(lock) as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
