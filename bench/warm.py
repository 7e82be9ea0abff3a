"""P5, measured in one run: a cold `pytest -k mptcp/base` (no warm guest: it boots one)
against the same run attaching to a warm guest (--keep-guest, second run).

Each side runs `--rounds` times; medians compared. The last line is `P5 warm speedup: <x>`.
Usage: python bench/warm.py [--rounds N] [--subtest base]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(*args: str) -> float:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "suites", *args],
                          cwd=REPO, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return took


def stop_warm_guests() -> None:
    subprocess.run([sys.executable, "-m", "harness", "guests", "stop", "--all"], cwd=REPO, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--subtest", default="base")
    args = ap.parse_args()
    select = ["-k", f"mptcp/{args.subtest}"]
    cold, warm = [], []
    try:
        for round_ in range(1, args.rounds + 1):
            stop_warm_guests()  # the cold side shares the machine with no idle guest
            cold.append(timed(*select))  # one-shot: boots its own guest
            timed(*select, "--keep-guest")  # boots the guest that the warm side attaches to (not measured)
            warm.append(timed(*select, "--keep-guest"))
            print(f"round {round_}: cold {cold[-1]:.1f} s, warm {warm[-1]:.1f} s", flush=True)
    finally:
        stop_warm_guests()
    print(f"medians: cold {statistics.median(cold):.1f} s, warm {statistics.median(warm):.1f} s")
    print(f"P5 warm speedup: {statistics.median(cold) / statistics.median(warm):.2f}")


if __name__ == "__main__":
    main()
