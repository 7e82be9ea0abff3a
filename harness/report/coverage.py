"""--coverage's report: net/mptcp's gcov counters from every guest round, read by lcov, added up, summed up.

Each round of a gcov kernel leaves a copy of net/mptcp's .gcda files in its directory's gcov/
(guest/scripts/gcov.sh zeroes the counters after each copy). lcov reads each copy beside the
build's .gcno files (what each counter counts), keeps net/mptcp's sources, and the tracefiles
are added up (lcov -a): the rounds and guests of one run merge, never overwrite. genhtml writes
the HTML. The figure: the lines and functions of net/mptcp that ran, of those it has.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import InfraError
from harness.kernel import Kernel

INFO = "coverage.info"
HTML = "coverage-html"
SUMMARY = re.compile(r"^\s*(lines|functions)\.+: [\d.]+% \((\d+) of (\d+) (?:lines|functions)\)", re.M)


@dataclass(frozen=True)
class Coverage:
    lines_hit: int
    lines: int
    functions_hit: int
    functions: int
    copies: int  # the rounds' copies of the counters that were added up
    info: Path  # lcov's tracefile
    html: Path  # its index.html

    def percent(self, hit: int, of: int) -> float:
        return round(100.0 * hit / of, 1) if of else 0.0

    def line(self) -> str:
        return (f"net/mptcp coverage: {self.percent(self.lines_hit, self.lines)} % lines, "
                f"{self.percent(self.functions_hit, self.functions)} % functions")

    def plain(self) -> dict[str, object]:
        return {"scope": "net/mptcp", "lines_hit": self.lines_hit, "lines": self.lines,
                "lines_percent": self.percent(self.lines_hit, self.lines), "functions_hit": self.functions_hit,
                "functions": self.functions, "functions_percent": self.percent(self.functions_hit, self.functions),
                "copies": self.copies, "info": str(self.info), "html": str(self.html / "index.html")}


def _lcov(args: list[str], what: str, quiet: bool = True) -> str:
    run = subprocess.run(["lcov", *(["--quiet"] if quiet else []), *args], capture_output=True, text=True)
    if run.returncode != 0:
        raise InfraError(f"--coverage: lcov failed {what}: {(run.stderr or run.stdout).strip().splitlines()[-1:]}")
    return run.stdout + run.stderr


def _tracefile(copy: Path, build_dir: Path, tree: Path, out: Path) -> Path:
    """One round's counters as an lcov tracefile of net/mptcp's sources: its .gcda beside the build's .gcno. The
    .gcno name sources as kbuild gave them: from a build dir inside the tree, relative to it ("../net/mptcp/...")."""
    objdir = build_dir / "net" / "mptcp"
    with tempfile.TemporaryDirectory(prefix="gcov-") as work:
        for gcda in copy.glob("*.gcda"):
            shutil.copy(gcda, work)
            gcno = objdir / f"{gcda.stem}.gcno"
            if gcno.is_file():
                shutil.copy(gcno, work)
        raw = out.with_suffix(".raw")
        _lcov(["--capture", "--directory", work, "--base-directory", str(build_dir), "--output-file", str(raw)],
              f"reading {copy}")
    _lcov(["--extract", str(raw), f"{tree.resolve()}/net/mptcp/*", "--output-file", str(out)], f"keeping net/mptcp of {copy}")
    raw.unlink()
    return out


def collect(kernel: Kernel, roots: list[Path], out: Path, say: Callable[[str], None]) -> Coverage | None:
    """The run's coverage of net/mptcp into `out` (coverage.info, coverage-html/); None when no round left counters."""
    copies = sorted({p.parent for root in roots if root.is_dir() for p in root.rglob("gcov/*.gcda")})
    if not copies or kernel.build_dir is None or kernel.source is None:
        return None
    out.mkdir(parents=True, exist_ok=True)
    traces = out / "gcov-traces"
    traces.mkdir(exist_ok=True)
    parts = [_tracefile(c, kernel.build_dir, kernel.source, traces / f"{i}.info") for i, c in enumerate(copies)]
    info = out / INFO
    _lcov([arg for p in parts for arg in ("--add-tracefile", str(p))] + ["--output-file", str(info)], "adding the rounds up")
    shutil.rmtree(traces)
    summary = {m[1]: (int(m[2]), int(m[3])) for m in SUMMARY.finditer(_lcov(["--summary", str(info)], "summing up", quiet=False))}
    html = out / HTML
    run = subprocess.run(["genhtml", "--quiet", "--prefix", str(kernel.source.resolve()), "--title", "net/mptcp",
                          "--output-directory", str(html), str(info)], capture_output=True, text=True)
    if run.returncode != 0:
        say(f"--coverage: genhtml failed ({run.stderr.strip()[-200:]}); {info} is there")
    (lines_hit, lines), (functions_hit, functions) = summary.get("lines", (0, 0)), summary.get("functions", (0, 0))
    return Coverage(lines_hit, lines, functions_hit, functions, len(copies), info, html)
