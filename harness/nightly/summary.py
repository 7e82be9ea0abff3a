"""A night's summary (summary.json / summary.txt in NIGHTS_DIR/<night>/) and what changed since the night before.

Pure: a night's results per mode in, a plain dict out; the previous night's summary.json is
what it is compared with. A test is named "<mode>:<name>" across nights. The dashboard reads
these files too.
"""
from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import results
from harness.expectations import Expectations
from harness.host import versions
from harness.results import Status, SuiteRun

Summary = dict[str, Any]  # summary.json, as read and written

FAILING = {s.value for s in results.FAILING}  # statuses as summary.json holds them
PASSING = {s.value for s in results.PASSING}


@dataclass
class ModeNight:
    """One mode of a night: its kernel, the time it took, what its suites gave."""

    mode: str
    kernel: str = ""
    build_s: float = 0.0
    suites_s: dict[str, float] = field(default_factory=dict)
    runs: list[SuiteRun] = field(default_factory=list)
    infra: list[str] = field(default_factory=list)  # the build failed, a guest was lost ...
    built: bool = True  # False: the kernel or test_progs did not build (nothing ran)
    coverage: dict[str, object] | None = None  # --coverage: net/mptcp's figures (harness.report.coverage)

    def tests(self) -> dict[str, str]:
        return {f"{self.mode}:{r.name}": r.status.value for run in self.runs for r in run.subtests if r.in_suite}


def previous(nights_dir: Path, this: str, started: str | None = None) -> Summary | None:
    """The latest other night in nights_dir that has its summary (written last, atomically: a night still running
    has none) and started before `started` (a night begun later, beside this one, is not the one before)."""
    found = []
    for path in nights_dir.glob("*/summary.json"):
        if path.parent.name != this:
            try:
                found.append(json.loads(path.read_text()))
            except (OSError, ValueError):
                continue  # cut short by an older harness that wrote in place
    earlier = [s for s in found if started is None or str(s.get("started", "")) < started]
    return max(earlier, key=lambda s: str(s.get("started", "")), default=None)


def changes(before: dict[str, str], now: dict[str, str]) -> dict[str, list[str]]:
    """Per test: new failures, fixed, still failing, new flaky (statuses by "<mode>:<name>")."""
    return {
        "new_failures": sorted(t for t, s in now.items() if s in FAILING and before.get(t) not in FAILING),
        "fixed": sorted(t for t, s in now.items() if s in PASSING and before.get(t) in FAILING),
        "still_failing": sorted(t for t, s in now.items() if s in FAILING and before.get(t) in FAILING),
        "new_flaky": sorted(t for t, s in now.items() if s == Status.FLAKY.value and before.get(t) != s),
    }


def crashes(modes: list[ModeNight], night: str, seen: dict[str, str], known: Expectations) -> list[dict[str, Any]]:
    """Each crash of the night with its fingerprint, when it was first seen, and whether it is a known one."""
    found = []
    for m in modes:
        for run in m.runs:
            for c in run.incidents:
                entry = known.crash(c.fingerprint, m.mode, run.kernel)
                found.append({"mode": m.mode, "kind": c.kind, "fingerprint": c.fingerprint, "running": list(c.running),
                              "first_seen": seen.get(c.fingerprint, night) if c.fingerprint else night,
                              "known": entry.why() if entry else ""})
    return found


