"""A night's summary (summary.json / summary.txt in NIGHTS_DIR/<night>/) and what changed since the night before.

Pure: a night's results per mode in, a NightSummary (harness.night_summary, which reads and writes the file) out;
the previous night's summary is what it is compared with. A test is named "<mode>:<name>" across nights.
"""
from __future__ import annotations

import dataclasses
from collections import Counter

from harness import results
from harness.expectations import Expectations
from harness.host import versions
from harness.night_summary import Changes, CrashSeen, ModeFigures, ModeNight, NightSummary
from harness.report.console import reasons
from harness.results import BY_THE_KERNEL, FAILING, PASSING, Status


def changes(before: dict[str, Status], now: dict[str, Status]) -> Changes:
    """Per test: new failures, fixed, still failing, new flaky (statuses by "<mode>:<name>")."""
    return Changes(
        new_failures=tuple(sorted(t for t, s in now.items() if s in FAILING and before.get(t) not in FAILING)),
        fixed=tuple(sorted(t for t, s in now.items() if s in PASSING and before.get(t) in FAILING)),
        still_failing=tuple(sorted(t for t, s in now.items() if s in FAILING and before.get(t) in FAILING)),
        new_flaky=tuple(sorted(t for t, s in now.items() if s is Status.FLAKY and before.get(t) is not s)),
    )


def crashes(modes: list[ModeNight], night: str, seen: dict[str, str], known: Expectations) -> list[CrashSeen]:
    """Each crash of the night with its fingerprint, when it was first seen, and whether it is a known one."""
    found = []
    for m in modes:
        for run in m.runs:
            for c in run.incidents:
                entry = known.crash(c.fingerprint, m.mode, run.kernel)
                found.append(CrashSeen(m.mode, c.kind, c.fingerprint, c.running,
                                       seen.get(c.fingerprint, night) if c.fingerprint else night,
                                       entry.why() if entry else ""))
    return found


def summarize(header: NightSummary, modes: list[ModeNight], before: NightSummary | None,
              known: Expectations, expired: list[str], flaky: dict[str, str] | None = None) -> NightSummary:
    """The night's summary: `header` (its name, start, source, branch, commit, shard, expectations file and tools'
    versions) with what its modes gave, compared with the night before. The known flaky ones that failed tonight
    (`flaky`: "<mode>:<name>" -> its line, harness.nightly.quarantine) are listed apart: not new, not unexpected."""
    night, flaky = header.night, flaky or {}
    tests = {t: s for m in modes for t, s in m.tests().items()}
    judged = {t: s for t, s in tests.items() if t not in flaky}
    seen = dict(before.crashes_seen) if before else {}
    found = crashes(modes, night, seen, known)
    seen |= {c.fingerprint: c.first_seen for c in found if c.fingerprint}
    change = changes(dict(before.tests) if before else {}, judged)
    new_crashes = sorted({f"{c.mode}:{c.fingerprint or c.kind}" for c in found if c.first_seen == night and not c.known})
    infra = [f"{m.mode}: {e}" for m in modes for e in m.infra]
    # a crash the expectations do not name fails the night even when no test carried it (one at boot, or while an
    # expected failure ran): only an entry in the expectations file makes a crash "reported, not failing"
    unknown = sorted({f"{c.mode}:{c.fingerprint or c.kind}" for c in found if not c.known})
    figures = {m.mode: ModeFigures(m.kernel, round(m.build_s, 1), m.suites_s, _counts(m), tuple(m.infra), m.coverage,
                                   *results.skips_by_reason([r for run in m.runs for r in run.subtests if r.in_suite]))
               for m in modes}
    return dataclasses.replace(
        header, previous=before.night if before else None,
        exit=results.night_exit_code(list(judged.values()), bool(infra), bool(unknown)), modes=figures,
        changes=Changes(change.new_failures, change.fixed, change.still_failing, change.new_flaky, tuple(new_crashes)),
        unexpected=tuple(sorted(t for t, s in judged.items() if s in FAILING)), unknown_crashes=tuple(unknown),
        known_flaky={t: line for t, line in sorted(flaky.items()) if t in tests},
        infra=tuple(infra), expired=tuple(expired),
        versions_changed=tuple(versions.changed(dict(before.versions) if before else {}, dict(header.versions))),
        crashes=tuple(found), crashes_seen=seen, tests=tests)


