"""What is known to fail: an expectations file (data, TOML) applied to a night's results.

    [[failure]]                       # a known failure: xfail when it fails, xpass when it passes
    test = "mptcp/sockmap"            # glob over the subtest's full name
    mode = "debug"                    # glob over the kernel mode (default "*")
    kernel = "*7.3*"                  # glob over the kernel's identity (default "*")
    reason = "fails on debug kernels" # required: why
    link = "https://..."              # optional: where it is discussed
    expires = 2027-01-31              # optional: after that day it no longer applies, and the night says so

    [[crash]]                         # a known kernel crash, by fingerprint (harness.crashes)
    fingerprint = "f1/f2/f3/f4/f5"
    mode = "debug"                    # optional, as above: only on these modes' kernels
    kernel = "*7.3*"                  # optional, as above
    reason = "..."                    # link and expires as above

    [[flaky]]                         # known flaky (harness.nightly.quarantine): failing is not a new failure
    test = "mptcp/stale"              # mode, kernel, link and expires as above; rate, since and by as the nightly
    reason = "..."                    # writes them in NIGHTS_DIR/known-flaky.toml

A known crash is still reported; the subtests it failed become xfail; a crash no entry names fails the night
even when no subtest carried it (harness.nightly.summary). BPF CI's denylist
(with reasons) and NIPA's ignore list are the anchors.
"""
from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import functools
import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from harness.errors import BadInput
from harness.results import Status, SubtestResult, SuiteRun, expected


@dataclass(frozen=True)
class Entry:
    reason: str
    test: str = "*"  # [[failure]]
    mode: str = "*"
    kernel: str = "*"
    fingerprint: str = ""  # [[crash]]
    link: str = ""
    expires: datetime.date | None = None
    rate: str = ""  # [[flaky]]: its rate when decided ("3 failed of 40 (8 %, 95 %: 3-20 %) ...")
    since: datetime.date | None = None  # [[flaky]]: when it was decided
    by: str = ""  # [[flaky]]: "nightly" (decided by the numbers, rewritten each night), else a person's

    def expired(self, today: datetime.date) -> bool:
        return self.expires is not None and today > self.expires

    def why(self) -> str:
        return self.reason + (f" ({self.link})" if self.link else "")


@dataclass(frozen=True)
class Expectations:
    failures: tuple[Entry, ...] = ()
    crashes: tuple[Entry, ...] = ()
    source: str = ""
    flaky: tuple[Entry, ...] = ()

    def live(self, today: datetime.date) -> tuple[Expectations, list[str]]:
        """The entries that still apply, and one line per expired one."""
        gone = [e for e in (*self.failures, *self.crashes, *self.flaky) if e.expired(today)]
        said = [f"{self.source}: the entry for {e.fingerprint or e.test} expired on {e.expires}: it no longer applies"
                for e in gone]
        return Expectations(tuple(e for e in self.failures if e not in gone),
                            tuple(e for e in self.crashes if e not in gone), self.source,
                            tuple(e for e in self.flaky if e not in gone)), said

    def failure(self, name: str, mode: str, kernel: str) -> Entry | None:
        return _matching(self.failures, name, mode, kernel)

    def flaky_entry(self, name: str, mode: str, kernel: str = "*") -> Entry | None:
        return _matching(self.flaky, name, mode, kernel)

    def crash(self, fingerprint: str, mode: str, kernel: str) -> Entry | None:
        return next((e for e in self.crashes if fingerprint and e.fingerprint == fingerprint
                     and fnmatchcase(mode, e.mode) and fnmatchcase(kernel, e.kernel)), None)


def _matching(entries: tuple[Entry, ...], name: str, mode: str, kernel: str) -> Entry | None:
    """The first entry whose globs match the subtest, the mode and the kernel."""
    return next((e for e in entries if fnmatchcase(name, e.test) and fnmatchcase(mode, e.mode)
                 and fnmatchcase(kernel, e.kernel)), None)


_FIELDS = {f.name for f in dataclasses.fields(Entry)}


@functools.cache
def known_subtests() -> frozenset[str]:
    """Every subtest's full name in the suite files (suites/, the canary's included): what a failure entry may name."""
    from harness.data import SUITES_DIR
    from harness.suites import load_suite

    return frozenset(s.full_name(n) for f in SUITES_DIR.rglob("*.toml") if f.name != "durations.json"
                     for s in [load_suite(f)] for n in s.subtests)


def load(path: Path) -> Expectations:
    """The file, checked: a malformed one is bad input, said in one line."""
    try:
        doc = tomllib.loads(path.read_text())
    except OSError as e:
        raise BadInput(f"cannot read the expectations file {path}: {e.strerror}") from None
    except tomllib.TOMLDecodeError as e:
        raise BadInput(f"{path}: not valid TOML ({e})") from None
    lists: dict[str, list[Entry]] = {"failure": [], "crash": [], "flaky": []}
    for table, entries in doc.items():
        if table not in lists or not isinstance(entries, list):
            raise BadInput(f"{path}: unknown table [{table}]; use [[failure]], [[crash]] and [[flaky]]")
        for n, raw in enumerate(entries, start=1):
            unknown = set(raw) - _FIELDS
            need = "fingerprint" if table == "crash" else "test"
            if unknown or not raw.get("reason") or not raw.get(need):
                raise BadInput(f"{path}: [[{table}]] #{n} needs `{need}` and `reason`"
                               + (f", and has unknown keys {sorted(unknown)}" if unknown else ""))
            if dated := [k for k in ("expires", "since") if k in raw and not isinstance(raw[k], datetime.date)]:
                raise BadInput(f"{path}: [[{table}]] #{n}: {dated[0]} must be a date (2027-01-31)")
            if bad := [k for k, v in raw.items() if k not in ("expires", "since") and not isinstance(v, str)]:
                raise BadInput(f"{path}: [[{table}]] #{n}: {', '.join(bad)} must be text (quoted)")
            if table != "crash" and not any(fnmatch.fnmatchcase(name, raw["test"]) for name in known_subtests()):
                raise BadInput(f"{path}: [[{table}]] #{n}: test = {raw['test']!r} names no subtest of the suite files "
                               "(suites/); a glob over their names, e.g. mptcp/* or net-mptcp/mptcp_join")
            lists[table].append(Entry(**raw))
    return Expectations(tuple(lists["failure"]), tuple(lists["crash"]), str(path), tuple(lists["flaky"]))


def expected_failure(result: SubtestResult, known: Expectations, mode: str, kernel: str) -> SubtestResult:
    """One result as a line shows it while the run goes on: the failure entries applied, and the crash entry of the
    incident that failed it (apply() then finds the same, from the run's incidents)."""
    blame = result.blame if result.status is Status.FAILED else None
    entry = (known.crash(blame.fingerprint, mode, kernel) if blame is not None else None) or \
        known.failure(result.name, mode, kernel)
    return expected(result, entry.why()) if entry else result


def apply(runs: list[SuiteRun], known: Expectations, mode: str) -> list[SuiteRun]:
    """Known failures become xfail (or xpass when they passed); so do subtests failed by a known crash."""
    out = []
    for run in runs:
        by_crash = {name: entry for c in run.incidents if (entry := known.crash(c.fingerprint, mode, run.kernel))
                    for name in c.running}
        subtests = []
        for r in run.subtests:
            entry = (by_crash.get(r.name) if r.status is Status.FAILED else None) or \
                known.failure(r.name, mode, run.kernel)
            subtests.append(expected(r, entry.why()) if entry else r)
        out.append(dataclasses.replace(run, subtests=tuple(subtests)))
    return out
