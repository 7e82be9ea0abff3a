"""P3: the build phase for an unchanged --kernel-tree (kernel + test_progs), which must run no make.

Run it after one build of the tree (`pytest -k mptcp/base --kernel-tree PATH` builds it).
The last line is `P3 build phase: <seconds> s` (median of --rounds).
Usage: python bench/build_noop.py --kernel-tree PATH [--mode normal] [--rounds 5]
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.guest import vng_environment  # noqa: E402
from harness.kernel.kconfig import mode_fragments  # noqa: E402
from harness.kernel.tree import build_kernel  # noqa: E402
from harness.payload.selftests_bpf import build_test_progs, llvm_bin, toolchain_identity  # noqa: E402
from harness.settings import Settings, default_cache_dir  # noqa: E402  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel-tree", required=True, type=Path)
    ap.add_argument("--mode", default="normal")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    settings = Settings(cache_dir=default_cache_dir())
    said: list[str] = []
    times = []
    for _ in range(args.rounds):
        start = time.monotonic()
        fragments = mode_fragments(args.mode)
        kernel = build_kernel(args.kernel_tree, settings.cache_dir, args.mode, fragments, "lean", settings.build_jobs,
                              toolchain_identity(llvm_bin()), vng_environment(), said.append)
        build_test_progs(kernel, settings.cache_dir, settings.build_jobs, say=said.append, tests=("mptcp",))
        times.append(time.monotonic() - start)
    if any("building" in line for line in said):
        print("note: the tree was (re)built during the benchmark; run it again for the no-op time")
    print("rounds: " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"P3 build phase: {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()
