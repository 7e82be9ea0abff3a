"""The results model, and the one function that decides each subtest's final status.

Every report (pytest items, console, JUnit, JSON) renders these values; none of them
decides a status on its own, so they cannot disagree.
"""
from __future__ import annotations

import dataclasses
import enum
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from harness.crashes import fingerprint
from harness.errors import Exit
from harness.parse.console import Incident, IncidentKind
from harness.parse.kselftest import ParsedSubcase
from harness.parse.test_progs import ParsedLog, Word

NOT_IN_BUILD = "not in this build"  # the reason a NOT_IN_BUILD result gives, as every report shows it


class Status(enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # it said so itself
    NOT_IN_BUILD = "not_in_build"  # the build has no such subtest (a test_progs or a kernel without it): a skip
    FLAKY = "flaky"
    LOST = "lost"  # expected, but the output stopped before it reported
    TIMEOUT = "timeout"
    NOT_RUN = "not_run"
    XFAIL = "xfail"  # failed, as an expectations file says it does
    XPASS = "xpass"  # passed, though an expectations file says it fails: the entry can go

    @property
    def is_problem(self) -> bool:
        return self in FAILING


# The status groups every report and front end uses, named once.
FAILING = frozenset({Status.FAILED, Status.TIMEOUT, Status.LOST})  # unexpected failures: a run or night fails
CLEAN = frozenset({Status.PASSED, Status.XPASS})  # passed at the first try: nothing to look at
PASSING = CLEAN | {Status.FLAKY}  # passed in the end (a flaky one on a retry)
FAILED_AS_RUN = frozenset({Status.FAILED, Status.TIMEOUT, Status.XFAIL})  # it failed, expected or not: what bisect seeks
SKIPS = frozenset({Status.SKIPPED, Status.NOT_IN_BUILD, Status.NOT_RUN})  # ran no test: a skip in KTAP and JUnit
UNFINISHED = frozenset({Status.LOST, Status.TIMEOUT})  # never came to its own end: an error in JUnit, not a failure
UNTESTABLE = SKIPS | {Status.LOST}  # says nothing of the kernel: a bisect step with one is skipped
RAN_TO_ITS_END = frozenset({Status.PASSED, Status.FAILED, Status.FLAKY})  # its duration is its own (a plan weighs it)
FAILED_AT_FIRST = FAILED_AS_RUN | {Status.LOST, Status.FLAKY}  # it failed once at least: a failure in its rate
BY_THE_KERNEL = frozenset({Status.FAILED, Status.TIMEOUT})  # a failure the kernel made, not the machinery (lost)


@dataclass(frozen=True)
class Subcase:
    """One result a kselftest script reported itself (its TAP): nested under the script's SubtestResult."""

    name: str  # "many msk socket present"
    status: Status  # passed, failed, skipped, timeout; flaky: failed, marked "IGNORE Flaky" by the script
    reason: str = ""
    duration_s: float | None = None  # as the script timed it
    output: tuple[str, ...] = ()  # its TAP line and the script's lines around it


@dataclass(frozen=True)
class SubtestResult:
    name: str  # "mptcp/base", "net-mptcp/diag"
    status: Status
    output: tuple[str, ...] = ()  # this subtest's own lines from test_progs, or a script's own summary of them
    reason: str = ""  # why skipped / lost / failed, in a few words
    duration_s: float | None = None
    in_suite: bool = True  # False: the build has it, the suite file does not
    subcases: tuple[Subcase, ...] = ()  # a kselftest script's own results
    blame: Incident | None = None  # the kernel incident that failed it (the first, when several did)
    pcaps: tuple[str, ...] = ()  # --pcap: the captures a failure kept (harness/run/pcaps.py)


@dataclass(frozen=True)
class SuiteRun:
    """What one run of a suite on one kernel produced."""

    suite: str
    kernel: str
    subtests: tuple[SubtestResult, ...]
    log: str = ""  # the runner's whole output, as captured
    infra_errors: tuple[str, ...] = field(default_factory=tuple)
    elapsed_s: float = 0.0
    incidents: tuple[Incident, ...] = ()  # what the kernel reported while the run's guests ran, attributed
    interrupted: bool = False  # Ctrl-C / SIGTERM: what had not finished is not_run

    def get(self, name: str) -> SubtestResult | None:
        return next((r for r in self.subtests if r.name == name), None)


def as_written(status: Status) -> Status:
    """A status as the reports with no word for "not in this build" write it (KTAP, JUnit, KCIDB, results.json and
    the terminal's lines): a skip, its reason saying why."""
    return Status.SKIPPED if status is Status.NOT_IN_BUILD else status


def skip_reason(status: Status, reason: str) -> str:
    """What a skip is counted under: its reason, in a few words (NOT_IN_BUILD's own when it gives none)."""
    said = " ".join(reason.split())[:REASON_WORDS]
    return said or (NOT_IN_BUILD if status is Status.NOT_IN_BUILD else "no reason given")


REASON_WORDS = 72  # a reason's characters a count goes by: enough for mptcp_lib's "Feature probably not supported"


def skips_by_reason(results: list[SubtestResult]) -> tuple[dict[str, int], dict[str, int]]:
    """The skips of these results by reason, most first: the subtests' (a script's KSFT_SKIP, "not in this build" ...),
    then their sub-cases' (a script's TAP "# SKIP reason", mptcp_lib's "[SKIP] Feature probably not supported")."""
    own = Counter(skip_reason(r.status, r.reason) for r in results if r.status in SKIPS)
    cases = Counter(skip_reason(c.status, c.reason) for r in results for c in r.subcases if c.status in SKIPS)
    return dict(own.most_common()), dict(cases.most_common())


def suite_passed(run: SuiteRun) -> bool:
    """A suite's own verdict: no unexpected failure, and the run itself came to its end."""
    return not any(r.status.is_problem for r in run.subtests) and not run.infra_errors


# The plain forms (JSON's types) of the values above: the one place that knows their fields. pytest-xdist sends a
# SuiteRun from a worker to the controller in it; results.json (report/json.py) is a SubtestResult's, per test.

def subtest_to_plain(r: SubtestResult) -> dict[str, Any]:
    plain = dataclasses.asdict(r)
    plain["status"] = r.status.value
    for case in plain["subcases"]:
        case["status"] = case["status"].value
    return plain


def subtest_from_plain(plain: dict[str, Any]) -> SubtestResult:
    """A SubtestResult from its plain form; keys it lacks take their defaults (an older results.json)."""
    return SubtestResult(
        plain["name"], Status(plain["status"]), tuple(plain.get("output", ())), plain.get("reason", ""),
        plain.get("duration_s"), plain.get("in_suite", True), tuple(subcase_from_plain(c) for c in plain.get("subcases", ())),
        incident_from_plain(plain["blame"]) if plain.get("blame") else None, tuple(plain.get("pcaps", ())))


def subcase_from_plain(plain: dict[str, Any]) -> Subcase:
    return Subcase(plain["name"], Status(plain["status"]), plain.get("reason", ""), plain.get("duration_s"),
                   tuple(plain.get("output", ())))


def incident_from_plain(plain: dict[str, Any]) -> Incident:
    return Incident(**{**plain, "kind": IncidentKind(plain["kind"]), "excerpt": tuple(plain["excerpt"]),
                       "decoded": tuple(plain["decoded"]), "running": tuple(plain["running"])})


def run_to_plain(run: SuiteRun) -> dict[str, Any]:
    return {**dataclasses.asdict(run), "subtests": [subtest_to_plain(r) for r in run.subtests]}


def run_from_plain(plain: dict[str, Any]) -> SuiteRun:
    return SuiteRun(**{**plain, "subtests": tuple(subtest_from_plain(s) for s in plain["subtests"]),
                       "infra_errors": tuple(plain["infra_errors"]),
                       "incidents": tuple(incident_from_plain(i) for i in plain["incidents"])})


# result words of the parsers: test_progs' OK/FAIL/SKIP, plus what TAP directives and cut plans say
_STATUS_OF_WORD = {
    Word.OK: Status.PASSED, Word.FAIL: Status.FAILED, Word.SKIP: Status.SKIPPED, Word.TIMEOUT: Status.TIMEOUT,
    Word.LOST: Status.LOST,
}


def decide(
    test: str,
    expected: list[str],
    suite_subtests: list[str],
    parsed: ParsedLog,
    runner_finished: bool,
    nested: bool = False,
    printed_by: str = "{}.sh",
) -> list[SubtestResult]:
    """Final status of every subtest asked for (`expected`, names without the test prefix).

    A subtest that reported is what it reported. One that did not report is "not in this
    build" when test_progs finished the parent test (it then evaluated every subtest the
    binary has, and this one was not among them); otherwise it is lost: the output
    stopped first, and a missing result is never a pass. `nested`: each subtest is a
    kselftest script or a KUnit suite whose own (K)TAP results are its sub-cases (see scripted());
    `printed_by` names what printed them, from the subtest's name ("{}.sh": the script).
    """
    # test_progs prints its Summary last: with it, every subtest the binary has was matched
    # against the selection (a test none of whose subtests matched prints nothing at all)
    # (a kselftest script is not a build's subtest: one that did not report is lost, never "not in this build")
    parent_done = runner_finished and (test in parsed.tests or parsed.summary is not None) and not nested
    said = reported(parsed, nested, printed_by)
    results: list[SubtestResult] = []
    for sub in expected:
        name = f"{test}/{sub}"
        if name in said:
            results.append(said[name])
        elif parent_done:
            results.append(SubtestResult(name, Status.NOT_IN_BUILD, reason=NOT_IN_BUILD))
        else:
            why = "test_progs did not finish" if not runner_finished else f"{test} never reported"
            results.append(SubtestResult(name, Status.LOST, reason=why))
    asked = {f"{test}/{s}" for s in expected}
    suite = {f"{test}/{s}" for s in suite_subtests}
    # reported, not asked for: never dropped
    results += [dataclasses.replace(r, in_suite=name in suite) for name, r in said.items() if name not in asked]
    return results


def reported(parsed: ParsedLog, nested: bool = False, printed_by: str = "{}.sh") -> dict[str, SubtestResult]:
    """What each subtest that reported is, by its own output (a script's by its sub-cases): the line shown as it
    runs (run/watch.py) and its verdict at the end (decide()) come from here, on the same parsed log."""
    said = {}
    for name, seen in parsed.subtests.items():
        status = Status.NOT_IN_BUILD if seen.result is Word.SKIP and seen.reason == NOT_IN_BUILD else _STATUS_OF_WORD[seen.result]
        result = SubtestResult(name, status, seen.output, seen.reason, seen.duration_s)
        said[name] = scripted(result, seen.subcases, printed_by) if nested else result
    return said


def scripted(result: SubtestResult, parsed: tuple[ParsedSubcase, ...], printed_by: str = "{}.sh") -> SubtestResult:
    """A kselftest script's (or a KUnit suite's) result with its sub-cases (as parsed from its output): failed when
    one failed, whatever its exit status said (skips allowed); its output then starts with each failing sub-case
    and its own lines."""
    script = result.name.rsplit("/", 1)[-1]
    cases = tuple(Subcase(c.name, _STATUS_OF_WORD[c.result] if not c.flaky_ignored else Status.FLAKY,
                          "ignored by the script: IGNORE Flaky" if c.flaky_ignored else c.reason, c.duration_s, c.lines)
                  for c in parsed)
    failing = [c for c in cases if c.status.is_problem]
    status, reason, output = result.status, result.reason, result.output
    if status is Status.SKIPPED and not reason:
        reason = next((line.strip() for line in reversed(output) if "SKIP" in line), "")
    if failing:
        status = Status.TIMEOUT if status is Status.TIMEOUT else Status.FAILED
        listed = ", ".join(c.name for c in failing[:3]) + (f" and {len(failing) - 3} more" if len(failing) > 3 else "")
        reason = f"{len(failing)} of {len(cases)} sub-cases failed: {listed}" if status is Status.FAILED else \
            f"{reason}, in sub-case {failing[-1].name}"
        summary = [f"failing sub-case: {c.name}" + "".join(f"\n    {line}" for line in c.output) for c in failing]
        output = (*"\n".join(summary).splitlines(), "", f"{printed_by.format(script)} printed:", *output)
    return dataclasses.replace(result, status=status, reason=reason, output=output, subcases=cases)



# Every other way a subtest's status is made, besides what its output said (decide() above).

DECODED = "decoded by the tree's scripts/decode_stacktrace.sh:"


def blamed(result: SubtestResult, reason: str, incident: Incident) -> SubtestResult:
    """The kernel crashed or warned while it ran: failed, with the kernel's trace as part of its output (and beside it,
    the trace decoded to file:line, when the tree could). The first incident is its blame and names the reason (what
    went wrong first; a lockdep report is often followed by the BUG it leads to), later ones add their traces; but
    a starved vCPU's (TIMING_INCIDENTS) gives way to a real one after it."""
    output = (*result.output, *incident.excerpt, *decoded_lines(incident))
    first = result.blame
    if result.status is Status.FAILED and first is not None and not (
            first.kind in TIMING_INCIDENTS and incident.kind not in TIMING_INCIDENTS):
        return dataclasses.replace(result, output=output)
    return dataclasses.replace(result, status=Status.FAILED, reason=reason, blame=incident, output=output)


def decoded_lines(incident: Incident) -> tuple[str, ...]:
    return (DECODED, *incident.decoded) if incident.decoded else ()


def timed_out(result: SubtestResult, why: str) -> SubtestResult:
    return dataclasses.replace(result, status=Status.TIMEOUT, reason=why)


def unfit(names: list[str], why: str) -> tuple[SubtestResult, ...]:
    """Not run, every one skipped: the kernel cannot run them (it lacks options their suite's config file asks for)."""
    return tuple(SubtestResult(name, Status.SKIPPED, reason=why) for name in names)


def not_in_build(names: list[str]) -> tuple[SubtestResult, ...]:
    """Not run, every one skipped: the kernel has none of them (a KUnit suite's module it was built without)."""
    return tuple(SubtestResult(name, Status.NOT_IN_BUILD, reason=NOT_IN_BUILD) for name in names)


def not_run(name: str, why: str) -> SubtestResult:
    """Never started: the run was interrupted or ran out of time first."""
    return SubtestResult(name, Status.NOT_RUN, reason=why)


def flaky(first: SubtestResult, again: SubtestResult, attempt: int) -> SubtestResult:
    """Failed, then passed on a retry: its first failure stays its output."""
    why = f"failed, then passed on retry {attempt}"
    passed_again = {c.name for c in again.subcases if not c.status.is_problem}
    cases = tuple(dataclasses.replace(c, status=Status.FLAKY, reason=why) if c.status.is_problem and c.name in passed_again
                  else c for c in first.subcases)
    return dataclasses.replace(first, status=Status.FLAKY, reason=why, duration_s=again.duration_s, subcases=cases)


def expected(result: SubtestResult, why: str) -> SubtestResult:
    """An expectations file says this subtest fails: xfail when it did, xpass when it passed."""
    if result.status in (Status.FAILED, Status.TIMEOUT):
        return dataclasses.replace(result, status=Status.XFAIL, reason=f"expected: {why} ({result.reason})".replace(" ()", ""))
    if result.status in (Status.PASSED, Status.FLAKY):
        return dataclasses.replace(result, status=Status.XPASS, reason=f"expected to fail: {why}")
    return result


# What the scheduler observed, judged: a kernel incident while subtests ran, the guest's end, a retry.

# A starved vCPU (an emulated guest on a busy host) shows these without any kernel bug: a
# subtest failed by one is retried like any failure, and a pass then reads as flaky. A hung
# task is not among them: blocked for minutes is a bug (a lost wakeup, a leaked lock), not a
# slow host, so it fails the subtest like a crash does.
TIMING_INCIDENTS = frozenset({IncidentKind.RCU_STALL, IncidentKind.SOFT_LOCKUP})


def by_incident(result: SubtestResult, incident: Incident, fail_on_warning: bool) -> SubtestResult:
    """A kernel incident while `result` ran: what it makes of it. A fatal one is judged with the guest's end
    (by_guest_end); a warning fails a subtest only with fail_on_warning; a lost subtest stays lost."""
    if incident.fatal or (incident.kind is IncidentKind.WARNING and not fail_on_warning) or result.status is Status.LOST:
        return result
    return blamed(result, f"kernel {incident.kind} while it ran", incident)


def by_guest_end(result: SubtestResult, timeout: str | None, fatal: Incident | None,
                 before: tuple[Incident, ...] = ()) -> SubtestResult:
    """The guest ended while `result`, alone in it, ran: a timeout (its reason), a fatal incident (the kernel to blame),
    or neither (lost, as decide() said). `before`: what the kernel reported while it ran, before the end (the Oops
    behind a "Fatal exception" panic, which has no trace of its own): their traces come first in its output."""
    if timeout is not None:
        return timed_out(result, timeout)
    if fatal is not None:
        why = f"kernel {fatal.kind}: the guest died"
        for incident in before:
            result = blamed(result, why, incident)
        return blamed(result, why, fatal)
    return result


def retryable(result: SubtestResult) -> bool:
    """Worth a retry: it failed by its own output, or by what a starved vCPU shows (TIMING_INCIDENTS); not by a crash
    or warning of the kernel, which a retry would only meet again."""
    return result.status is Status.FAILED and (result.blame is None or result.blame.kind in TIMING_INCIDENTS)


def after_retry(first: SubtestResult, again: SubtestResult, attempt: int) -> SubtestResult:
    """A retry that passed makes a failure flaky; any other leaves the first result standing."""
    return flaky(first, again, attempt) if again.status is Status.PASSED else first


def run_failed(found: list[SubtestResult], ended_early: bool, out_of_time: bool) -> bool:
    """Did the run itself fail (its problems become the run's infrastructure errors): a subtest lost, nothing found,
    or the run ended before its end."""
    return any(r.status is Status.LOST for r in found) or not found or ended_early or out_of_time


# Rounds (--count): each round's result keeps its own name, pytest-repeat's way: mptcp/base[2-5].
ROUND = re.compile(r"^(?P<name>.*)\[(?P<round>\d+)-(?P<of>\d+)\]$")


def round_name(name: str, round_no: int, rounds: int) -> str:
    return f"{name}[{round_no}-{rounds}]"


def of_round(result: SubtestResult, name: str) -> SubtestResult:
    """A result under its round's name (what a round's item asked for)."""
    return dataclasses.replace(result, name=name)


def failure_rates(results: list[SubtestResult]) -> dict[str, tuple[int, int]]:
    """Per subtest over the rounds: (rounds that failed as run, rounds run); rounds never run (not_run) do not count."""
    rates: dict[str, tuple[int, int]] = {}
    for r in results:
        m = ROUND.match(r.name)
        if m is None or r.status is Status.NOT_RUN:
            continue
        failed, ran = rates.get(m["name"], (0, 0))
        rates[m["name"]] = (failed + (r.status in FAILED_AS_RUN or r.status is Status.LOST), ran + 1)
    return rates


def merge_runs(runs: list[SuiteRun]) -> list[SuiteRun]:
    """One SuiteRun per (suite, kernel), in first-seen order: many small runs (one per item) read as one."""
    merged: dict[tuple[str, str], SuiteRun] = {}
    for run in runs:
        key = (run.suite, run.kernel)
        if key not in merged:
            merged[key] = run
            continue
        m = merged[key]
        merged[key] = SuiteRun(
            m.suite, m.kernel, m.subtests + run.subtests, m.log + run.log, m.infra_errors + run.infra_errors,
            m.elapsed_s + run.elapsed_s, m.incidents + run.incidents, m.interrupted or run.interrupted,
        )
    return list(merged.values())


def exit_code(runs: list[SuiteRun]) -> int:
    """The harness commands' verdict: 0 all passed (skips allowed), 1 a test failed, 3 infrastructure (lost, cut short)."""
    results = [r for run in runs for r in run.subtests]
    if not results or any(run.infra_errors for run in runs) or any(r.status is Status.LOST for r in results):
        return Exit.INFRA
    return Exit.FAILED if any(r.status.is_problem for r in results) else Exit.PASSED


def night_exit_code(statuses: list[Status], infra: bool, unknown_crashes: bool) -> int:
    """A night's verdict: infrastructure (a mode that did not build, a result lost), else failed when a test failed
    unexpectedly or a crash the expectations do not name happened, else passed."""
    if infra or Status.LOST in statuses:
        return Exit.INFRA
    return Exit.FAILED if unknown_crashes or any(s in FAILING for s in statuses) else Exit.PASSED


# A failure's signature: what must be the same for a step to be "bad" (syzbot's users saw wrong culprits from "any
# crash is bad"): the failing subtest with its first failing check, or the kernel's crash with its fingerprint.
FAIL_CHECK = re.compile(r"^\s*(?:#\s*)?(\w+:FAIL:.*)$")
NUMBERS = re.compile(r"-?\b(?:0x[0-9a-f]+|\d+)\b")


def signature(result: SubtestResult) -> str:
    """How `result` failed, without what varies from run to run (numbers, addresses)."""
    if result.blame is not None:  # failed by a kernel incident: its kind and call-trace fingerprint
        return f"{result.reason} [{result.blame.fingerprint or fingerprint(result.blame.excerpt) or 'no call trace'}]"
    if result.status is Status.TIMEOUT:
        return "timeout"
    failing = [c.name for c in result.subcases if c.status.is_problem]
    if failing:  # a kselftest script's or KUnit suite's first failing sub-case
        return f"sub-case {failing[0]}"
    check = next((m[1] for line in result.output if (m := FAIL_CHECK.match(line))), None)
    if check is not None:  # test_progs' first failing check: "verify_msk:FAIL:bpf_map_lookup_elem unexpected error: -N"
        return NUMBERS.sub("N", check.strip())
    return f"{result.status.value}: {NUMBERS.sub('N', result.reason)}".rstrip(": ")
