"""TAP 13 and KTAP v1 (Documentation/dev-tools/ktap.rst), nested, as kunit and the kselftest runner print them.

Each line's own grammar is tap-py's (tap.parser.Parser.parse_line: version, plan, result,
SKIP/TODO directives). tap-py reads one flat stream; what it cannot do is done here:
- nesting: KTAP indents a subtest's lines by four spaces, the kselftest runner prefixes a
  test's output with "# " (a nested TAP stream becomes "# ok 1 ..."); results get the
  names of their parents ("selftests: bpf: test_progs/global.pass", "mptcp/base");
- the kselftest directives tap-py leaves as plain text: XFAIL, XPASS, TIMEOUT;
- plans that were not fulfilled: every planned result that never came is lost, named by
  the announcement that preceded it when there was one ("# selftests: bpf: test_progs").
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.parse.console import NumberedLine
from harness.parse.test_progs import Word

if TYPE_CHECKING:
    from tap.line import Result

VERSION_LINE = re.compile(r"^(?:(?:    )|(?:# ))*(?:K?TAP version \d+)\s*$")
SUBTEST_HEADER = re.compile(r"^# Subtest: (?P<name>.+)$")  # KTAP: names the level it starts
KSELFTEST_ANNOUNCE = re.compile(r"^# (?P<name>selftests: \S+: \S+)$")  # names the next result


@dataclass(frozen=True)
class TapResult:
    name: str  # the path of descriptions from the top: "parent/child"
    result: Word
    reason: str
    output: tuple[str, ...]
    line_no: int  # 0 for a result that never came
    has_children: bool = False  # a suite / a wrapped program whose own results follow it
    depth: int = 0  # nesting level of its result line: 0 for the outermost stream


@dataclass
class _Level:
    header: str = ""  # this level's own name when announced before its results
    plan: int | None = None
    results: list[TapResult] = field(default_factory=list)  # names relative to this level
    output: list[str] = field(default_factory=list)  # lines since the last result here
    announced: str = ""  # kselftest's name for the next result at this level
    numbers: set[int] = field(default_factory=set)
    own: int = 0  # results at this level itself (children of them are in `results` too)


@dataclass
class TapLog:
    results: list[TapResult] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def is_tap(lines: list[NumberedLine]) -> bool:
    return any(VERSION_LINE.match(line.text) for line in lines)


def _split_depth(line: str) -> tuple[int, int, str]:
    """(indent levels, "# " prefixes, the rest)."""
    stripped = line.lstrip(" ")
    indent = (len(line) - len(stripped)) // 4
    prefixes = 0
    while stripped.startswith("# "):
        stripped, prefixes = stripped[2:], prefixes + 1
    return indent, prefixes, stripped


_DIRECTIVE = re.compile(r"^(?P<word>SKIP|TODO|XFAIL|XPASS|TIMEOUT)\b\s*(?P<reason>.*)$", re.IGNORECASE)


def _classify(result: Result) -> tuple[Word, str]:
    """(OK | FAIL | SKIP | TIMEOUT, reason) of one TAP result line."""
    text = result.directive.text.strip()
    m = _DIRECTIVE.match(text)
    word = m["word"].upper() if m else ""
    reason = text
    if word == "SKIP":
        return Word.SKIP, m["reason"] if m else ""
    if word == "TODO":  # a TODO's failure is expected: not a failure, not a pass
        return (Word.OK, reason) if result.ok else (Word.SKIP, reason)
    if word == "TIMEOUT":
        return Word.TIMEOUT, reason
    if word in ("XFAIL", "XPASS"):
        return Word.OK, reason
    return (Word.OK, "") if result.ok else (Word.FAIL, reason)


def parse_tap(lines: list[NumberedLine]) -> TapLog:
    # tap-py imported here, for KTAP only: at the top, it and the unittest it imports cost every pytest start ~12 ms
    from tap.line import Plan, Result, Version
    from tap.parser import Parser

    parser = Parser()
    levels: dict[int, _Level] = {}
    log = TapLog()

    def level(depth: int) -> _Level:
        return levels.setdefault(depth, _Level())

    def close_below(depth: int, parent_name: str, at_eof: bool) -> list[TapResult]:
        """Results of the levels deeper than `depth`, named under `parent_name`."""
        found: list[TapResult] = []
        for d in sorted((d for d in levels if d > depth), reverse=True):
            child = levels.pop(d)
            name = child.header or parent_name if d == depth + 1 else child.header or "?"
            found = [*_finish(child, name, log, at_eof), *found]
        return found

    for numbered in lines:
        indent, prefixes, rest = _split_depth(numbered.text)
        item = parser.parse_line(rest) if (indent or prefixes or rest) else None
        structural = isinstance(item, (Version, Plan, Result))
        depth = indent + prefixes if structural else indent + max(prefixes - 1, 0)
        if isinstance(item, Version):
            level(depth)
        elif isinstance(item, Plan):
            level(depth).plan = item.expected_tests
        elif isinstance(item, Result):
            here = level(depth)
            name = item.description.strip() or here.announced or f"unnamed result {item.number}"
            result, reason = _classify(item)
            children = close_below(depth, name, at_eof=False)
            here.results.append(TapResult(name, result, reason, tuple(here.output), numbered.line_no, bool(children),
                                          depth))
            here.results += children
            here.own += 1
            if item.number is not None:
                here.numbers.add(item.number)
            here.output, here.announced = [], ""
        else:
            content = numbered.text.lstrip(" ")
            here = level(depth)
            if m := SUBTEST_HEADER.match(content):
                here.header = m["name"]
            elif m := KSELFTEST_ANNOUNCE.match(content):
                here.announced = m["name"]
            here.output.append(numbered.text)
    top = levels.pop(0, _Level())
    inner = close_below(0, top.announced, at_eof=True)  # a nested stream cut short
    log.results = [*_finish(top, "", log, at_eof=True), *inner]
    return log


def _finish(level: _Level, name: str, log: TapLog, at_eof: bool) -> list[TapResult]:
    """A level's results under its parent's name, plus one LOST result per planned result that never came."""
    prefix = f"{name}/" if name else ""
    found = [dataclasses.replace(r, name=prefix + r.name) for r in level.results]
    own = level.own
    if level.plan is not None and own < level.plan:
        where = name or "the top level"
        log.problems.append(f"{where}: plan 1..{level.plan} but {own} result(s)" + (": output ends early" if at_eof else ""))
        missing = [n for n in range(1, level.plan + 1) if n not in level.numbers]
        for i, number in enumerate(missing[: level.plan - own]):
            lost_name = level.announced if i == 0 and level.announced else f"planned result {number}"
            found.append(TapResult(prefix + lost_name, Word.LOST, "never reported", tuple(level.output) if i == 0 else (), 0))
    elif at_eof and name and level.plan is None and not level.results:
        log.problems.append(f"{name}: output ends before any result")
    return found
