"""Text in, values out: any saved log (test_progs, TAP 13 / KTAP, a serial console) to one ParsedLog."""
from __future__ import annotations

from harness.parse.console import separate
from harness.parse.tap import is_tap, parse_tap
from harness.parse.test_progs import ParsedLog, ParsedSubtest, parse_test_progs


def parse_log(text: str) -> ParsedLog:
    """test_progs' lines wherever they are (plain, "# "-prefixed, among kernel messages), plus TAP results."""
    log = parse_test_progs(text)
    lines, _ = separate(text)
    if is_tap(lines):
        tap = parse_tap(lines)
        failed_under = {r.name.rsplit("/", 1)[0] for r in tap.results if r.result != "OK" and "/" in r.name}
        for r in tap.results:
            if r.has_children:
                log.tests.setdefault(r.name, r.result)
                if r.result == "OK" or r.name in failed_under:
                    continue  # a container: its children carry the results (a failure of its own is kept)
            log.subtests.setdefault(r.name, ParsedSubtest(r.name, r.result, r.output, r.line_no, r.reason))
        log.problems += tap.problems
    return log
