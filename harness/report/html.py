"""The nightly dashboard: one static HTML file (Jinja2 template, inline CSS and a small script, no network).

Columns are a night's modes (newest first), or any --report-dir output; rows are subtests. A
cell is a status, linked to that test's own output (which holds the kernel's trace when a
crash failed it); a crash cell shows its fingerprint and when it was first seen; a failure's pcaps (--pcap) are
linked beside it. Per row: the
number of status flips over the shown columns (per mode, in time order) and the current pass
streak. Filters (name, minimum flips, hide rows that always pass) and the sort live in the
URL's fragment, so a view can be shared. Below it, the flakes view: per subtest, mode and kernel line
that failed at all, its failure rate with the 95 % interval over its last N results (--last, 100 as the MPTCP CI's
page has), its class, whether the nightly holds it known flaky, and a link to its last failure; sortable by any
column. The anchors: NIPA's flakes page, the MPTCP CI's and KernelCI's.
"""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from harness import night_summary
from harness.cache import write_atomic
from harness.errors import BadInput
from harness.history import Outcome, percent
from harness.night_summary import Changes, Finding, ModeFigures
from harness.report.flakes import Rate, rates
from harness.report.json import from_json
from harness.results import CLEAN, FAILING, SKIPS, Status

TEMPLATES = Path(__file__).resolve().parent / "templates"
_GLYPHS = {Status.PASSED: "✓", Status.FAILED: "✗", Status.FLAKY: "~", Status.SKIPPED: "–", Status.NOT_IN_BUILD: "∅",
           Status.XFAIL: "x", Status.XPASS: "!", Status.LOST: "?", Status.TIMEOUT: "T", Status.NOT_RUN: "·"}
GLYPH = {k.value: g for k, g in _GLYPHS.items()}  # by a cell's kind
LEGEND = tuple(GLYPH)
LAST = 100  # the flakes view's results per subtest and mode (the MPTCP CI's flakes page shows its last 100 runs)


@dataclass(frozen=True)
class Cell:
    status: Status
    href: str = ""  # the test's output, relative to the page
    reason: str = ""
    crash: str = ""  # "warning [f1/f2/...] seen first on <night>"
    culprit: str = ""  # the night's bisection named the commit behind this failure: "culprit: <hash> <subject> ..."
    known_flaky: str = ""  # the night held it known flaky (harness.nightly.quarantine): its rate and entry
    pcaps: tuple[str, ...] = ()  # --pcap: the failure's captures that are still there, relative to the page
    failing: tuple[str, ...] = ()  # a kselftest script's sub-cases that failed (its tooltip names them)

    @property
    def kind(self) -> str:
        """What the page shows (its class, glyph and legend): the status's own word."""
        return self.status.value


@dataclass
class Column:
    night: str
    mode: str
    started: str  # ISO time: the order of the columns
    commit: str = ""
    kernel: str = ""
    cells: dict[str, Cell] = field(default_factory=dict)
    figures: ModeFigures | None = None  # the mode's, from its night's summary; None: a report dir's column
    changes: Changes = Changes()  # the mode's, since the night before
    culprits: tuple[Finding, ...] = ()
    coverage_delta: float | None = None  # points of net/mptcp's line coverage since the mode's night before


@dataclass(frozen=True)
class Row:
    name: str
    cells: tuple[Cell | None, ...]  # in column order
    flips: int
    streak: int  # passes from the newest column back
    always_pass: bool


def _cells(results: Path, text: str, tests_dir: Path | None, page: Path, seen: dict[str, str]) -> dict[str, Cell]:
    runs = from_json(text)
    crash_of = {who: f"{c.kind} [{c.fingerprint or 'no call trace'}]" + (f" seen first on {seen[c.fingerprint]}"
                if c.fingerprint in seen else "") for run in runs for c in run.incidents
                for who in c.running}
    cells = {}
    for r in (r for run in runs for r in run.subtests if r.in_suite):
        own = tests_dir / f"{r.name.replace('/', '__')}.txt" if tests_dir else None
        target = own if own is not None and own.is_file() else results
        cells[r.name] = Cell(r.status, os.path.relpath(target, page.parent), r.reason,
                             crash_of.get(r.name, "") if r.status not in CLEAN else "",
                             pcaps=tuple(os.path.relpath(p, page.parent) for p in r.pcaps if Path(p).is_file()),
                             failing=tuple(c.name for c in r.subcases if c.status in FAILING))
    return cells


def _readable(path: Path, say: Callable[[str], None]) -> str | None:
    """The text of a JSON file that can be read, read once. A half-written one (an older harness wrote in place, a
    disk filled) is said and skipped: one bad night never takes the page down."""
    try:
        text = path.read_text()
        json.loads(text)
        return text
    except (OSError, ValueError) as e:
        say(f"skipped {path}: not readable JSON ({type(e).__name__}: {str(e)[:80]})")
        return None


