"""Text in, values out: any saved log (test_progs, TAP 13 / KTAP, a serial console) to one ParsedLog."""
from __future__ import annotations

from harness.parse.console import separate
from harness.parse.tap import TapResult, is_tap, parse_tap
from harness.parse.test_progs import ParsedLog, ParsedSubtest, Word, parse_test_progs


def parse_log(text: str) -> ParsedLog:
    """test_progs' lines wherever they are (plain, "# "-prefixed, among kernel messages), plus TAP results.

    A TAP result that wraps test_progs (the kselftest runner's "ok 1 selftests: bpf: test_progs",
    the MPTCP CI's "ok 1 test: ...") is the parent of its test_progs results, not one more
    result beside them; so is a TAP result with nested TAP results of its own. A parent that
    failed although none of its children did keeps its failure as a result of its own.
    """
    log = parse_test_progs(text)
    lines, _ = separate(text)
    if not is_tap(lines):
        return log
    tap = parse_tap(lines)
    failed_under = {r.name.rsplit("/", 1)[0] for r in tap.results if r.result is not Word.OK and "/" in r.name}
    wrappers = _test_progs_wrappers(tap.results, log)
    for r in tap.results:
        if r.has_children or r.name in wrappers:
            log.tests.setdefault(r.name, r.result)
            if r.result is Word.OK or r.name in failed_under or wrappers.get(r.name, False):
                continue  # a container: its children carry the results
        log.subtests.setdefault(r.name, ParsedSubtest(r.name, r.result, r.output, r.line_no, r.reason))
    log.problems += tap.problems
    return log


def _test_progs_wrappers(results: list[TapResult], log: ParsedLog) -> dict[str, bool]:
    """Outermost TAP results that wrap test_progs results -> whether one of those failed.

    A test_progs result belongs to the first outermost TAP result after it (output comes
    before its result line), or, past the last one, to the last (a log that prints the
    result first and the output after it).
    """
    outer = sorted((r for r in results if r.depth == 0 and r.line_no > 0), key=lambda r: r.line_no)
    wrappers: dict[str, bool] = {}
    for sub in log.subtests.values():
        owner = next((r for r in outer if r.line_no > sub.line_no), outer[-1] if outer else None)
        if owner is not None:
            wrappers[owner.name] = wrappers.get(owner.name, False) or sub.result is Word.FAIL
    return wrappers
