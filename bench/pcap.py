"""C1 and C2: what --pcap costs a run that passes (issue 52), measured in one run of this script.

  C1 the BPF suite: `pytest suites/mptcp_bpf.toml` on the default kernel, without and with --pcap (test_progs' traffic
     monitor, -m: libpcap inside test_progs, a pcap per subtest's netns, printed as its packets pass);
  C2 one net/mptcp script that captures: mptcp_join.sh's subflow tests (-f, 7 sub-cases), from a copy of
     suites/net_mptcp.toml whose [capture] gives "-f" (the baseline: --pcap's host side on, no tcpdump) or "-c -f"
     (tcpdump in each sub-case's namespaces), both with --pcap.
Each pair runs --rounds times, alternately (the machine's noise falls on both), in a cache of its own per run shared
with the default cache's downloads and payloads. Printed: each run's wall time and the suite's own time (the
harness's "done in" line), then the median of each side and the difference.
Usage: python bench/pcap.py [--rounds 2] [--skip-bpf] [--skip-join]
"""
from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.helpers import CACHE, pytest_env, sharing_downloads  # noqa: E402

DONE = re.compile(r"\[harness\] \S+ done in ([0-9.]+) s")


def run(args: list[str], scratch: Path) -> tuple[float, float]:
    """One pytest run in a cache of its own; its wall seconds and the suite's own (its "done in" line)."""
    cache = sharing_downloads(Path(tempfile.mkdtemp(prefix="cache-", dir=scratch)))
    (cache / "payloads").symlink_to(CACHE / "payloads")
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--history", "off", *args]
    start = time.monotonic()
    out = subprocess.run(argv, cwd=ROOT, env=pytest_env(HARNESS_CACHE=str(cache)), capture_output=True, text=True)
    wall = time.monotonic() - start
    found = DONE.findall(out.stdout)
    if out.returncode != 0 or not found:
        sys.exit(f"bench/pcap.py: {' '.join(args)} failed (exit {out.returncode}):\n{out.stdout[-2000:]}")
    return wall, float(found[-1])


def pair(name: str, off: list[str], on: list[str], rounds: int, scratch: Path) -> None:
    sides: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    for n in range(rounds):
        for side, args in (("off", off), ("on", on)):
            sides[side].append(run(args, scratch))
            wall, own = sides[side][-1]
            print(f"{name} round {n + 1} {side:>3}: {wall:6.1f} s wall, suite {own:6.1f} s", flush=True)
    med = {side: (statistics.median(w for w, _ in r), statistics.median(s for _, s in r)) for side, r in sides.items()}
    print(f"{name}: without {med['off'][1]:.1f} s, with {med['on'][1]:.1f} s of suite "
          f"({med['on'][1] - med['off'][1]:+.1f} s, {100 * (med['on'][1] / med['off'][1] - 1):+.0f} %); wall "
          f"{med['off'][0]:.1f} -> {med['on'][0]:.1f} s (medians of {rounds})")


def join_suite(scratch: Path, args: str) -> Path:
    text = (ROOT / "suites" / "net_mptcp.toml").read_text()
    path = scratch / f"net_mptcp{'-c' if '-c' in args else ''}.toml"
    path.write_text(re.sub(r'^mptcp_join = \{ args = "[^"]*"', f'mptcp_join = {{ args = "{args}"', text, flags=re.M))
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-bpf", action="store_true")
    ap.add_argument("--skip-join", action="store_true")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-pcap-"))
    if not args.skip_bpf:
        bpf = [str(ROOT / "suites" / "mptcp_bpf.toml")]
        pair("C1 mptcp (test_progs)", bpf, [*bpf, "--pcap"], args.rounds, scratch)
    if not args.skip_join:
        join = ["-k", "net-mptcp/mptcp_join", "--pcap"]
        pair("C2 mptcp_join -f", [str(join_suite(scratch, "-f")), *join], [str(join_suite(scratch, "-c -f")), *join],
             args.rounds, scratch)


if __name__ == "__main__":
    main()
