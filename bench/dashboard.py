"""How the dashboard scales: 60 nights x 200 subtests, generated, loaded and filtered in headless chromium.

    python bench/dashboard.py [--nights 60] [--tests 200]

The nights are made here in the nightly's own layout (summary.json, <mode>/results.json,
<mode>/tests/*.txt) with statuses drawn from a fixed seed: mostly passes, some failures,
flaky and skipped ones, a few subtests that flip. Prints, measured in this one run:
  D1 generate: seconds for `python -m harness report --html` (the whole command, in-process)
  D2 load: milliseconds from navigation start to the load event in chromium
  D3 filter: milliseconds for one keystroke's filter (and sort) over every row
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.report.html import write_html  # noqa: E402

STATUSES = ["passed"] * 90 + ["failed"] * 4 + ["flaky"] * 3 + ["skipped"] * 3


def make_nights(root: Path, nights: int, tests: int) -> None:
    rng = random.Random(7)
    flippers = set(rng.sample(range(tests), tests // 10))
    for n in range(nights):
        name = f"2026-{9 + n // 28:02d}-{1 + n % 28:02d}-{n:012x}"
        mode = root / name / "normal"
        (mode / "tests").mkdir(parents=True)
        results = []
        for t in range(tests):
            status = rng.choice(STATUSES) if t in flippers else "passed"
            results.append({"name": f"mptcp/sub{t:03d}", "status": status, "reason": "", "in_suite": True,
                            "output": [f"line {i}" for i in range(5)], "suite": "mptcp", "kernel": "k"})
            (mode / "tests" / f"mptcp__sub{t:03d}.txt").write_text(f"mptcp/sub{t:03d}: {status}\n")
        (mode / "results.json").write_text(json.dumps({"tests": results, "console_events": []}))
        summary = {"night": name, "started": f"2026-10-01T00:00:{n:02d}", "commit": f"{n:040x}", "modes": {"normal": {
            "kernel": "k", "build_s": 60, "suites_s": {"mptcp": 100 + n}, "counts": {"passed": tests}, "infra": []}},
            "changes": {"new_failures": [], "fixed": [], "new_crashes": []}, "crashes_seen": {}}
        (root / name / "summary.json").write_text(json.dumps(summary))


def in_browser(page: Path) -> tuple[float, float]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        driver.get(page.as_uri())
        load_ms = driver.execute_script(
            "var t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd - t.startTime;")
        filter_ms = driver.execute_script(
            "var q = document.getElementById('q'); q.value = 'sub01'; var t0 = performance.now();"
            "q.dispatchEvent(new Event('input')); return performance.now() - t0;")
        return float(load_ms), float(filter_ms)
    finally:
        driver.quit()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nights", type=int, default=60)
    parser.add_argument("--tests", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "nights"
        make_nights(root, args.nights, args.tests)
        page = Path(tmp) / "index.html"
        start = time.monotonic()
        write_html(page, [root], "bench")
        generate_s = time.monotonic() - start
        load_ms, filter_ms = in_browser(page)
        print(f"{args.nights} nights x {args.tests} subtests, page {page.stat().st_size / 1e6:.1f} MB")
        print(f"D1 generate: {generate_s:.2f} s")
        print(f"D2 load: {load_ms:.0f} ms")
        print(f"D3 filter: {filter_ms:.0f} ms")


if __name__ == "__main__":
    main()
