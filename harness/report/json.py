"""The JSON report: {"tests": [{"name", "status", "duration_s", ...}], "kernels": [...], ...}."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

from harness import results
from harness.crashes import event_lines
from harness.parse.events import read_events
from harness.results import NOT_IN_BUILD, Status, SubtestResult, SuiteRun, as_written


def to_json(runs: list[SuiteRun], coverage: dict[str, object] | None = None) -> str:
    doc: dict[str, Any] = {
        "kernels": sorted({run.kernel for run in runs}),
        "tests": [
            _test(r, run) for run in runs for r in run.subtests
        ],
        "infra_errors": [e for run in runs for e in run.infra_errors],
        "console_events": event_lines([i for run in runs for i in run.incidents]),  # parse.events reads them
        **({"coverage": coverage} if coverage else {}),  # --coverage: net/mptcp's (harness.report.coverage)
    }
    return json.dumps(doc, indent=1) + "\n"


def _test(r: SubtestResult, run: SuiteRun) -> dict[str, Any]:
    """A result's plain form (results.subtest_to_plain) as the file has it: not_in_build written as a skip and said
    by "absent" (older files: by its reason), the sub-cases as "subtests" with the lines of those that did not pass
    only (a passing one's are in the script's), its blame in the console events, the run's suite and kernel."""
    plain = results.subtest_to_plain(r)
    subcases, _ = plain.pop("subcases"), plain.pop("blame")
    if not plain["pcaps"]:
        del plain["pcaps"]
    for c in subcases:
        if not (Status(c["status"]).is_problem or c["status"] == Status.FLAKY.value):
            del c["output"]
    return {**plain, "status": as_written(r.status).value, "suite": run.suite, "kernel": run.kernel,
            **({"subtests": subcases} if subcases else {}), **({"absent": True} if r.status is Status.NOT_IN_BUILD else {})}


def from_json(text: str) -> list[SuiteRun]:
    """A results.json read back (one SuiteRun per suite and kernel): saved reports re-judged offline. A failed
    result's blame is the first of the file's incidents that ran into it, as when it was made (results.blamed)."""
    doc = json.loads(text)
    incidents = read_events(doc.get("console_events", ()))
    by_run: dict[tuple[str, str], list[SubtestResult]] = {}
    for t in doc.get("tests", []):
        absent = t.get("absent", t["status"] == "skipped" and t.get("reason") == NOT_IN_BUILD)
        result = results.subtest_from_plain({**t, "status": Status.NOT_IN_BUILD.value if absent else t["status"],
                                             "subcases": t.get("subtests", ())})
        if result.status in (Status.FAILED, Status.XFAIL):
            blame = next((i for i in incidents if result.name in i.running), None)
            result = dataclasses.replace(result, blame=blame)
        by_run.setdefault((t.get("suite", ""), t.get("kernel", "")), []).append(result)
    runs = [SuiteRun(suite, kernel, tuple(results)) for (suite, kernel), results in by_run.items()]
    if runs:  # the run-level lists are not per suite in the file: they go with the first
        runs[0] = dataclasses.replace(runs[0], infra_errors=tuple(doc.get("infra_errors", ())),
                                      incidents=tuple(incidents))
    return runs
