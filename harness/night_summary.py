"""A night as values: what summary.json holds, and the one place that reads and writes that file.

The nightly (harness.nightly) makes a NightSummary; the reports (KCIDB, the dashboard) and the next night read it.
ModeNight is a mode's night in memory, with its runs (what KCIDB's tests come from); the file keeps its figures.
Older nights' files lack later keys: they read as their defaults.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.parse.console import IncidentKind
from harness.results import Status, SuiteRun


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
    coverage: dict[str, Any] | None = None  # --coverage: net/mptcp's figures (harness.report.coverage)

    def tests(self) -> dict[str, Status]:
        """Each subtest of the suite files by "<mode>:<name>", with its status."""
        return {f"{self.mode}:{r.name}": r.status for run in self.runs for r in run.subtests if r.in_suite}


@dataclass(frozen=True)
class ModeFigures:
    """A mode as summary.json keeps it."""

    kernel: str = ""
    build_s: float = 0.0
    suites_s: dict[str, float] = field(default_factory=dict)
    counts: dict[Status, int] = field(default_factory=dict)
    infra: tuple[str, ...] = ()
    coverage: dict[str, Any] | None = None
    skips: dict[str, int] = field(default_factory=dict)  # the subtests skipped, by reason (results.skips_by_reason)
    subcase_skips: dict[str, int] = field(default_factory=dict)  # their sub-cases skipped, by reason


@dataclass(frozen=True)
class Changes:
    """Since the night before, each a list of "<mode>:<name>" (new_crashes: "<mode>:<fingerprint or kind>")."""

    new_failures: tuple[str, ...] = ()
    fixed: tuple[str, ...] = ()
    still_failing: tuple[str, ...] = ()
    new_flaky: tuple[str, ...] = ()
    new_crashes: tuple[str, ...] = ()

    def of_mode(self, mode: str) -> Changes:
        return Changes(**{k: tuple(t for t in v if t.startswith(f"{mode}:")) for k, v in dataclasses.asdict(self).items()})


@dataclass(frozen=True)
class CrashSeen:
    """A kernel incident of the night, when its fingerprint was first seen, and the expectations entry naming it."""

    mode: str
    kind: IncidentKind
    fingerprint: str
    running: tuple[str, ...]
    first_seen: str  # a night's name
    known: str = ""  # the entry's why, "" when no entry names it


@dataclass(frozen=True)
class Finding:
    """What a mode's night says about its new failures' culprit (harness.nightly.culprit)."""

    line: str  # the summary's line: "culprit: ...", "range narrowed to A..B (budget spent)", "no culprit: ...", ...
    culprit: str = ""  # its full hash, when found
    subject: str = ""
    author: str = ""
    verified: bool = False
    failures: tuple[str, ...] = ()  # the new failures it covers ("mptcp/rr")
    since: str = ""  # the night that found it (a later night still failing names it)
    report: str = ""  # bisect.md
    elapsed_s: float = 0.0


@dataclass(frozen=True)
class NightSummary:
    night: str
    started: str  # ISO time: which night came before which
    source: str = ""  # the git URL or tree
    branch: str | None = None
    commit: str = ""
    shard: str | None = None  # "i/n"
    expectations: str = ""  # the expectations file applied
    versions: dict[str, str] = field(default_factory=dict)  # the tools' (harness.host.versions)
    previous: str | None = None  # the night compared with
    exit: int = 0  # 0 nothing unexpected, 1 unexpected failures or crashes, 3 infrastructure
    modes: dict[str, ModeFigures] = field(default_factory=dict)
    changes: Changes = Changes()
    unexpected: tuple[str, ...] = ()
    unknown_crashes: tuple[str, ...] = ()  # "<mode>:<fingerprint or kind>" no expectations entry names
    infra: tuple[str, ...] = ()
    expired: tuple[str, ...] = ()  # expectations entries past their date, as said
    versions_changed: tuple[str, ...] = ()
    crashes: tuple[CrashSeen, ...] = ()
    crashes_seen: dict[str, str] = field(default_factory=dict)  # fingerprint -> the night it was first seen
    tests: dict[str, Status] = field(default_factory=dict)  # "<mode>:<name>" -> status
    culprits: dict[str, tuple[Finding, ...]] = field(default_factory=dict)  # per mode
    known_flaky: dict[str, str] = field(default_factory=dict)  # "<mode>:<name>" failing tonight -> its rate and entry
    quarantine: tuple[str, ...] = ()  # tonight's decisions: "quarantined: ...", "released: ...", "renewed: ..."
    # a kernels night (--kernels, oldest first): per older kernel, what failed there and passed on the newest
    older_failures: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def new_culprit(self) -> bool:
        """A culprit found tonight (not one named again)."""
        return any(f.culprit and f.since == self.night for found in self.culprits.values() for f in found)


def to_json(s: NightSummary) -> str:
    doc = dataclasses.asdict(s)
    doc["tests"] = {t: status.value for t, status in s.tests.items()}
    for mode, m in s.modes.items():
        doc["modes"][mode] = {"kernel": m.kernel, "build_s": m.build_s, "suites_s": m.suites_s,
                              "counts": {status.value: n for status, n in m.counts.items()}, "infra": list(m.infra),
                              **({"coverage": m.coverage} if m.coverage else {}),
                              "skips": m.skips, "subcase_skips": m.subcase_skips}
    return json.dumps(doc, indent=1) + "\n"


def from_json(text: str) -> NightSummary:
    """summary.json read back; ValueError (json's, or a missing key) when it is not one."""
    doc = json.loads(text)
    try:
        return _from_doc(doc)
    except (KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"not a night's summary ({type(e).__name__}: {e})") from None


def _from_doc(doc: dict[str, Any]) -> NightSummary:
    modes = {mode: ModeFigures(m.get("kernel", ""), m.get("build_s", 0.0), dict(m.get("suites_s", {})),
                               {Status(k): n for k, n in m.get("counts", {}).items()}, tuple(m.get("infra", ())),
                               m.get("coverage"), dict(m.get("skips", {})), dict(m.get("subcase_skips", {})))
             for mode, m in doc.get("modes", {}).items()}
    known = {f.name for f in dataclasses.fields(NightSummary)}
    plain = {k: v for k, v in doc.items() if k in known}
    tuples = ("unexpected", "unknown_crashes", "infra", "expired", "versions_changed", "quarantine")
    return NightSummary(**{
        **plain, **{k: tuple(plain[k]) for k in tuples if k in plain},
        "modes": modes, "changes": Changes(**{k: tuple(v) for k, v in doc.get("changes", {}).items()}),
        "crashes": tuple(CrashSeen(**{**c, "kind": IncidentKind(c["kind"]), "running": tuple(c["running"])})
                         for c in doc.get("crashes", ())),
        "tests": {t: Status(s) for t, s in doc.get("tests", {}).items()},
        "culprits": {mode: tuple(Finding(**{**f, "failures": tuple(f.get("failures", ()))}) for f in found)
                     for mode, found in doc.get("culprits", {}).items()},
        "older_failures": {mode: tuple(names) for mode, names in doc.get("older_failures", {}).items()},
    })


def read(path: Path) -> NightSummary:
    return from_json(path.read_text())


def previous(nights_dir: Path, this: str, started: str | None = None) -> NightSummary | None:
    """The latest other night in nights_dir that has its summary (written last, atomically: a night still running
    has none) and started before `started` (a night begun later, beside this one, is not the one before)."""
    found = []
    for path in nights_dir.glob("*/summary.json"):
        if path.parent.name != this:
            try:
                found.append(read(path))
            except (OSError, ValueError):
                continue  # cut short by an older harness that wrote in place
    earlier = [s for s in found if started is None or s.started < started]
    return max(earlier, key=lambda s: s.started, default=None)
