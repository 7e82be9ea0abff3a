"""JUnit XML (junit-xml): one testcase per subtest, its own output in system-out."""
from __future__ import annotations

from junit_xml import TestCase, TestSuite, to_xml_report_string

from harness.results import Status, SuiteRun


def to_junit(runs: list[SuiteRun]) -> str:
    suites = []
    for run in runs:
        cases = []
        for r in run.subtests:
            case = TestCase(r.name, classname=run.suite, elapsed_sec=r.duration_s, stdout="\n".join(r.output) or None)
            if r.status in (Status.SKIPPED, Status.NOT_RUN):
                case.add_skipped_info(r.reason or r.status.value)
            elif r.status is Status.XFAIL:  # as pytest's own JUnit report writes an xfail
                case.add_skipped_info(f"xfail: {r.reason}", "\n".join(r.output))
            elif r.status is Status.XPASS:
                case.stderr = f"xpass: {r.reason}"
            elif r.status is Status.FAILED:
                case.add_failure_info(f"{r.name} failed", "\n".join(r.output))
            elif r.status in (Status.LOST, Status.TIMEOUT):
                case.add_error_info(f"{r.name} {r.status.value}: {r.reason}", "\n".join(r.output), r.status.value)
            cases.append(case)
        suites.append(TestSuite(run.suite, cases, properties={"kernel": run.kernel}))
    return str(to_xml_report_string(suites))
