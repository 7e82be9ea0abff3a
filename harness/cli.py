"""The harness's own commands. Exit codes: 0 all passed, 1 a test failed, 2 bad input, 3 infrastructure."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from harness.errors import BadInput, InfraError
from harness.parse.test_progs import parse_test_progs
from harness.report.json import to_json
from harness.report.junit import to_junit
from harness.report.ktap import to_ktap
from harness.results import Status, SubtestResult, SuiteRun, decide


def _parse_command(args: argparse.Namespace) -> int:
    """Re-read saved test_progs logs offline: one line per subtest, then totals."""
    results: list[SubtestResult] = []
    runs: list[SuiteRun] = []
    for log_path in args.logs:
        try:
            text = Path(log_path).read_text(errors="replace")
        except OSError as e:
            raise BadInput(f"cannot read {log_path}: {e.strerror}; give a saved test_progs log") from None
        parsed = parse_test_progs(text)
        finished = parsed.summary is not None
        names = [n.split("/", 1)[1] for n in parsed.subtests if n.startswith(f"{args.test}/")]
        found = decide(args.test, names, names, parsed, finished)
        results += found
        problems = () if finished else (f"{log_path}: truncated (no Summary line): test_progs did not finish",)
        print(*problems, sep="\n", end="\n" if problems else "")
        runs.append(SuiteRun(args.test, f"log:{log_path}", tuple(found), text, problems))
    for path, render in ((args.ktap, to_ktap), (args.junit, to_junit), (args.json, to_json)):
        if path:
            Path(path).write_text(render(runs))
    for r in results:
        print(f"{r.status.value.upper():8} {r.name}" + (f" ({r.reason})" if r.reason else ""))
    counts = {s: sum(r.status is s for r in results) for s in Status}
    print(", ".join(f"{n} {s.value}" for s, n in counts.items() if n) or "no subtests found")
    if any(run.infra_errors for run in runs) or counts[Status.LOST] or not results:
        return 3
    return 1 if any(r.status.is_problem for r in results) else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="re-read saved test_progs logs, no guest needed")
    p.add_argument("logs", nargs="+", metavar="LOG")
    p.add_argument("--test", default="mptcp", help="test_progs test whose subtests to report (default mptcp)")
    p.add_argument("--ktap", metavar="FILE", help="write a KTAP v1 report")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--json", metavar="FILE", help="write a JSON report")
    p.set_defaults(func=_parse_command)
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except (BadInput, InfraError) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
