"""The net/mptcp kselftests' time here: a table of each script (status, sub-cases, seconds), from one real run.

Runs `pytest suites/net_mptcp.toml [-k EXPR] [--concurrency N]` on the default kernel (or reads the
results.json of a run already made, --from DIR), then prints one row per script and the totals:
    script                    status   pass fail skip flaky  seconds
The last line is `K1 net/mptcp suite: <seconds> s wall (<n> scripts, <c> batch(es))`.
Usage: python bench/kselftests.py [-k EXPR] [--concurrency N] [--from DIR]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(keyword: str | None, concurrency: int, out: Path) -> float:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(ROOT / "suites" / "net_mptcp.toml"),
            "--report-dir", str(out), "--concurrency", str(concurrency)] + (["-k", keyword] if keyword else [])
    start = time.monotonic()
    subprocess.run(argv, cwd=ROOT, check=False)
    return time.monotonic() - start


def table(results: Path) -> list[str]:
    doc = json.loads((results / "results.json").read_text())
    lines = [f"{'script':<26} {'status':<8} {'pass':>5} {'fail':>5} {'skip':>5} {'flaky':>5} {'seconds':>8}"]
    for t in doc["tests"]:
        counts = Counter(s["status"] for s in t.get("subtests", ()))
        failed = counts["failed"] + counts["timeout"] + counts["lost"]
        seconds = f"{t['duration_s']:.0f}" if t["duration_s"] is not None else "-"
        lines.append(f"{t['name'].split('/', 1)[-1]:<26} {t['status']:<8} {counts['passed']:>5} {failed:>5} "
                     f"{counts['skipped']:>5} {counts['flaky']:>5} {seconds:>8}")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", dest="keyword")
    ap.add_argument("--concurrency", type=int, default=1)
    ap.add_argument("--from", dest="given", type=Path, help="a report dir of a run already made")
    args = ap.parse_args()
    out = args.given or Path(tempfile.mkdtemp(prefix="bench-kselftests-"))
    wall = None if args.given else run(args.keyword, args.concurrency, out)
    rows = table(out)
    print("\n".join(rows))
    doc = json.loads((out / "results.json").read_text())
    total = sum(t["duration_s"] or 0 for t in doc["tests"])
    shown = f"{wall:.0f} s wall" if wall is not None else f"{total:.0f} s of scripts"
    print(f"K1 net/mptcp suite: {shown} ({len(doc['tests'])} scripts, {args.concurrency} batch(es))")


if __name__ == "__main__":
    main()
