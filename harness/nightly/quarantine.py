"""Known flaky, by the numbers: which failing subtests the nightly quarantines, and when it releases them.

A subtest that fails tonight (after its retries, or only at its first try) is "known flaky" when its history for
that mode (the last LAST_RUNS outcomes of its NIGHTS_DIR's nights) shows MIN_FAILURES failures or more, and once at least it
failed and passed on one and the same kernel (a flaky result, or a pass and a failure of one build): no single commit
is to blame, so it is neither a new failure nor bisected. It is listed with its rate in its own section of
summary.txt, and the dashboard still shows each of its failures.

It is released, and the night says so, when the upper bound of its rate falls below RELEASE_BELOW, or after
CLEAN_NIGHTS nights in a row that it passed at the first try (NIPA's rule). Each decision is an entry of
NIGHTS_DIR/known-flaky.toml ([[flaky]]: test, mode, reason, rate, since, expires, by): a person can read it, edit it,
delete an entry, or set `by = "hand"` (the nightly then leaves that entry as it is). An entry past its `expires`
is decided again. [[flaky]] entries in the --expectations file are a person's too: known flaky whatever the numbers.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from harness.cache import write_atomic
from harness.expectations import Entry, Expectations, load
from harness.history import Outcome, percent, rate_text, wilson
from harness.report.flakes import counted
from harness.results import CLEAN, Status

FILE = "known-flaky.toml"
MIN_FAILURES = 2
LAST_RUNS = 100
RELEASE_BELOW = 0.05  # the upper bound of the 95 % interval over the last LAST_RUNS runs
CLEAN_NIGHTS = 15
REVIEW_DAYS = 30  # an entry's expiry: then decided again
BY_NIGHTLY, BY_HAND = "nightly", "hand"


@dataclass(frozen=True)
class Quarantine:
    """Tonight's known flaky subtests ("<mode>:<name>" -> its line) and what was decided ("released: ...")."""

    known: dict[str, str]
    decisions: tuple[str, ...]
    entries: tuple[Entry, ...]  # the file's, after tonight


def read(nights: Path) -> tuple[Entry, ...]:
    """NIGHTS_DIR/known-flaky.toml's entries (none when there is no file; a malformed one is bad input)."""
    path = nights / FILE
    return load(path).flaky if path.is_file() else ()


def decide(failing: Iterable[str], entries: tuple[Entry, ...], hand: Expectations, outcomes: list[Outcome],
           today: datetime.date) -> Quarantine:
    """Tonight's decisions: `failing` ("<mode>:<name>", failed at least once tonight), the file's `entries`, the
    --expectations file's [[flaky]] (`hand`) and the history's `outcomes` (oldest first)."""
    by_test: dict[str, list[Outcome]] = {}
    for o in outcomes:
        by_test.setdefault(f"{o.mode}:{o.test}", []).append(o)

    def last(key: str) -> list[Outcome]:
        return by_test.get(key, [])[-LAST_RUNS:]

    def by_hand(key: str) -> Entry | None:
        mode, name = key.split(":", 1)
        return hand.flaky_entry(name, mode)
    kept, said = [], []
    for e in entries:
        key = f"{e.mode}:{e.test}"
        if e.by != BY_NIGHTLY or not e.expired(today):
            if e.by == BY_NIGHTLY and (why := released(last(key))):
                said.append(f"released: {key}: {why}")
                continue
            kept.append(dataclasses.replace(e, rate=_rate(last(key))) if e.by == BY_NIGHTLY and last(key) else e)
        elif (entry := quarantined(key, last(key), today)) is not None:
            kept.append(entry)
            said.append(f"renewed: {key}: {entry.rate} (its entry expired on {e.expires})")
        else:
            said.append(f"released: {key}: its entry expired on {e.expires} and it no longer fails on one kernel")
    listed = {f"{e.mode}:{e.test}" for e in kept}
    for key in sorted(set(failing) - listed):
        if by_hand(key) is None and (entry := quarantined(key, last(key), today)) is not None:
            kept.append(entry)
            said.append(f"quarantined: {key}: {entry.rate}; {entry.reason}")
    known = {f"{e.mode}:{e.test}": f"{e.rate or 'no rate'} (known since {e.since}, {e.by}: {e.reason})" for e in kept}
    for key in set(failing) - set(known):
        if (mine := by_hand(key)) is not None:
            known[key] = f"{_rate(last(key))} ({hand.source}: {mine.why()})"
    return Quarantine(known, tuple(said), tuple(kept))


def quarantined(key: str, last: list[Outcome], today: datetime.date) -> Entry | None:
    """The entry for a subtest whose last runs make it known flaky, else None."""
    failures = [o for o in last if o.failed]
    both = _failed_and_passed(last)
    if len(failures) < MIN_FAILURES or both is None:
        return None
    mode, test = key.split(":", 1)
    return Entry(f"failed and passed on one kernel ({both}): no commit to blame", test, mode, rate=_rate(last),
                 since=today, expires=today + datetime.timedelta(days=REVIEW_DAYS), by=BY_NIGHTLY)


def released(last: list[Outcome]) -> str:
    """Why an entry goes ("" while it stays): its rate's upper bound is low enough, or clean nights in a row."""
    runs, failures = counted(last)
    _, high = wilson(failures, runs)
    if last and high < RELEASE_BELOW:
        return f"{_rate(last)}: below {percent(RELEASE_BELOW)} %"
    clean = 0
    for o in reversed([o for o in last if o.source == "night"]):
        if o.status not in CLEAN:
            break
        clean += 1
    return f"passed at the first try {clean} nights in a row" if clean >= CLEAN_NIGHTS else ""


def _failed_and_passed(last: list[Outcome]) -> str | None:
    """A kernel on which the subtest both failed and passed (a flaky result is both), else None."""
    seen: dict[str, set[bool]] = {}
    for o in last:
        if o.status is Status.FLAKY:
            return o.kernel
        seen.setdefault(o.kernel, set()).add(o.failed)
    return next((k for k, both in seen.items() if both == {True, False}), None)


def _rate(last: list[Outcome]) -> str:
    """"2 failed of 4 (50 %, 95 %: 15-85 %) in its last 2 result(s)" (a flaky result: a failure and its retry's pass)."""
    runs, failures = counted(last)
    return rate_text(failures, runs) + f" in its last {len(last)} result(s)"


def write(nights: Path, entries: tuple[Entry, ...]) -> None:
    """NIGHTS_DIR/known-flaky.toml: the entries, with a header saying how to edit them (no file while none was ever
    decided)."""
    if not entries and not (nights / FILE).exists():
        return
    lines = ["# Known flaky subtests, decided by the nightly (harness/nightly/quarantine.py) and rewritten each night.",
             "# Edit freely: delete an entry to release it, set by = \"hand\" and the nightly leaves it as it is.", ""]
    for e in entries:
        lines += ["[[flaky]]", f"test = {json.dumps(e.test)}", f"mode = {json.dumps(e.mode)}",
                  *([f"kernel = {json.dumps(e.kernel)}"] if e.kernel != "*" else []),
                  f"reason = {json.dumps(e.reason)}", f"rate = {json.dumps(e.rate)}",
                  *([f"since = {e.since.isoformat()}"] if e.since else []),
                  *([f"expires = {e.expires.isoformat()}"] if e.expires else []), f"by = {json.dumps(e.by)}", ""]
    write_atomic(nights / FILE, "\n".join(lines))
