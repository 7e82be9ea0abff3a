"""What the results history costs: a run's recording, and `flakes` over 100 nights of every suite.

    python bench/history.py [--nights 100] [--records 100]

A history file in a temporary cache, filled here with outcomes of every subtest of suites/ (32 today), two modes
a night, statuses drawn from a fixed seed (mostly passes, a few failures, flaky ones). Prints, measured in this run:
  H1 record: milliseconds per record() of one run of every suite (median and slowest of --records runs)
  H2 flakes: seconds to read every outcome of --nights nights and make the rates (what `flakes` does)
  H3 flakes: seconds for the whole `python -m harness flakes --json` command over that file
"""
from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.data import SUITES_DIR  # noqa: E402
from harness.history import History, Outcome  # noqa: E402
from harness.report.flakes import rates  # noqa: E402
from harness.results import Status  # noqa: E402
from harness.suites import all_suites  # noqa: E402

STATUSES = [Status.PASSED] * 94 + [Status.FAILED] * 3 + [Status.FLAKY] * 2 + [Status.TIMEOUT]


def one_run(names: list[tuple[str, str]], run: str, mode: str, when: float, rng: random.Random) -> list[Outcome]:
    return [Outcome(run, "night", test, suite, mode, f"tree:/srv/net-next:{mode}:{run}", status,
                    "" if status is Status.PASSED else "test_x:FAIL:N", 1.5, when, f"/nights/{run}/{mode}/results.json")
            for suite, test in names for status in [rng.choice(STATUSES)]]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nights", type=int, default=100)
    parser.add_argument("--records", type=int, default=100)
    args = parser.parse_args()
    names = [(s.name, s.full_name(t)) for s in all_suites(SUITES_DIR) for t in s.subtests]
    rng = random.Random(7)
    with tempfile.TemporaryDirectory() as tmp:
        history = History(Path(tmp))
        took = []
        for n in range(args.records):
            outcomes = one_run(names, f"pytest-{n}", "prebuilt", time.time(), rng)
            start = time.perf_counter()
            history.record(outcomes)
            took.append(1000 * (time.perf_counter() - start))
        print(f"H1 record: {statistics.median(took):.1f} ms median, {max(took):.1f} ms slowest, per run of "
              f"{len(names)} subtests ({args.records} runs)")
        for night in range(args.nights):
            for mode in ("normal", "debug"):
                history.record(one_run(names, f"night-{night:03d}", mode, 1e9 + night * 86400, rng))
        start = time.perf_counter()
        found = rates(history.outcomes())
        print(f"H2 flakes: {time.perf_counter() - start:.2f} s for {len(found)} rows over "
              f"{args.nights} nights x 2 modes x {len(names)} subtests (+{args.records} runs)")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "harness", "flakes", "--json", "--cache", tmp], check=True,
                       stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent)
        print(f"H3 flakes: {time.perf_counter() - start:.2f} s for the whole command")


if __name__ == "__main__":
    main()
