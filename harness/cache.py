"""The harness cache is shared by concurrent runs (pytest-xdist workers, two terminals)."""
from __future__ import annotations

import fcntl
import shutil
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


def require_free_space(cache_dir: Path, needed_gb: float, for_what: str) -> None:
    """Stop before a long job that would fill the disk half way."""
    from harness.errors import BadInput

    probe = cache_dir
    while not probe.exists():
        probe = probe.parent
    free_gb = shutil.disk_usage(probe).free / 1e9
    if free_gb < needed_gb:
        raise BadInput(
            f"not enough disk for {for_what}: {free_gb:.1f} GB free under {probe}, about {needed_gb:.1f} GB needed; "
            "free some space or point HARNESS_CACHE elsewhere"
        )
