"""Concurrent runs share one cache: filling it is serialised."""
import threading
import time
from pathlib import Path

from harness.cache import locked


def test_cache_lock_serialises_preparation(tmp_path: Path) -> None:
    order: list[str] = []

    def fill(tag: str) -> None:
        with locked(tmp_path, "prepare"):
            order.append(f"{tag} in")
            time.sleep(0.2)
            order.append(f"{tag} out")

    threads = [threading.Thread(target=fill, args=(t,)) for t in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert order in (["a in", "a out", "b in", "b out"], ["b in", "b out", "a in", "a out"])
