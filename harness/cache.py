"""The harness cache is shared by concurrent runs (pytest-xdist workers, two terminals)."""
from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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
