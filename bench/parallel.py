"""P1 and P2, measured in one run on this machine (not a timed test: the ratios are what matter).

P1 speedup  = (one cold guest running `test_progs -t mptcp` serially, the MPTCP CI's way)
              / (the harness's own plan for the same subtests, from a cold boot: under TCG as many
                 one-shot guests at once as the host has cores, each its share of the batches)
P2 overhead = (the harness running one subtest: `pytest -k mptcp/base`)
              / (a bare `vng --exec 'test_progs -t mptcp/base'`)

Each side runs once per round, the sides alternating, and the medians are compared. Printed
too: each round's P1 and P2, and each side's min / median / max, so that a noisy machine shows
as spread rather than as a result. Rounds go on (at least --rounds, at most --max-rounds) until
the medians of P1 and P2 moved less than 1 % over the last two rounds. The kernel and
test_progs come from the harness cache (a first `./run mptcp` fills it). Last, a 90 % interval
for P1 and for P2 (bootstrap: the rounds drawn again with replacement, 2000 times, the same
ratio of medians each time): how far another run of the same length may land from this one.

Where each side's time goes (medians, the same rounds): `boot` from the guest's start to its
command's (the bare sides print /proc/uptime around test_progs, with shell built-ins; the harness's sides are read
from its markers in the run's console.log, of every guest: first batch start, last batch end), `command`
test_progs' own run, `outside` the wall time around the guest's command (the host's start-up,
QEMU, the kernel's first instants, power-off, the host's end). The host's speed swings from one
run to the next here (a pure-Python loop, no guest: 1.9 to 3.3 s), so the walls' spread is
mostly the machine's; a difference between the two sides that holds in every phase is not.
Usage: python bench/parallel.py [--rounds N] [--max-rounds M] [--subtest base]
"""
from __future__ import annotations

import argparse
import os
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import guest  # noqa: E402
from harness.data import SUITES_DIR  # noqa: E402
from harness.kernel import debian  # noqa: E402
from harness.payload.selftests_bpf import build_test_progs  # noqa: E402
from harness.run import durations  # noqa: E402
from harness.run.plan import plan_batches  # noqa: E402
from harness.settings import Settings, default_cache_dir  # noqa: E402
from harness.suites import load_suite  # noqa: E402

UPTIME = re.compile(r"^(\d+\.\d+) \d+\.\d+$", re.M)  # /proc/uptime, printed by the bare sides' command
MARK = re.compile(r"^\[\s*(\d+\.\d+)\] harness: batch \d+ (start|end)$", re.M)