def older_failures(modes: list[ModeNight]) -> dict[str, tuple[str, ...]]:
    """A kernels night's modes are its kernels, oldest first: per older kernel, what failed there (a sub-case, or a
    subtest without any) and passed on the newest. That is how a selftest that fails where an older kernel lacks its
    feature, instead of skipping, shows: the missing feature check the maintainers hunt (or that kernel's own bug)."""
    if len(modes) < 2:
        return {}
    newest = _outcomes(modes[-1])
    found = {m.mode: tuple(sorted(n for n, s in _outcomes(m).items() if s in BY_THE_KERNEL and newest.get(n) in PASSING))
             for m in modes[:-1]}
    return {mode: names for mode, names in found.items() if names}


def _outcomes(m: ModeNight) -> dict[str, Status]:
    """A mode's results by name: each sub-case as "<subtest>/<sub-case>", a subtest without sub-cases as itself."""
    found: dict[str, Status] = {}
    for r in (r for run in m.runs for r in run.subtests if r.in_suite):
        found |= {f"{r.name}/{c.name}": c.status for c in r.subcases} if r.subcases else {r.name: r.status}
    return found


def _counts(m: ModeNight) -> dict[Status, int]:
    """A mode's statuses, each counted once, in Status's order."""
    counted = Counter(m.tests().values())
    return {s: counted[s] for s in Status if counted[s]}


def text(summary: NightSummary) -> list[str]:
    """summary.txt: what changed first, then the night's figures."""
    ch = summary.changes
    verdict = {0: "nothing unexpected", 1: "UNEXPECTED FAILURES", 3: "INFRASTRUCTURE ERRORS"}[summary.exit]
    lines = [f"night {summary.night}: {verdict} (compared with {summary.previous or 'no earlier night'})"]
    lines += [f"{mode}: {f.line}" for mode, found in summary.culprits.items() for f in found]
    for listed, title in ((ch.new_failures, "new failures"), (ch.new_crashes, "new crashes"), (ch.fixed, "fixed"),
                          (ch.new_flaky, "new flaky"), (ch.still_failing, "still failing"),
                          (summary.unknown_crashes, "crashes the expectations do not name")):
        lines.append(f"{title}: {len(listed)}" + "".join(f"\n  {t}" for t in listed))
    failed = {t: s for t, s in summary.tests.items() if t in summary.known_flaky}
    lines.append(f"known flaky, failing tonight: {len(failed)}" + "".join(
        f"\n  {t} {s.value}: {summary.known_flaky[t]}" for t, s in failed.items()))
    lines += list(summary.quarantine)
    if summary.older_failures:  # a kernels night: what an older kernel fails and the newest passes
        newest = list(summary.modes)[-1]
        older = [f"{mode}:{n}" for mode, names in summary.older_failures.items() for n in names]
        lines.append(f"failed on an older kernel, passed on {newest} (a feature check the selftest may lack): "
                     f"{len(older)}" + "".join(f"\n  {t}" for t in older))
    if moved := summary.versions_changed:  # next to the new failures: they may be the tools', not the kernel's
        lines.append(f"tools changed since the night before: {len(moved)}" + "".join(f"\n  {v}" for v in moved))
    lines += [f"infrastructure: {e}" for e in summary.infra]
    lines += list(summary.expired)
    for c in summary.crashes:
        seen = "new crash" if c.first_seen == summary.night else f"seen first on {c.first_seen}"
        lines.append(f"crash ({c.mode}): {c.kind} [{c.fingerprint or 'no call trace'}] {seen}"
                     + (f"; known: {c.known}" if c.known else ""))
    for mode, m in summary.modes.items():
        counts = ", ".join(f"{n} {s.value}" for s, n in m.counts.items())
        suites = ", ".join(f"{s} {t:.0f} s" for s, t in m.suites_s.items())
        lines.append(f"{mode}: {m.kernel}: build {m.build_s:.0f} s; {suites}; {counts or 'no results'}")
        for skipped, what in ((m.skips, "skipped"), (m.subcase_skips, "sub-cases skipped")):
            if skipped:
                lines.append(f"{mode}: {what}: {sum(skipped.values())} ({reasons(skipped)})")
        if cov := m.coverage:
            lines.append(f"{mode}: net/mptcp coverage: {cov['lines_percent']} % lines, {cov['functions_percent']} % "
                         f"functions")
    return lines
