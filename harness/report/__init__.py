"""The reports of a run: KTAP, JSON and JUnit, each rendered from the same SuiteRuns."""
from __future__ import annotations

from pathlib import Path

from harness.cache import write_atomic
from harness.report.json import to_json
from harness.report.junit import to_junit
from harness.report.ktap import to_ktap
from harness.results import SuiteRun

REPORTS = (("results.ktap", to_ktap), ("results.json", to_json), ("junit.xml", to_junit))


def write_reports(out: Path, runs: list[SuiteRun], coverage: dict[str, object] | None = None) -> None:
    """results.ktap, results.json (with --coverage's figures) and junit.xml in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    for name, render in REPORTS:
        write_atomic(out / name, to_json(runs, coverage) if render is to_json else render(runs))
