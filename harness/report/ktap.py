"""KTAP v1 (Documentation/dev-tools/ktap.rst): one suite per test, one result line per subtest."""
from __future__ import annotations

from harness.results import Status, SuiteRun

_SKIP = (Status.SKIPPED, Status.NOT_RUN)
_OK = (Status.PASSED, Status.FLAKY)


def to_ktap(runs: list[SuiteRun]) -> str:
    lines = ["KTAP version 1", f"1..{len(runs)}"]
    for n, run in enumerate(runs, start=1):
        lines += ["    KTAP version 1", f"    # Subtest: {run.suite}", f"    1..{len(run.subtests)}"]
        for i, r in enumerate(run.subtests, start=1):
            short = r.name.split("/", 1)[-1].replace("#", "")  # "#" would start a KTAP directive
            if r.status.is_problem:
                lines += [f"    # {line}" for line in r.output]
            if r.status is Status.XFAIL:  # TAP's TODO: a failure that is known
                lines += [f"    # {line}" for line in r.output]
                lines.append(f"    not ok {i} {short} # TODO {r.reason}")
            elif r.status is Status.XPASS:
                lines.append(f"    ok {i} {short} # TODO xpass: {r.reason}")
            elif r.status in _SKIP:
                lines.append(f"    ok {i} {short} # SKIP {r.reason or r.status.value}")
            elif r.status in _OK:
                lines.append(f"    ok {i} {short}" + (" # flaky: passed on retry" if r.status is Status.FLAKY else ""))
            else:
                lines.append(f"    not ok {i} {short}" + (f" # {r.status.value}: {r.reason}" if r.reason else ""))
        failed = any(r.status.is_problem for r in run.subtests) or bool(run.infra_errors)
        lines += [f"# {e}" for e in run.infra_errors]
        lines.append(f"{'not ok' if failed else 'ok'} {n} {run.suite}")
    return "\n".join(lines) + "\n"