def summarize(night: str, header: Summary, modes: list[ModeNight], before: Summary | None,
              known: Expectations, expired: list[str]) -> Summary:
    """summary.json's content."""
    tests = {t: s for m in modes for t, s in m.tests().items()}
    seen: dict[str, str] = dict(before.get("crashes_seen", {})) if before else {}
    found = crashes(modes, night, seen, known)
    seen |= {str(c["fingerprint"]): str(c["first_seen"]) for c in found if c["fingerprint"]}
    change = changes(dict(before.get("tests", {})) if before else {}, tests)
    change["new_crashes"] = sorted({f"{c['mode']}:{c['fingerprint'] or c['kind']}" for c in found
                                    if c["first_seen"] == night and not c["known"]})
    infra = [f"{m.mode}: {e}" for m in modes for e in m.infra]
    unexpected = sorted(t for t, s in tests.items() if s in FAILING)
    # a crash the expectations do not name fails the night even when no test carried it (one at boot, or while an
    # expected failure ran): only an entry in the expectations file makes a crash "reported, not failing"
    unknown = sorted({f"{c['mode']}:{c['fingerprint'] or c['kind']}" for c in found if not c["known"]})
    code = results.night_exit_code([Status(s) for s in tests.values()], bool(infra), bool(unknown))
    counts = {m.mode: Counter(m.tests().values()) for m in modes}  # each mode's statuses, counted once
    return header | {
        "night": night, "previous": before.get("night") if before else None, "exit": code,
        "modes": {m.mode: {"kernel": m.kernel, "build_s": round(m.build_s, 1), "suites_s": m.suites_s,
                           "counts": {s.value: counts[m.mode][s.value] for s in Status if counts[m.mode][s.value]},
                           "infra": m.infra, **({"coverage": m.coverage} if m.coverage else {})} for m in modes},
        "changes": change, "unexpected": unexpected, "unknown_crashes": unknown, "infra": infra, "expired": expired,
        "versions_changed": versions.changed(dict(before.get("versions", {})) if before else {},
                                             dict(header.get("versions", {}))),
        "crashes": found, "crashes_seen": seen, "tests": tests,
    }


def text(summary: Summary) -> list[str]:
    """summary.txt: what changed first, then the night's figures."""
    ch: dict[str, list[str]] = summary["changes"]
    verdict = {0: "nothing unexpected", 1: "UNEXPECTED FAILURES", 3: "INFRASTRUCTURE ERRORS"}[int(summary["exit"])]
    lines = [f"night {summary['night']}: {verdict} (compared with {summary['previous'] or 'no earlier night'})"]
    lines += [f"{mode}: {f['line']}" for mode, found in summary.get("culprits", {}).items() for f in found]
    listed = {**ch, "unknown_crashes": summary.get("unknown_crashes", [])}  # (absent from older nights' summaries)
    for key, title in (("new_failures", "new failures"), ("new_crashes", "new crashes"), ("fixed", "fixed"),
                       ("new_flaky", "new flaky"), ("still_failing", "still failing"),
                       ("unknown_crashes", "crashes the expectations do not name")):
        lines.append(f"{title}: {len(listed[key])}" + "".join(f"\n  {t}" for t in listed[key]))
    if moved := summary.get("versions_changed"):  # next to the new failures: they may be the tools', not the kernel's
        lines.append(f"tools changed since the night before: {len(moved)}" + "".join(f"\n  {v}" for v in moved))
    lines += [f"infrastructure: {e}" for e in summary["infra"]]
    lines += list(summary["expired"])
    for c in summary["crashes"]:
        seen = "new crash" if c["first_seen"] == summary["night"] else f"seen first on {c['first_seen']}"
        lines.append(f"crash ({c['mode']}): {c['kind']} [{c['fingerprint'] or 'no call trace'}] {seen}"
                     + (f"; known: {c['known']}" if c["known"] else ""))
    for mode, m in summary["modes"].items():
        counts = ", ".join(f"{n} {s}" for s, n in m["counts"].items())
        suites = ", ".join(f"{s} {t:.0f} s" for s, t in m["suites_s"].items())
        lines.append(f"{mode}: {m['kernel']}: build {m['build_s']:.0f} s; {suites}; {counts or 'no results'}")
        if cov := m.get("coverage"):
            lines.append(f"{mode}: net/mptcp coverage: {cov['lines_percent']} % lines, {cov['functions_percent']} % "
                         f"functions")
    return lines
