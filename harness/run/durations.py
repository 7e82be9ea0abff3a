"""How long each subtest took in earlier runs (<cache>/durations.json): the plan's longest-first order."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.cache import locked, read_json, write_json
from harness.data import SUITES_DIR
from harness.results import RAN_TO_ITS_END, Status, SuiteRun
from harness.suites import Suite

FILE = "durations.json"
# The weights of --shard's split: in the checkout, so that the n jobs of a CI matrix (n caches, each job recording
# its own durations as it ends) agree on who runs what. Measured here (TCG); refresh from a cache's durations.json.
SHARD_FILE = SUITES_DIR / "durations.json"


ABSENT = "not in build"  # durations.json's key: per suite, per kernel, the subtests its build did not have
ABSENT_KERNELS = 20  # kernels remembered per suite (the latest)


def load(cache_dir: Path, suite: Suite, kernel: str | None = None) -> dict[str, float]:
    """Seconds per subtest; with `kernel`, 0 for those an earlier run found not in its build (7.3 has 4 of the
    MPTCP test's 19): a plan that guessed them at the others' mean dealt the real ones out at random."""
    known = read_json(cache_dir / FILE, {})
    found = _seconds(known, suite)
    if kernel is not None:
        try:
            found.update({str(name): 0.0 for name in known[ABSENT][suite.name][kernel]})
        except (KeyError, TypeError):
            pass
    return found


def for_sharding(suite: Suite) -> dict[str, float]:
    """Each subtest's weight in --shard's split (suites/durations.json), whatever this machine's cache holds."""
    return _read(SHARD_FILE, suite)


def _read(path: Path, suite: Suite) -> dict[str, float]:
    return _seconds(read_json(path, {}), suite)


def _seconds(known: Any, suite: Suite) -> dict[str, float]:
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
            if r.duration_s is not None and r.status in RAN_TO_ITS_END:
                mine[r.name.removeprefix(prefix)] = r.duration_s
        _absent(known, suite, run)
        write_json(cache_dir / FILE, known)


def _absent(known: dict[str, Any], suite: Suite, run: SuiteRun) -> None:
    """Remember which subtests this run's kernel did not have (the latest ABSENT_KERNELS kernels per suite)."""
    kernels = known.setdefault(ABSENT, {}).setdefault(suite.name, {})
    kernels.pop(run.kernel, None)  # (re-inserted last: the latest)
    kernels[run.kernel] = sorted(r.name.removeprefix(f"{suite.test}/") for r in run.subtests
                                 if r.status is Status.NOT_IN_BUILD)
    for old in list(kernels)[:-ABSENT_KERNELS]:
        del kernels[old]