def _night_columns(night: Path, page: Path, say: Callable[[str], None]) -> list[Column]:
    if (text := _readable(night / "summary.json", say)) is None:
        return []
    try:
        summary = night_summary.from_json(text)
    except ValueError as e:
        say(f"skipped {night / 'summary.json'}: {e}")
        return []
    columns = []
    for mode, m in summary.modes.items():
        results = night / mode / "results.json"
        found = summary.culprits.get(mode, ())
        column = Column(summary.night, mode, summary.started, summary.commit[:12], m.kernel, figures=m,
                        changes=summary.changes.of_mode(mode), culprits=found)
        if results.is_file() and (text := _readable(results, say)) is not None:
            column.cells = _cells(results, text, night / mode / "tests", page, summary.crashes_seen)
        for f in found:  # the failing cells a culprit explains say so
            for name in (n for n in f.failures if n in column.cells):
                column.cells[name] = dataclasses.replace(column.cells[name], culprit=f.line)
        for key, line in summary.known_flaky.items():
            if key.startswith(f"{mode}:") and (name := key.split(":", 1)[1]) in column.cells:
                column.cells[name] = dataclasses.replace(column.cells[name], known_flaky=line)
        columns.append(column)
    return columns


def load_columns(paths: list[Path], page: Path, say: Callable[[str], None] = print) -> list[Column]:
    """Nights (NIGHTS_DIR, or one night's dir) and report dirs (with results.json), newest first."""
    columns: list[Column] = []
    for path in paths:
        if (path / "summary.json").is_file():
            columns += _night_columns(path, page, say)
        elif (path / "results.json").is_file() and (text := _readable(path / "results.json", say)) is not None:
            started = str(int((path / "results.json").stat().st_mtime))
            columns.append(Column(path.name, "", started, cells=_cells(path / "results.json", text, None, page, {})))
        elif nights := sorted(p.parent for p in path.glob("*/summary.json")):
            columns += [c for night in nights for c in _night_columns(night, page, say)]
        else:
            raise BadInput(f"{path}: neither a nights dir, a night (summary.json) nor a report dir (results.json)")
    if not columns:
        raise BadInput("no nights or reports found in " + ", ".join(map(str, paths)))
    return coverage_trend(sorted(columns, key=lambda c: (c.started, c.mode), reverse=True))


def coverage_trend(columns: list[Column]) -> list[Column]:
    """Each night's net/mptcp coverage (--coverage) with its change since the same mode's night before it."""
    def coverage(c: Column) -> dict[str, Any] | None:
        return c.figures.coverage if c.figures else None
    for i, column in enumerate(columns):
        now = coverage(column)
        before = next((cov for c in columns[i + 1:] if c.mode == column.mode and (cov := coverage(c))), None)
        if now and before:
            column.coverage_delta = round(float(now["lines_percent"]) - float(before["lines_percent"]), 1)
    return columns


def rows(columns: list[Column]) -> list[Row]:
    names = sorted({n for c in columns for n in c.cells})
    out = []
    for name in names:
        cells = tuple(c.cells.get(name) for c in columns)
        flips = 0
        for mode in {c.mode for c in columns}:  # per mode, oldest to newest
            seq = [cell.kind for c, cell in zip(columns, cells, strict=True) if c.mode == mode and cell is not None]
            flips += sum(a != b for a, b in zip(seq, seq[1:], strict=False))
        streak = 0
        for cell in cells:
            if cell is None:
                continue
            if cell.status not in CLEAN:
                break
            streak += 1
        present = [cell for cell in cells if cell is not None]
        out.append(Row(name, cells, flips, streak, all(c.status in CLEAN for c in present)))
    return out


@dataclass(frozen=True)
class FlakeRow:
    rate: Rate
    known_flaky: str  # the newest column of its mode holds it known flaky: why


def flake_rows(columns: list[Column], last: int = LAST) -> list[FlakeRow]:
    """The flakes view: each subtest, mode and kernel line that failed at least once in its last `last` results of
    these columns, with its rate (harness.report.flakes: the `flakes` command's rows, from the page's cells; the last
    failure is the link of its cell)."""
    seen = [Outcome(c.night, "night", name, "", c.mode, c.kernel, cell.status, cell.reason if cell.status not in CLEAN
                    else "", location=cell.href)
            for c in reversed(columns) for name, cell in c.cells.items() if cell.status not in SKIPS]
    newest: dict[tuple[str, str], str] = {}  # (mode, test) -> the newest column's known flaky line
    for c in reversed(columns):
        newest |= {(c.mode, name): cell.known_flaky for name, cell in c.cells.items()}
    return [FlakeRow(r, newest.get((r.mode, r.test), "")) for r in rates(seen, last) if r.failures]


def render(columns: list[Column], generated: str, last: int = LAST) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True)
    longest = max((t for c in columns if c.figures for t in c.figures.suites_s.values()), default=0.0) or 1.0
    return env.get_template("dashboard.html.j2").render(
        columns=columns, rows=rows(columns), glyph=GLYPH, legend=LEGEND, longest=longest, generated=generated,
        flakes=flake_rows(columns, last), last=last, percent=percent)


def write_html(out: Path, paths: list[Path], generated: str, say: Callable[[str], None] = print, last: int = LAST) -> int:
    """The page for these nights/reports; the number of columns."""
    columns = load_columns(paths, out.resolve(), say)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(out, render(columns, generated, last))
    return len(columns)
