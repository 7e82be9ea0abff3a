"""The terminal report: one line per result as it is known, then the totals."""
from __future__ import annotations

from collections.abc import Callable

from harness.history import rate_text
from harness.results import Status, SubtestResult, SuiteRun, as_written, skips_by_reason


def result_line(r: SubtestResult) -> str:
    took = f" [{r.duration_s:.1f} s]" if r.duration_s is not None else ""
    return f"{as_written(r.status).value.upper():8} {r.name}" + (f" ({r.reason})" if r.reason else "") + took


def totals_line(results: list[SubtestResult]) -> str:
    """"3 passed, 16 skipped (16 not in this build)": the statuses, the skips by reason, and the sub-cases' skips."""
    counts = {s: sum(as_written(r.status) is s for r in results) for s in Status}
    own, cases = skips_by_reason(results)
    line = ", ".join(f"{n} {s.value}" + (f" ({reasons(own)})" if s is Status.SKIPPED and own else "")
                     for s, n in counts.items() if n) or "no results"
    return line + (f"; sub-cases skipped: {sum(cases.values())} ({reasons(cases)})" if cases else "")


def reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {reason}" for reason, n in counts.items())


def print_results(runs: list[SuiteRun], write: Callable[[str], object]) -> None:
    for run in runs:
        for r in run.subtests:
            write(result_line(r))
    for problem in (p for run in runs for p in run.infra_errors):
        write(f"infrastructure: {problem}")
    write(totals_line([r for run in runs for r in run.subtests]))


def rate_lines(rates: dict[str, tuple[int, int]]) -> list[str]:
    """--count's summary: `mptcp/subflow: 2 failed of 50 (4 %, 95 %: 1-13 %)`, the subtests that failed first."""
    return [f"{name}: {rate_text(failed, ran)}" for name, (failed, ran) in
            sorted(rates.items(), key=lambda kv: (-kv[1][0], kv[0]))]
