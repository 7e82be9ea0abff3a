"""The JSON report: {"tests": [{"name", "status", "duration_s", ...}], "kernels": [...], ...}."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from harness.crashes import event_lines
from harness.parse.events import read_events
from harness.results import NOT_IN_BUILD, Status, Subcase, SubtestResult, SuiteRun, as_written, subcase_from_plain


def to_json(runs: list[SuiteRun], coverage: dict[str, object] | None = None) -> str:
    doc: dict[str, Any] = {
        "kernels": sorted({run.kernel for run in runs}),
        "tests": [
            {
                "name": r.name, "status": as_written(r.status).value, "duration_s": r.duration_s, "reason": r.reason,
                "in_suite": r.in_suite, "output": list(r.output), "suite": run.suite, "kernel": run.kernel,
                **({"subtests": [_subcase(c) for c in r.subcases]} if r.subcases else {}),
                **({"absent": True} if r.status is Status.NOT_IN_BUILD else {}),  # (older files: its reason says)
            }
            for run in runs
            for r in run.subtests
        ],
        "infra_errors": [e for run in runs for e in run.infra_errors],
        "console_events": event_lines([i for run in runs for i in run.incidents]),  # parse.events reads them
        **({"coverage": coverage} if coverage else {}),  # --coverage: net/mptcp's (harness.report.coverage)
    }
    return json.dumps(doc, indent=1) + "\n"


def _subcase(c: Subcase) -> dict[str, Any]:
    """A kselftest script's sub-case; its lines only when it did not pass (a passing one's are in the script's)."""
    return {"name": c.name, "status": c.status.value, "duration_s": c.duration_s, "reason": c.reason,
            **({"output": list(c.output)} if c.status.is_problem or c.status is Status.FLAKY else {})}


def from_json(text: str) -> list[SuiteRun]:
    """A results.json read back (one SuiteRun per suite and kernel): saved reports re-judged offline."""
    doc = json.loads(text)
    by_run: dict[tuple[str, str], list[SubtestResult]] = {}
    for t in doc.get("tests", []):
        absent = t.get("absent", t["status"] == "skipped" and t.get("reason") == NOT_IN_BUILD)
        result = SubtestResult(t["name"], Status.NOT_IN_BUILD if absent else Status(t["status"]),
                               tuple(t.get("output", ())), t.get("reason", ""), t.get("duration_s"),
                               t.get("in_suite", True), tuple(subcase_from_plain(c) for c in t.get("subtests", ())))
        by_run.setdefault((t.get("suite", ""), t.get("kernel", "")), []).append(result)
    runs = [SuiteRun(suite, kernel, tuple(results)) for (suite, kernel), results in by_run.items()]
    if runs:  # the run-level lists are not per suite in the file: they go with the first
        runs[0] = dataclasses.replace(runs[0], infra_errors=tuple(doc.get("infra_errors", ())),
                                      incidents=tuple(read_events(doc.get("console_events", ()))))
    return runs
