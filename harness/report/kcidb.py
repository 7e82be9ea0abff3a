"""A night in KernelCI's KCIDB format (kcidb-io's latest schema): one checkout, a build per mode, a test per subtest.

Validated with kcidb-io before it is written, so a lab can submit it as it is. Statuses map to
KCIDB's enum: passed/flaky/xpass PASS, failed/timeout/xfail FAIL (xfail and flaky said in misc),
lost ERROR (the test did not complete), not_run MISS, skipped and not_in_build SKIP. A failure's pcaps (--pcap) are
its output_files, as file:// URLs of the night's dir.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import kcidb_io

from harness.cache import write_atomic
from harness.night_summary import ModeNight, NightSummary
from harness.results import Status

ORIGIN = "mptcp_harness"
EXCERPT_MAX = 16384  # KCIDB's log_excerpt limit, in characters
STATUS = {
    Status.PASSED: "PASS", Status.FLAKY: "PASS", Status.XPASS: "PASS", Status.FAILED: "FAIL", Status.TIMEOUT: "FAIL",
    Status.XFAIL: "FAIL", Status.LOST: "ERROR", Status.NOT_RUN: "MISS", Status.SKIPPED: "SKIP",
    Status.NOT_IN_BUILD: "SKIP",
}
_PATH_WORD = re.compile(r"[^a-zA-Z0-9_-]+")


def excerpt(lines: tuple[str, ...] | list[str]) -> str:
    """The last lines that fit KCIDB's excerpt limit."""
    return "\n".join(lines)[-EXCERPT_MAX:]


def test_path(name: str) -> str:
    """ "mptcp/base" -> "mptcp.base" (KCIDB's dot-separated test tree)."""
    return ".".join(_PATH_WORD.sub("_", part) for part in name.split("/") if part)


def to_kcidb(summary: NightSummary, modes: list[ModeNight]) -> dict[str, Any]:
    night = summary.night
    checkout: dict[str, Any] = {"id": f"{ORIGIN}:{night}", "origin": ORIGIN, "start_time": summary.started,
                                "valid": all(m.built for m in modes),
                                "comment": f"mptcp harness night {night}"}
    if re.fullmatch(r"[0-9a-f]{40}", summary.commit):
        checkout["git_commit_hash"] = summary.commit
    if summary.source.startswith("https://"):
        checkout["git_repository_url"] = summary.source
    if summary.branch:
        checkout["git_repository_branch"] = summary.branch
    if summary.source and "git_repository_url" not in checkout:  # a local tree or path: said, not a URL
        checkout["misc"] = {"source": summary.source}
    builds, tests = [], []
    for m in modes:
        build_id = f"{checkout['id']}:{m.mode}"
        built = m.built
        builds.append({"id": build_id, "checkout_id": checkout["id"], "origin": ORIGIN, "architecture": "x86_64",
                       "config_name": m.mode, "duration": round(m.build_s, 1), "status": "PASS" if built else "FAIL",
                       "comment": m.kernel or "not built", **({"log_excerpt": excerpt(m.infra)} if m.infra else {})})
        for run in m.runs:
            for r in run.subtests:
                tests.append(_test(build_id, r.name, r.status, r.reason, r.duration_s, r.output, r.pcaps))
                tests += [_test(build_id, f"{r.name}/{c.name}", c.status, c.reason, c.duration_s, c.output)
                          for c in r.subcases]  # a kselftest script's sub-cases: one level down its path
        tests += _coverage(build_id, m.coverage)
    issues, incidents = _culprits(summary, checkout["id"])
    data = {"version": {"major": kcidb_io.schema.LATEST.major, "minor": kcidb_io.schema.LATEST.minor},
            "checkouts": [checkout], "builds": builds, "tests": tests,
            **({"issues": issues, "incidents": incidents} if issues else {})}
    kcidb_io.schema.LATEST.validate(data)
    return data


def _culprits(summary: NightSummary, checkout_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each culprit the night's bisection found (harness.nightly.culprit) as an issue of the code, and an incident per
    failing test it explains, linking that test to it."""
    issues: dict[str, dict[str, Any]] = {}
    incidents = []
    for mode, found in summary.culprits.items():
        for f in (f for f in found if f.culprit):
            issue_id = f"{ORIGIN}:culprit:{f.culprit}"
            issues.setdefault(issue_id, {"id": issue_id, "version": 1, "origin": ORIGIN, "culprit": {"code": True},
                                         "report_subject": f"{f.culprit[:12]} {f.subject}", "comment": f.line,
                                         "misc": {"commit": f.culprit, "author": f.author, "verified": f.verified,
                                                  "found_by_night": f.since}})
            build_id = f"{checkout_id}:{mode}"
            incidents += [{"id": f"{issue_id}:{build_id}:{name}", "origin": ORIGIN, "issue_id": issue_id, "issue_version": 1,
                           "build_id": build_id, "test_id": f"{build_id}:{name}", "present": True} for name in f.failures]
    return list(issues.values()), incidents


def _coverage(build_id: str, coverage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """--coverage's figures as KCIDB's place for a measurement: a DONE test with a number (%), lines and functions."""
    if not coverage:
        return []
    return [{"id": f"{build_id}:coverage.net_mptcp.{kind}", "build_id": build_id, "origin": ORIGIN,
             "path": f"coverage.net_mptcp.{kind}", "status": "DONE",
             "number": {"value": float(coverage[f"{kind}_percent"]), "unit": "%"},
             "misc": {"hit": coverage[f"{kind}_hit"], "of": coverage[kind]}} for kind in ("lines", "functions")]


def _test(build_id: str, name: str, status: Status, reason: str, duration_s: float | None,
          output: tuple[str, ...], pcaps: tuple[str, ...] = ()) -> dict[str, Any]:
    test: dict[str, Any] = {"id": f"{build_id}:{name}", "build_id": build_id, "origin": ORIGIN, "path": test_path(name),
                            "status": STATUS[status], "misc": {"harness_status": status.value, "reason": reason}}
    if duration_s is not None:
        test["duration"] = round(duration_s, 3)
    if output:
        test["log_excerpt"] = excerpt(output)
    if pcaps:  # --pcap: a failure's captures, where the night keeps them (a lab serving the nights dir maps the URL)
        test["output_files"] = [{"name": Path(p).name, "url": Path(p).resolve().as_uri()} for p in pcaps]
    return test


def write_kcidb(path: Path, summary: NightSummary, modes: list[ModeNight]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(to_kcidb(summary, modes), indent=1) + "\n")
