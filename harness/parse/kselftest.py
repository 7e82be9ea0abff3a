"""A kselftest script's sub-cases, from its own output (pure: lines in, values out).

The net/mptcp scripts report through mptcp_lib.sh: while they run, one human-readable line
per sub-case ("24 many msk socket present      [FAIL] timeout while expecting 200 ...",
numbered, the lines a check printed around it), and at their end TAP 13 with one result per
sub-case, named after the script and timed by it:

    TAP version 13
    1..32
    ok 1 - diag: no msk on netns creation # time=3734ms
    not ok 24 - diag: many msk socket present # timeout time=113303ms
    ok 25 - diag: ....chk many msk in use # SKIP time=6984ms
    ok 3 - mptcp_join: ... # IGNORE Flaky time=...     <- failed, marked flaky by the script itself

The TAP lines are read by parse.tap (tap-py's grammar); a sub-case's own lines are its TAP
line and the output around its human-readable title (between the titles before and after it).
A script cut off before its TAP has the sub-cases its titles show, the last one lost.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from harness.parse.console import NumberedLine
from harness.parse.tap import parse_tap
from harness.parse.test_progs import Word

TIME = re.compile(r"\btime=(?P<ms>\d+)ms\b")
IGNORED_FLAKY = re.compile(r"\bIGNORE Flaky\b", re.IGNORECASE)
# mptcp_lib's "%02u %-50s" title, then its result: "[ OK ]", "[SKIP] Feature probably not supported"
# (not tcpdump's own "39 packets captured", "40 packets received by filter" when a script captures: --pcap)
TITLE = re.compile(r"^(?P<number>\d{2,3}) (?!packets (?:captured|received by filter|dropped by kernel)$)"
                   r"(?P<title>\S.*?)(?:\s+\[(?P<word>[^]]*)\]\s*(?P<detail>.*))?$")
# a result word glued to what the script printed before it (simult_flows: "... expected 7906 ms[FAIL] client ...")
GLUED_WORD = re.compile(r"\[(?:FAIL|SKIP|IGNO| OK )\]")
AROUND = 15  # lines kept on each side of a sub-case's title
KTAP_HEADER = re.compile(r"^\s*(?:KTAP version \d+|TAP version \d+|# Subtest: .*|\d+\.\.\d+)\s*$")


@dataclass(frozen=True)
class ParsedSubcase:
    name: str  # the TAP description without the script's prefix: "many msk socket present"
    result: Word
    reason: str  # after the directive word: "timeout", the SKIP reason ...
    duration_s: float | None  # the script's own time= for it
    flaky_ignored: bool  # failed, reported "ok ... # IGNORE Flaky" by the script
    lines: tuple[str, ...]  # its TAP line, then the output around its title


def parse_subcases(output: tuple[str, ...], script: str) -> list[ParsedSubcase]:
    """The sub-cases of the outermost TAP stream in a script's output ([] when it printed none)."""
    numbered = [NumberedLine(i, text) for i, text in enumerate(output, start=1)]
    log = parse_tap(numbered)
    titles = [(i, m["title"].strip(), (m["detail"] or "").strip()) for i, text in enumerate(output)
              if (m := TITLE.match(text))]
    if not any(r.depth == 0 for r in log.results):  # cut off before its TAP: what its titles said so far
        return _from_titles(output, titles)
    found = []
    names = tuple(_without_prefix(r.name, script) for r in log.results if r.depth == 0)
    previous = 0  # the line of the result before this one: a KUnit case's own lines ("EXPECTATION FAILED at ...") follow it
    for r in log.results:
        if r.depth != 0 or r.result is Word.LOST:
            continue
        name = _without_prefix(r.name, script)
        line = output[r.line_no - 1] if r.line_no else ""
        directive = line.partition(" # ")[2]
        time = TIME.search(directive)
        flaky = IGNORED_FLAKY.search(directive) is not None
        around, detail = _around_title(output, titles, name, names)
        if not titles and r.line_no:  # no human-readable titles (KUnit): what it printed since the result before it
            around = tuple(ln for ln in output[max(previous, r.line_no - 1 - 2 * AROUND):r.line_no - 1]
                           if not KTAP_HEADER.match(ln))
            previous = r.line_no
        reason = TIME.sub("", r.reason).strip()
        if r.result is not Word.OK and detail:  # what its title line said ("expected 200 found 0")
            reason = f"{reason}: {detail}" if reason and reason.lower() not in detail.lower() else detail
        found.append(ParsedSubcase(name, r.result, reason, int(time["ms"]) / 1000 if time else None, flaky,
                                   (line, *around)))
    return found


