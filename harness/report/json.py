"""The JSON report: {"tests": [{"name", "status", "duration_s", ...}], "kernels": [...], ...}."""
from __future__ import annotations

import json

from harness.results import SuiteRun


def to_json(runs: list[SuiteRun]) -> str:
    doc = {
        "kernels": sorted({run.kernel for run in runs}),
        "tests": [
            {
                "name": r.name, "status": r.status.value, "duration_s": r.duration_s, "reason": r.reason,
                "in_suite": r.in_suite, "output": list(r.output), "suite": run.suite, "kernel": run.kernel,
            }
            for run in runs
            for r in run.subtests
        ],
        "infra_errors": [e for run in runs for e in run.infra_errors],
        "console_events": [e for run in runs for e in run.console_events],
    }
    return json.dumps(doc, indent=1) + "\n"
