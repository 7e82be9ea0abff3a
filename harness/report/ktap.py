"""KTAP v1 (Documentation/dev-tools/ktap.rst): one suite per test, one result line per subtest."""
from __future__ import annotations

from harness.results import PASSING, SKIPS, Status, SubtestResult, SuiteRun, suite_passed


def _result_line(indent: str, i: int, name: str, status: Status, reason: str) -> str:
    short = name.replace("#", "")  # "#" would start a KTAP directive
    if status is Status.XFAIL:  # TAP's TODO: a failure that is known
        return f"{indent}not ok {i} {short} # TODO {reason}"
    if status is Status.XPASS:
        return f"{indent}ok {i} {short} # TODO xpass: {reason}"
    if status in SKIPS:
        return f"{indent}ok {i} {short} # SKIP {reason or status.value}"
    if status in PASSING:
        return f"{indent}ok {i} {short}" + (f" # flaky: {reason or 'passed on retry'}" if status is Status.FLAKY else "")
    return f"{indent}not ok {i} {short}" + (f" # {status.value}: {reason}" if reason else "")


def _subcases(r: SubtestResult) -> list[str]:
    """A kselftest script's own results, one level below it, as KTAP nests a suite's."""
    indent = " " * 8
    lines = [f"{indent}KTAP version 1", f"{indent}# Subtest: {r.name.split('/', 1)[-1]}", f"{indent}1..{len(r.subcases)}"]
    for i, c in enumerate(r.subcases, start=1):
        if c.status.is_problem:
            lines += [f"{indent}# {line}" for line in c.output]
        lines.append(_result_line(indent, i, c.name, c.status, c.reason))
    return lines


def to_ktap(runs: list[SuiteRun]) -> str:
    lines = ["KTAP version 1", f"1..{len(runs)}"]
    for n, run in enumerate(runs, start=1):
        lines += ["    KTAP version 1", f"    # Subtest: {run.suite}", f"    1..{len(run.subtests)}"]
        for i, r in enumerate(run.subtests, start=1):
            if r.subcases:
                lines += _subcases(r)
            elif r.status.is_problem or r.status is Status.XFAIL:
                lines += [f"    # {line}" for line in r.output]
            lines.append(_result_line("    ", i, r.name.split("/", 1)[-1], r.status, r.reason))
        lines += [f"# {e}" for e in run.infra_errors]
        lines.append(f"{'ok' if suite_passed(run) else 'not ok'} {n} {run.suite}")
    return "\n".join(lines) + "\n"