def _without_prefix(description: str, script: str) -> str:
    name = description.strip()
    name = name[2:] if name.startswith("- ") else name
    prefix = f"{script}: "
    return (name[len(prefix):] if name.startswith(prefix) else name).strip()


def _around_title(output: tuple[str, ...], titles: list[tuple[int, str, str]], name: str,
                  names: tuple[str, ...] = ()) -> tuple[tuple[str, ...], str]:
    """The output between the title before `name`'s human-readable title and the one after it (at most AROUND
    lines each side of it), and what its title line said after the result word."""
    at = next((k for k, (_, title, _) in enumerate(titles) if title == name), None)
    if at is not None:
        detail = titles[at][2]
    else:  # a title with more on its line than "[ OK ]": the sub-case's name is the longest one it starts with
        at = next((k for k, (_, title, _) in enumerate(titles) if _longest_start(title, names) == name), None)
        if at is None:
            return (), ""
        detail = _glued_detail(titles[at][1][len(name):])
    line = titles[at][0]
    start = max(titles[at - 1][0] + 1 if at > 0 else 0, line - AROUND)
    last = next((i for i in range(line + 1, len(output)) if KTAP_HEADER.match(output[i])), line + 1)  # its TAP's start
    end = min(titles[at + 1][0] if at + 1 < len(titles) else last, line + 1 + AROUND)
    return tuple(output[start:end]), detail or _check_detail(output[line + 1:end])


# mptcp_join's checks, on the lines after its title: "      syn rejected    [FAIL] got 0 JOIN[s] syn rejected expected 1",
# "      Feature not supported               [SKIP]"
CHECK = re.compile(r"^\s+(?P<check>\S.*?)\s+\[(?P<word>FAIL|SKIP)\]\s*(?P<detail>.*)$")


def _check_detail(lines: tuple[str, ...]) -> str:
    """What the checks after a title said (a script that prints its results below its title, as mptcp_join does): its
    first failing check and its words ("see above" points back to one), else its first skipped one."""
    found = [m for ln in lines if (m := CHECK.match(ln)) and m["detail"].strip() != "see above"]
    m = next((m for m in found if m["word"] == "FAIL"), None) or next(iter(found), None)
    if m is None:
        return ""
    return f"{m['check']}: {m['detail'].strip()}"[:300] if m["detail"].strip() else m["check"]


def _longest_start(title: str, names: tuple[str, ...]) -> str | None:
    return max((n for n in names if title.startswith(n)), key=len, default=None)


def _glued_detail(rest: str) -> str:
    """What a title line said besides its name: the script's words before the result word, and after it."""
    m = GLUED_WORD.search(rest)
    before, after = (rest[:m.start()], rest[m.end():]) if m else (rest, "")
    return " ".join(part.strip() for part in (before, after) if part.strip())[:300]


_TITLE_WORDS = {"OK": Word.OK, "SKIP": Word.SKIP, "FAIL": Word.FAIL}


def _from_titles(output: tuple[str, ...], titles: list[tuple[int, str, str]]) -> list[ParsedSubcase]:
    """Sub-cases of a script that never printed its TAP (cut off, killed): its title lines' "[ OK ]" words; a
    title without one is where it stopped (lost)."""
    found = []
    for i, title, detail in titles:
        m = TITLE.match(output[i])
        word = _TITLE_WORDS.get((m["word"] or "").strip().upper(), Word.LOST) if m else Word.LOST
        reason = detail if word is not Word.LOST else "the script stopped here"
        found.append(ParsedSubcase(title, word, reason, None, False, (output[i],)))
    return found
