"""How long each subtest took in earlier runs (<cache>/durations.json): the plan's longest-first order."""
from __future__ import annotations

from pathlib import Path

from harness.cache import locked, read_json, write_json
from harness.results import Status, SuiteRun
from harness.settings import SUITES_DIR
from harness.suites import Suite

FILE = "durations.json"
# The weights of --shard's split: in the checkout, so that the n jobs of a CI matrix (n caches, each job recording
# its own durations as it ends) agree on who runs what. Measured here (TCG); refresh from a cache's durations.json.
SHARD_FILE = SUITES_DIR / "durations.json"


def load(cache_dir: Path, suite: Suite) -> dict[str, float]:
    return _read(cache_dir / FILE, suite)


def for_sharding(suite: Suite) -> dict[str, float]:
    """Each subtest's weight in --shard's split (suites/durations.json), whatever this machine's cache holds."""
    return _read(SHARD_FILE, suite)


def _read(path: Path, suite: Suite) -> dict[str, float]:
    known = read_json(path, {})
    try:
        return {str(k): float(v) for k, v in known.get(suite.name, {}).items()}
    except (AttributeError, TypeError, ValueError):
        return {}


def record(cache_dir: Path, suite: Suite, run: SuiteRun) -> None:
    """Keep how long each subtest took (passed or failed), for the next run's plan; concurrent runs add theirs."""
    prefix = f"{suite.test}/"
    with locked(cache_dir, "durations"):
        known = read_json(cache_dir / FILE, {})
        if not isinstance(known, dict):
            known = {}
        mine = known.setdefault(suite.name, {})
        for r in run.subtests:
            if r.duration_s is not None and r.status in (Status.PASSED, Status.FAILED, Status.FLAKY):
                mine[r.name.removeprefix(prefix)] = r.duration_s
        write_json(cache_dir / FILE, known)