def timed(argv: list[str], env: dict[str, str], runs: Path) -> tuple[float, dict[str, float]]:
    """The side's wall time, and its phases: from the uptimes it printed, else from the run the harness made."""
    before = set(runs.iterdir()) if runs.is_dir() else set()
    start = time.monotonic()
    proc = subprocess.run(argv, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    took = time.monotonic() - start
    if proc.returncode not in (0,):
        sys.exit(f"benchmark command failed ({proc.returncode}): {shlex.join(argv)}\n{proc.stdout[-2000:]}")
    if len(up := [float(u) for u in UPTIME.findall(proc.stdout)]) == 2:
        return took, phases(took, up[0], up[1])
    made = sorted(set(runs.iterdir()) - before)
    consoles = sorted((made[-1] / "round-1").glob("**/console.log")) if made else []  # guest-<k>/ when several
    marks = [m for c in consoles for m in MARK.findall(c.read_text())]
    starts, ends = [float(t) for t, w in marks if w == "start"], [float(t) for t, w in marks if w == "end"]
    return took, phases(took, min(starts), max(ends)) if starts and ends else {}


def phases(wall: float, began: float, ended: float) -> dict[str, float]:
    return {"boot": began, "command": ended - began, "outside": wall - ended}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="at least this many rounds (default 5)")
    ap.add_argument("--max-rounds", type=int, default=12, help="at most this many (default 12)")
    ap.add_argument("--subtest", default="base")
    args = ap.parse_args()

    settings = Settings(cache_dir=default_cache_dir())
    kernel = debian.fetch(debian.spec_for(None), settings.cache_dir)
    payload = build_test_progs(kernel, settings.cache_dir, settings.build_jobs, say=lambda _: None, tests=("mptcp",))
    use_kvm, why = guest.probe_kvm(kernel, settings.cache_dir)
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    config = guest.GuestConfig(kernel, settings.guest_cpus, settings.guest_memory, use_kvm, kernel_console=False)
    guests = settings.guests_side_by_side(use_kvm)
    plan = plan_batches(suite, suite.subtests, durations.load(settings.cache_dir, suite, kernel.identity),
                        settings.guest_concurrency(use_kvm) * guests)
    print(f"machine: {os.cpu_count()} cores, {'KVM' if use_kvm else 'TCG'} ({why}); guest: {config.cpus} vCPUs")
    print(f"harness plan ({min(guests, len(plan))} guest(s) side by side): " + "; ".join(
        f"batch {b.index}: {', '.join(b.subtests)}" + (" + the rest of the test" if b.runs_rest else "") for b in plan))

    env = guest.vng_environment()  # the harness's side sets up its guests' own (guest.guest_environment)
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(suite.path)]  # this suite only
    with tempfile.TemporaryDirectory() as scratch:
        def bare(selector: str) -> tuple[list[str], dict[str, str]]:
            uptime = 'read -r up idle < /proc/uptime && echo "$up $idle"'  # built-ins: no program started
            command = f"cd {shlex.quote(str(payload.directory))} && {uptime} && ./test_progs -t {selector}; {uptime}"
            return guest.vng_argv(config, Path(scratch), command), guest.guest_environment(config)

        sides = {
            "serial": bare(suite.test),
            "harness": (pytest, env),
            "bare one": bare(f"{suite.test}/{args.subtest}"),
            "harness one": ([*pytest, "-k", f"{suite.test}/{args.subtest}"], env),
        }
        times: dict[str, list[float]] = {k: [] for k in sides}
        split: dict[str, list[dict[str, float]]] = {k: [] for k in sides}
        history: list[tuple[float, float]] = []  # (P1, P2) of the medians after each round
        for round_ in range(1, args.max_rounds + 1):
            for name, (argv, side_env) in sides.items():
                took, parts = timed(argv, side_env, settings.cache_dir / "runs")
                times[name].append(took)
                split[name].append(parts)
            p1, p2 = ratios({k: v[-1] for k, v in times.items()})
            print(f"round {round_}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in times.items())
                  + f"; P1 {p1:.3f}, P2 {p2:.3f}", flush=True)
            history.append(ratios({k: statistics.median(v) for k, v in times.items()}))
            if round_ >= args.rounds and settled(history):
                break
    for name, values in times.items():
        print(f"{name:12} min {min(values):.1f} s, median {statistics.median(values):.1f} s, max {max(values):.1f} s")
    print("where the time goes (medians, s): " + "; ".join(
        f"{name} " + ", ".join(f"{k} {statistics.median(p[k] for p in parts):.2f}" for k in parts[0])
        for name, parts in split.items() if parts and all(parts)))
    p1, p2 = history[-1]
    low, high = interval(times)
    print(f"rounds: {len(history)}")
    print(f"90 % interval (bootstrap over the rounds): P1 {low[0]:.3f}-{high[0]:.3f}, P2 {low[1]:.3f}-{high[1]:.3f}")
    print(f"P1 speedup: {p1:.3f}")
    print(f"P2 overhead: {p2:.3f}")


def ratios(t: dict[str, float]) -> tuple[float, float]:
    return t["serial"] / t["harness"], t["harness one"] / t["bare one"]


def interval(times: dict[str, list[float]], draws: int = 2000) -> tuple[tuple[float, float], tuple[float, float]]:
    """The 5th and 95th percentiles of (P1, P2) over the rounds drawn again with replacement (a round keeps its
    four sides together), each draw's ratios of medians computed as the run's own."""
    rng = random.Random(0)  # the same rounds give the same interval
    rounds = len(next(iter(times.values())))
    drawn: list[tuple[float, float]] = []
    for _ in range(draws):
        picks = [rng.randrange(rounds) for _ in range(rounds)]
        drawn.append(ratios({k: statistics.median(v[i] for i in picks) for k, v in times.items()}))
    p1s, p2s = sorted(d[0] for d in drawn), sorted(d[1] for d in drawn)
    return (p1s[draws // 20], p2s[draws // 20]), (p1s[draws - 1 - draws // 20], p2s[draws - 1 - draws // 20])


def settled(history: list[tuple[float, float]], within: float = 0.01) -> bool:
    """The medians' P1 and P2 moved less than `within` (relative) over the last two rounds."""
    if len(history) < 3:
        return False
    recent = history[-3:]
    return all(max(r[i] for r in recent) - min(r[i] for r in recent) <= within * recent[-1][i] for i in (0, 1))


if __name__ == "__main__":
    main()
