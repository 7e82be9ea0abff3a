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

import dataclasses
import enum
import functools
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.parse.console import ConsoleEvent, Separator

if TYPE_CHECKING:
    from harness.parse.kselftest import ParsedSubcase

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

    @functools.cached_property
    def subcases(self) -> tuple[ParsedSubcase, ...]:
        """A kselftest script's or KUnit suite's own results, from the (K)TAP in its output (parse.kselftest); read
        when asked: a test_progs subtest has none."""
        from harness.parse.kselftest import parse_subcases

        return tuple(parse_subcases(self.output, self.name.rsplit("/", 1)[-1]))


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
    reader = TestProgsReader()
    reader.feed(text)
    return reader.log(ended=True)


class TestProgsReader:
    """test_progs' output read as it grows (a batch log while its guest runs) or whole (parse_test_progs): feed()
    whole lines as they come, log() what they say so far. Each line is read once."""

    def __init__(self) -> None:
        self._log = ParsedLog()
        self._separator = Separator()
        self._pending: list[str] = []  # lines since the last result line
        self._in_error_logs = False
        self._error_log_output: dict[str, tuple[str, ...]] = {}  # "All error logs:" repeats a failure's output
        self._fed = False  # any line at all (test_progs has started printing)

    @property
    def started(self) -> bool:
        return self._fed

    def feed(self, text: str) -> None:
        numbered, events = self._separator.feed(text)
        self._fed = self._fed or bool(text.strip())
        self._log.console += events
        for line in numbered:
            self._take(line.line_no, line.text)

    def log(self, ended: bool = False) -> ParsedLog:
        """What was read so far; `ended`: nothing more will come (a half line left is a line, an unfinished run said)."""
        if ended:
            for line in self._separator.end():
                self._take(line.line_no, line.text)
        log = dataclasses.replace(self._log, subtests=dict(self._log.subtests), console=list(self._log.console),
                                  problems=list(self._log.problems))
        for name, output in self._error_log_output.items():
            if name in log.subtests and output and not log.subtests[name].output:
                log.subtests[name] = dataclasses.replace(log.subtests[name], output=output)
        if ended and log.test_progs_seen and log.summary is None:
            log.problems.append("test_progs output ends without its Summary line: it did not finish")
        return log

    def _take(self, line_no: int, original: str) -> None:
        log, line = self._log, unprefixed(original)
        if ERROR_LOGS_HEADER.match(line):
            self._in_error_logs = True
        elif m := SUMMARY.match(line):
            log.summary = Summary(
                int(m["tests_ok"]), int(m["subtests_ok"]), int(m["skipped"]),
                int(m["tests_failed"]), int(m["subtests_failed"]) if m["subtests_failed"] else None,
            )
        elif m := SUBTEST_RESULT.match(line):
            name = m["name"]
            if self._in_error_logs:  # the same failure repeated; its captured log alone, without stderr
                self._error_log_output[name] = tuple(self._pending)
            elif name not in log.subtests:
                log.subtests[name] = ParsedSubtest(
                    name, Word(m["result"]), tuple(self._pending), line_no, reason=_split_rest(m["rest"], line_no, log))
        elif m := TEST_RESULT.match(line):
            if not self._in_error_logs:
                log.tests.setdefault(m["name"], Word(m["result"]))
                _split_rest(m["rest"], line_no, log)
        elif not log.subtests and not log.tests and _is_preamble(line):
            return  # start-up chatter, nobody's output
        else:
            self._pending.append(original)
            return
        self._pending = []


def _is_preamble(line: str) -> bool:
    """test_progs' start-up chatter about bpf_testmod, before any test runs."""
    return line.startswith(("WARNING! Selftests relying on bpf_testmod", "Can't find bpf_testmod", "bpf_testmod.ko", "Loading bpf_testmod",
                            "Successfully loaded bpf_testmod"))
