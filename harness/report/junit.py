"""JUnit XML (junit-xml): one testcase per subtest, its own output in system-out, a failure's pcaps attached."""
from __future__ import annotations

from typing import TYPE_CHECKING

from harness.results import SKIPS, UNFINISHED, Status, SuiteRun

if TYPE_CHECKING:
    from junit_xml import TestCase


def _case(name: str, classname: str, status: Status, reason: str, duration_s: float | None,
          output: tuple[str, ...], pcaps: tuple[str, ...] = ()) -> TestCase:
    from junit_xml import TestCase

    # --pcap: a failure's captures as attachments ([[ATTACHMENT|path]] in its system-out: Jenkins' JUnit Attachments
    # plugin and GitLab's test reports read them)
    stdout = "\n".join((*output, *(f"[[ATTACHMENT|{p}]]" for p in pcaps)))
    case = TestCase(name, classname=classname, elapsed_sec=duration_s, stdout=stdout or None)
    if status in SKIPS:
        case.add_skipped_info(reason or status.value)
    elif status is Status.XFAIL:  # as pytest's own JUnit report writes an xfail
        case.add_skipped_info(f"xfail: {reason}", "\n".join(output))
    elif status is Status.XPASS:
        case.stderr = f"xpass: {reason}"
    elif status is Status.FAILED:
        case.add_failure_info(f"{name} failed" + (f": {reason}" if reason else ""), "\n".join(output))
    elif status in UNFINISHED:
        case.add_error_info(f"{name} {status.value}: {reason}", "\n".join(output), status.value)
    return case


def to_junit(runs: list[SuiteRun]) -> str:
    """A testcase per subtest; a kselftest script's sub-cases each one more, named under it
    ("net-mptcp/mptcp_join/<sub-case>", classname the script).
    junit-xml is imported here: with xml.dom and xml.etree ~13 ms of every pytest start, and a run writes
    reports only when asked (--report-dir)."""
    from junit_xml import TestSuite, to_xml_report_string

    suites = []
    for run in runs:
        cases = []
        for r in run.subtests:
            cases.append(_case(r.name, run.suite, r.status, r.reason, r.duration_s, r.output, r.pcaps))
            cases += [_case(f"{r.name}/{c.name}", r.name, c.status, c.reason, c.duration_s, c.output) for c in r.subcases]
        suites.append(TestSuite(run.suite, cases, properties={"kernel": run.kernel}))
    return str(to_xml_report_string(suites))
