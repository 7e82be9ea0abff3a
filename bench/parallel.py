"""P1 and P2, measured in one run on this machine (not a timed test: the ratios are what matter).

P1 speedup  = (one cold guest running `test_progs -t mptcp` serially, the MPTCP CI's way)
              / (the harness's own plan for the same subtests, from a cold boot)
P2 overhead = (the harness running one subtest: `pytest -k mptcp/base`)
              / (a bare `vng --exec 'test_progs -t mptcp/base'`)

Each side runs once per round, the sides alternating. The figures compare each side's fastest
round: on this kind of machine the noise is the host's and only ever adds time (a pure-Python
loop, no guest, no harness, takes 1.9 to 3.3 s from one run to the next here, and two copies
started together differ by up to 40 %; a slow guest boot is slower in every phase alike), so the
fastest round is the one the machine disturbed least, as Python's timeit reasons. Printed too:
the same ratios of the medians, each round's P1 and P2, and each side's min / median / max, so
that a noisy machine shows as spread rather than as a result. Rounds go on (at least --rounds,
at most --max-rounds) until the minima's P1 and P2 moved less than 1 % over the last two rounds.
The kernel and test_progs come from the harness cache (a first `./run mptcp` fills it).
Usage: python bench/parallel.py [--rounds N] [--max-rounds M] [--subtest base]
"""
from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import durations, guest  # noqa: E402
from harness.kernel import debian  # noqa: E402
from harness.plan import plan_batches  # noqa: E402
from harness.selftests import build_test_progs  # noqa: E402
from harness.settings import SUITES_DIR, Settings, default_cache_dir  # noqa: E402
from harness.suites import load_suite  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - start
    if proc.returncode not in (0,):
        sys.exit(f"benchmark command failed ({proc.returncode}): {shlex.join(argv)}\n{proc.stdout[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=8, help="at least this many rounds (default 8)")
    ap.add_argument("--max-rounds", type=int, default=16, help="at most this many (default 16)")
    ap.add_argument("--subtest", default="base")
    args = ap.parse_args()

    settings = Settings(cache_dir=default_cache_dir())
    kernel = debian.fetch(debian.spec_for(None), settings.cache_dir)
    payload = build_test_progs(kernel, settings.cache_dir, settings.build_jobs, say=lambda _: None, tests=("mptcp",))
    use_kvm, why = guest.probe_kvm(kernel, settings.cache_dir)
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    config = guest.GuestConfig(kernel, settings.guest_cpus, settings.guest_memory, use_kvm, kernel_console=False)
    plan = plan_batches(suite, suite.subtests, durations.load(settings.cache_dir, suite), settings.guest_concurrency(use_kvm))
    print(f"machine: {os.cpu_count()} cores, {'KVM' if use_kvm else 'TCG'} ({why}); guest: {config.cpus} vCPUs")
    print("harness plan: " + "; ".join(
        f"batch {b.index}: {', '.join(b.subtests)}" + (" + the rest of the test" if b.runs_rest else "") for b in plan))

    env = guest.vng_environment()  # the harness's side sets up its guests' own (guest.guest_environment)
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite.path)]  # this suite only
    with tempfile.TemporaryDirectory() as scratch:
        def bare(selector: str) -> tuple[list[str], dict[str, str]]:
            command = f"cd {shlex.quote(str(payload.directory))} && ./test_progs -t {selector}"
            return guest.vng_argv(config, Path(scratch), command), guest.guest_environment(config)

        sides = {
            "serial": bare(suite.test),
            "harness": (pytest, env),
            "bare one": bare(f"{suite.test}/{args.subtest}"),
            "harness one": ([*pytest, "-k", f"{suite.test}/{args.subtest}"], env),
        }
        times: dict[str, list[float]] = {k: [] for k in sides}
        history: list[tuple[float, float]] = []  # (P1, P2) of the minima after each round
        for round_ in range(1, args.max_rounds + 1):
            for name, (argv, side_env) in sides.items():
                times[name].append(timed(argv, side_env))
            p1, p2 = ratios({k: v[-1] for k, v in times.items()})
            print(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
                  + f"; P1 {p1:.3f}, P2 {p2:.3f}", flush=True)
            history.append(ratios({k: min(v) for k, v in times.items()}))
            if round_ >= args.rounds and settled(history):
                break
    for name, values in times.items():
        print(f"{name:12} min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s")
    p1, p2 = history[-1]
    m1, m2 = ratios({k: statistics.median(v) for k, v in times.items()})
    print(f"rounds: {len(history)}")
    print(f"medians: P1 {m1:.3f}, P2 {m2:.3f}")
    print(f"P1 speedup: {p1:.3f}")
    print(f"P2 overhead: {p2:.3f}")


def ratios(t: dict[str, float]) -> tuple[float, float]:
    return t["serial"] / t["harness"], t["harness one"] / t["bare one"]


def settled(history: list[tuple[float, float]], within: float = 0.01) -> bool:
    """The minima's P1 and P2 moved less than `within` (relative) over the last two rounds."""
    if len(history) < 3:
        return False
    recent = history[-3:]
    return all(max(r[i] for r in recent) - min(r[i] for r in recent) <= within * recent[-1][i] for i in (0, 1))


if __name__ == "__main__":
    main()
