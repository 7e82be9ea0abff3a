"""Parse test_progs' human-readable output into per-subtest records (pure: text in, values out).

What test_progs prints (tools/testing/selftests/bpf/test_progs.c):
  <log lines of a subtest, when it failed or with -v>
  #254/1   mptcp/base:OK
  #254     mptcp:OK
  ...
  All error logs:          <- repeats each failed test's log and result lines
  Summary: 1/4 PASSED, 0 SKIPPED, 0/0 FAILED
A subtest's own output is the log printed just before its result line.
The same lines are recognised inside the kselftest runner's "# " prefixes and on a serial
console shared with kernel messages (see parse.console).
"""
from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

from harness.parse.console import ConsoleEvent, separate

# A subtest's result line, as an extended regular expression that awk and Python both read:
# the guest marks these lines as they pass (guest/scripts/mark-results.awk), the host parses them.
SUBTEST_RESULT_LINE = "^#[0-9]+/[0-9]+[ \t]+[^ \t].*:(OK|FAIL|SKIP|TIMEOUT)"
# The same grammar with its parts named. After the result word: nothing, " (reason)", or a
# kernel message that began mid-line. TIMEOUT: the kselftest runner's, for a script it cut off.
SUBTEST_RESULT = re.compile(
    r"^#(?P<num>[0-9]+)/(?P<sub>[0-9]+)[ \t]+(?P<name>[^ \t].*?):(?P<result>OK|FAIL|SKIP|TIMEOUT)(?P<rest>.*)$")
TEST_RESULT = re.compile(r"^#(?P<num>\d+)\s+(?P<name>[^\s/]+):(?P<result>OK|FAIL|SKIP)(?P<rest>.*)$")
ERROR_LOGS_HEADER = re.compile(r"^All error logs:\s*$")
# Older test_progs (6.12 and before) print "%d FAILED" without the failed subtests' count.
SUMMARY = re.compile(
    r"^Summary: (?P<tests_ok>\d+)/(?P<subtests_ok>\d+) PASSED, (?P<skipped>\d+) SKIPPED"
    r"(?: \((?P<not_built>\d+) not built\))?, (?P<tests_failed>\d+)(?:/(?P<subtests_failed>\d+))? FAILED\s*$"
)


class Word(enum.StrEnum):
    """What a log says of a result: test_progs' OK/FAIL/SKIP, TAP's TIMEOUT directive, a result never reported."""

    OK = "OK"
    FAIL = "FAIL"
    SKIP = "SKIP"
    TIMEOUT = "TIMEOUT"
    LOST = "LOST"


@dataclass(frozen=True)
class ParsedSubtest:
    name: str  # "mptcp/base"
    result: Word
    output: tuple[str, ...]
    line_no: int  # 1-based line of its result line
    reason: str = ""
    duration_s: float | None = None


@dataclass(frozen=True)
class Summary:
    tests_passed: int
    subtests_passed: int
    skipped: int
    tests_failed: int
    subtests_failed: int | None  # None: an older test_progs that does not count them


@dataclass
class ParsedLog:
    subtests: dict[str, ParsedSubtest] = field(default_factory=dict)
    tests: dict[str, Word] = field(default_factory=dict)  # top-level test -> its result
    summary: Summary | None = None
    preamble: list[str] = field(default_factory=list)  # lines before the first test's output
    console: list[ConsoleEvent] = field(default_factory=list)  # kernel messages found among the lines
    problems: list[str] = field(default_factory=list)  # signs that the output was cut short

    @property
    def test_progs_seen(self) -> bool:
        return bool(self.subtests or self.tests or self.summary)


def _split_rest(rest: str, line_no: int, log: ParsedLog) -> str:
    """The reason after a result word; text glued to the word is a kernel message (console)."""
    if rest and not rest[0].isspace() and rest[0] != "(":
        log.console.append(ConsoleEvent(line_no, rest))
        return ""
    return rest.strip(" ()")


def unprefixed(line: str) -> str:
    """A line without the kselftest runner's "# " prefixes (one per nesting level)."""
    while line.startswith("# "):
        line = line[2:]
    return line


def parse_test_progs(text: str) -> ParsedLog:
    log = ParsedLog()
    numbered, log.console = separate(text)
    pending: list[str] = []  # lines since the last result line
    in_error_logs = False
    error_log_output: dict[str, tuple[str, ...]] = {}
    for numbered_line in numbered:
        line_no, original = numbered_line.line_no, numbered_line.text
        line = unprefixed(original)
        if ERROR_LOGS_HEADER.match(line):
            in_error_logs = True
            pending = []
            continue
        if m := SUMMARY.match(line):
            log.summary = Summary(
                int(m["tests_ok"]), int(m["subtests_ok"]), int(m["skipped"]),
                int(m["tests_failed"]), int(m["subtests_failed"]) if m["subtests_failed"] else None,
            )
            pending = []
            continue
        if m := SUBTEST_RESULT.match(line):
            name = m["name"]
            if in_error_logs:
                # the same failure repeated; its captured log alone, without stderr
                error_log_output[name] = tuple(pending)
            elif name not in log.subtests:
                log.subtests[name] = ParsedSubtest(
                    name, Word(m["result"]), tuple(pending), line_no, reason=_split_rest(m["rest"], line_no, log)
                )
            pending = []
            continue
        if m := TEST_RESULT.match(line):
            if not in_error_logs:
                log.tests.setdefault(m["name"], Word(m["result"]))
                _split_rest(m["rest"], line_no, log)
            pending = []
            continue
        if not log.subtests and not log.tests and _is_preamble(line):
            log.preamble.append(line)
            continue
        pending.append(original)
    for name, output in error_log_output.items():
        if name in log.subtests and output and not log.subtests[name].output:
            sub = log.subtests[name]
            log.subtests[name] = ParsedSubtest(sub.name, sub.result, output, sub.line_no, sub.reason)
    if log.test_progs_seen and log.summary is None:
        log.problems.append("test_progs output ends without its Summary line: it did not finish")
    return log


def _is_preamble(line: str) -> bool:
    """test_progs' start-up chatter about bpf_testmod, before any test runs."""
    return line.startswith(("WARNING! Selftests relying on bpf_testmod", "Can't find bpf_testmod", "bpf_testmod.ko", "Loading bpf_testmod",
                            "Successfully loaded bpf_testmod"))
