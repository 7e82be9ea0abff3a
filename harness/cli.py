"""The harness's own commands. Exit codes: 0 all passed, 1 a test failed, 2 bad input, 3 infrastructure."""
from __future__ import annotations

import argparse
import dataclasses
import errno
import os
import re
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.bisect import step as bisect_step
from harness.bisect.sizing import Sizing, checked_confidence, checked_max_runs
from harness.cache import write_atomic
from harness.crashes import attributed
from harness.data import SUITES_DIR
from harness.errors import BadInput, Exit, InfraError
from harness.guest import warm
from harness.parse import parse_log
from harness.parse.console import find_incidents
from harness.report import write_reports
from harness.report.console import print_results
from harness.report.json import from_json, to_json
from harness.report.junit import to_junit
from harness.report.ktap import to_ktap
from harness.results import SuiteRun, decide, exit_code
from harness.run.select import selections
from harness.run.shard import merged_in_order
from harness.settings import OPTIONS, Settings, default_cache_dir, for_command, writable_dir
from harness.suites import all_suites, load_suite

if TYPE_CHECKING:
    from harness.bisect.report import Report


def _parse_command(args: argparse.Namespace) -> int:
    """Re-read saved logs offline (test_progs, TAP 13 / KTAP, a serial console): one line per result, then totals."""
    suite = load_suite(Path(args.suite)) if args.suite else None
    test = suite.test if suite else args.test
    runs: list[SuiteRun] = []
    for log_path in args.logs:
        try:
            text = Path(log_path).read_text(errors="replace")
        except OSError as e:
            raise BadInput(f"cannot read {log_path}: {e.strerror}; give a saved test_progs, TAP or console log") from None
        parsed = parse_log(text)
        if suite is not None:
            expected = list(suite.subtests)
        else:
            expected = [n.split("/", 1)[1] for n in parsed.subtests if n.startswith(f"{test}/")]
        found = decide(test, expected, expected, parsed, parsed.summary is not None)
        problems = tuple(f"{log_path}: {p}" for p in parsed.problems)
        if not found:
            problems += (f"{log_path}: no test results in it",)
        incidents = tuple(attributed(i, ()) for i in find_incidents(parsed.console))  # no markers: nobody's
        runs.append(SuiteRun(suite.name if suite else test, f"log:{log_path}", tuple(found), text, problems, 0.0,
                             incidents))
    for path, render in ((args.ktap, to_ktap), (args.junit, to_junit), (args.json, to_json)):
        if path:
            write_atomic(Path(path), render(runs))
    print_results(runs, print)
    return exit_code(runs)


def _merge_command(args: argparse.Namespace) -> int:
    """Report dirs of several jobs (--shard i/n) as one set of reports, as if one run had made them."""
    runs: list[SuiteRun] = []
    for directory in args.dirs:
        try:
            runs += from_json((Path(directory) / "results.json").read_text())
        except (OSError, ValueError, KeyError) as e:
            raise BadInput(f"{directory}: no readable results.json ({e}); give --report-dir directories") from None
    order = {s.name: [s.full_name(n) for n in s.subtests] for s in all_suites()}
    merged = merged_in_order(runs, order)
    out = writable_dir(Path(args.out), "--out")
    write_reports(out, merged)
    print_results(merged, print)
    return exit_code(merged)


def _shell_command(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """Prepare the kernel and test_progs as a run would, then a shell in the persistent guest; the shell's status."""
    from harness import pipeline
    from harness.guest.shell import open_shell

    settings, _ = for_command([*pytest_args, "--persistent-guest"], "shell")
    if settings.count > 1:
        raise BadInput("--count runs tests; a shell has none to run")
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    prepared = pipeline.prepare(pipeline.PrepareRequest.of(settings), [suite], print)
    payload = prepared.payload_for(suite)
    if payload is None:
        raise InfraError("no test_progs was prepared for the shell")
    with pipeline.Session(settings, prepared, print) as session:
        running, _ = session.pool.get()
        return open_shell(running, payload.directory, prepared.kernel.identity, settings.keep_guest)


def _cache_command(args: argparse.Namespace) -> int:
    """verify: every entry with a manifest, fully; prune: what was not used for --older-than, and leftovers."""
    from harness import cache

    root = Path(args.cache) if args.cache else default_cache_dir()
    if args.action == "verify":
        found = cache.verify(root)
        for entry, problem in found:
            print(f"{'damaged' if problem else 'ok':8} {entry}" + (f": {problem} (the next run replaces it)" if problem else ""))
        bad = sum(1 for _, problem in found if problem)
        print(f"{len(found)} entries checked, {bad} damaged")
        return Exit.INFRA if bad else Exit.PASSED
    m = re.fullmatch(r"(\d+)([dh])", args.older_than.strip())
    if m is None:
        raise BadInput(f"--older-than {args.older_than!r}: give days or hours, e.g. 30d or 12h")
    removed, freed = cache.prune(root, int(m[1]) * (86400 if m[2] == "d" else 3600))
    for entry in removed:
        print(f"removed {entry}")
    print(f"freed {freed / 1e9:.2f} GB in {len(removed)} entries of {root}")
    return Exit.PASSED


def _guests_command(args: argparse.Namespace) -> int:
    """List the warm guests (--keep-guest), or stop them."""
    cache = Path(args.cache) if args.cache else default_cache_dir()
    entries = warm.load(cache)
    now = time.time()
    if args.action == "stop":
        stopped = 0
        for entry in entries:
            hold = warm.claim(entry) if warm.is_alive(entry) else None
            if warm.is_alive(entry) and hold is None and not args.all:
                print(f"port {entry.port}: in use by a run; --all stops it anyway")
                continue
            stopped += warm.retire(cache, entry)
            if hold is not None:
                hold.close()
        print(f"stopped {stopped} warm guest(s)")
        return Exit.PASSED
    live = [e for e in entries if warm.is_alive(e)]
    if not live:
        print("no warm guests")
    for e in live:
        print(f"port {e.port}  kernel {e.kernel}  age {now - e.booted_at:.0f} s  idle {now - e.last_used:.0f} s "
              f"(stops after {e.idle_timeout_s:.0f} s)  files {e.shared_dir}")
    return Exit.PASSED


def _bisect_command(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """Test the oldest and newest kernel, then halve the range until the first bad one is found."""
    if args.kernel_tree:
        return _bisect_tree_command(args, pytest_args)
    if not args.kernels:
        raise BadInput("bisect needs --kernels OLD,...,NEW, or --kernel-tree PATH --good REV --bad REV")
    from harness.bisect.kernels import bisect_list
    from harness.bisect.outcome import Repeated

    kernels = [k.strip() for k in args.kernels.split(",") if k.strip()]
    settings, keyword = for_command(pytest_args, "bisect")
    chosen, sizing = selections(keyword), _sizing(args)
    out = writable_dir(Path(args.out) if args.out else settings.cache_dir / "bisect" / f"kernels-{'-'.join(kernels)}", "--out")
    with Repeated(lambda kernel: for_command(["--kernel", kernel, *pytest_args], "bisect")[0], chosen, print) as run_once:
        return _reported(bisect_list(kernels, run_once, sizing, print), out)


def _sizing(args: argparse.Namespace) -> Sizing:
    """--confidence and --max-runs, checked (bad values: one line, exit 2)."""
    if args.runs is not None:
        raise BadInput(f"--runs {args.runs}: a step now runs as many times as the bad end's failure rate asks; give "
                       "--confidence P (0.95) and --max-runs N (20) instead")
    return Sizing(checked_confidence(args.confidence), checked_max_runs(args.max_runs))


def _reported(report: Report, out: Path) -> int:
    report.write(out)
    for line in report.lines():
        print(line)
    print(f"report: {out}/bisect.md, bisect.json")
    return Exit.PASSED


def _bisect_tree_command(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """git bisect of a tree's commits in a worktree of the harness's own; a report at the end."""
    from harness.bisect.judge import SameFailure, verify
    from harness.bisect.outcome import Repeated
    from harness.bisect.report import Report
    from harness.bisect.tree import Bisection
    from harness.bisect.worktree import Worktree, checked_out

    if not (args.good and args.bad):
        raise BadInput("bisecting a tree needs --good REV and --bad REV (commits, tags or branches of it)")
    settings, keyword = for_command(pytest_args, "bisect")
    chosen, sizing = selections(keyword), _sizing(args)
    out = writable_dir(Path(args.out) if args.out else settings.cache_dir / "bisect" / Path(args.kernel_tree).resolve().name,
                       "--out")
    signal.signal(signal.SIGTERM, _interrupted)  # the worktree is removed on the way out
    start = time.monotonic()
    try:
        with Worktree(Path(args.kernel_tree), settings.cache_dir) as tree, \
                Repeated(lambda _: dataclasses.replace(settings, kernel_tree=tree.path), chosen, print) as repeated:
            run_once = SameFailure(checked_out(tree, repeated))  # bad only when the bad end's failure comes back the same way
            b = Bisection(tree, tree.rev(args.good), tree.rev(args.bad), run_once, sizing,
                          out / "state.json", print, (args.term_old, args.term_new), check_bad_end=True)
            if args.resume:
                b.resume()
            culprit = b.find()
            report = Report.of(culprit, tree, b.steps, verify(culprit, tree.rev(f"{culprit}^"), run_once, b.sizing),
                               time.monotonic() - start, b.sizing.told())
    except KeyboardInterrupt:
        print(f"interrupted: `--resume` goes on from {out / 'state.json'}", file=sys.stderr)
        return InfraError.exit_code
    return _reported(report, out)


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _bisect_step_command(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """One verdict for `git bisect run`: 0 good, 1 bad, 125 cannot tell, 128 (abort) on bad input."""
    from harness.bisect.outcome import run_step

    try:
        found = run_step(pytest_args)
    except BadInput as e:
        print(f"error: {e}", file=sys.stderr)
        return bisect_step.GIT_ABORT
    print(f"{found.kind.value}: {found.why}")
    return found.git_code


RAW = argparse.RawDescriptionHelpFormatter  # the epilogs below keep their lines


def _epilog(example: str, harness_options: bool = False) -> str:
    """A command's --help ends with the harness options it also takes (when it does) and one example."""
    text = ""
    if harness_options:
        width = max(len(o.flag) for o in OPTIONS)
        text = ("harness options (the same as pytest's, group harness; also ini keys harness_<key> and $HARNESS_<KEY>; "
                "docs/options.md):\n" + "\n".join(textwrap.fill(o.help, 100, initial_indent=f"  {o.flag:<{width}}  ",
                                                                  subsequent_indent=" " * (width + 4)) for o in OPTIONS) +
                "\n  " + "-k EXPR, -c INI".ljust(width) + "  pytest's selection expression and ini file\n\n")
    return f"{text}example:\n  {example}"


def command_names() -> tuple[str, ...]:
    """The commands main() knows (parse, merge, shell, bisect ...): what the installed command passes on to it."""
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return tuple(sub.choices)


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, rest = parser.parse_known_args(argv)
    if rest and not getattr(args, "passes_pytest_args", False):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    try:
        code: int = args.func(args, rest) if getattr(args, "passes_pytest_args", False) else args.func(args)
        return code
    except (BadInput, InfraError) as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # noqa: BLE001 -- never a traceback for the user; HARNESS_DEBUG=1 shows it
        if os.environ.get("HARNESS_DEBUG"):
            raise
        print(f"error: {unexpected(e)}", file=sys.stderr)
        return Exit.INFRA


class _Parser(argparse.ArgumentParser):
    """No abbreviated options, in every command (subparsers are made of their parser's class): what a command does
    not know goes on to the harness options (pytest's), and an abbreviation would take one of those for one of its
    own (nightly's --kernels took --kernel 7.3)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs, allow_abbrev=False)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m harness", description=__doc__,
                                     epilog=_epilog("python -m harness parse saved.log --suite suites/mptcp_bpf.toml"), formatter_class=RAW)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="re-read saved logs (test_progs, TAP 13 / KTAP, console), no guest needed",
                       epilog=_epilog("python -m harness parse saved.log --suite suites/mptcp_bpf.toml --json out.json"),
                       formatter_class=RAW)
    p.add_argument("logs", nargs="+", metavar="LOG")
    p.add_argument("--test", default="mptcp", help="test_progs test whose subtests are expected (default mptcp)")
    p.add_argument("--suite", metavar="TOML", help="a suites/*.toml file: its subtests are expected; missing ones are lost")
    p.add_argument("--ktap", metavar="FILE", help="write a KTAP v1 report")
    p.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    p.add_argument("--json", metavar="FILE", help="write a JSON report")
    p.set_defaults(func=_parse_command)
    m = sub.add_parser("merge", help="join the report dirs of sharded jobs (--shard i/n) into one set of reports",
                       epilog=_epilog("python -m harness merge shard-1/ shard-2/ --out all/"), formatter_class=RAW)
    m.add_argument("dirs", nargs="+", metavar="DIR")
    m.add_argument("--out", required=True, help="where results.ktap, results.json and junit.xml go")
    m.set_defaults(func=_merge_command)
    g = sub.add_parser("guests", help="list the warm guests kept by --keep-guest, or stop them",
                       epilog=_epilog("python -m harness guests stop --all"), formatter_class=RAW)
    g.add_argument("action", nargs="?", choices=("list", "stop"), default="list")
    g.add_argument("--all", action="store_true", help="with stop: also the ones a run is using")
    g.add_argument("--cache", help="the harness cache (default: $HARNESS_CACHE or ~/.cache/mptcp-harness)")
    g.set_defaults(func=_guests_command)
    c = sub.add_parser("cache", help="check the cache's entries against what they recorded, or free space",
                       epilog=_epilog("python -m harness cache prune --older-than 30d"), formatter_class=RAW)
    c.add_argument("action", choices=("verify", "prune"))
    c.add_argument("--older-than", default="30d", help="with prune: entries unused for this long (30d, 12h; default 30d)")
    c.add_argument("--cache", help="the harness cache (default: $HARNESS_CACHE or ~/.cache/mptcp-harness)")
    c.set_defaults(func=_cache_command)
    h = sub.add_parser("shell", help="an interactive shell in a guest of the chosen kernel, test_progs at hand",
                       usage="python -m harness shell [harness options]",
                       epilog=_epilog("python -m harness shell --kernel-tree ~/mptcp_net-next --keep-guest", True),
                       formatter_class=RAW)
    h.set_defaults(func=_shell_command, passes_pytest_args=True)
    _add_bisect(sub)
    _add_verify_fix(sub)
    _add_nightly(sub)
    r = sub.add_parser("report", help="the nightly dashboard: one static HTML page of nights and report dirs",
                       usage="python -m harness report --html OUT.html [--last N] NIGHTS_DIR|NIGHT|REPORT_DIR ...",
                       epilog=_epilog("python -m harness report --html nights.html ~/nights"), formatter_class=RAW)
    r.add_argument("paths", nargs="+", metavar="DIR")
    r.add_argument("--html", required=True, metavar="OUT.html")
    r.add_argument("--last", type=int, default=100, metavar="N", help="the flakes view's rates over each subtest's last "
                   "N results (default 100)")
    r.set_defaults(func=_report_command)
    f = sub.add_parser("flakes", help="each subtest's failure rate with its 95 %% interval, from every run recorded",
                       usage="python -m harness flakes [-k EXPR] [--mode M] [--since 30d] [--last N] [--json]",
                       epilog=_epilog("python -m harness flakes -k mptcp --mode debug --since 30d"), formatter_class=RAW)
    f.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest's -k over the subtests' names")
    f.add_argument("--mode", help="one mode only (normal, debug, btf, prebuilt)")
    f.add_argument("--since", help="outcomes since then: 30d, 12h, 2w or a date (default: all)")
    f.add_argument("--last", type=int, default=100, help="each subtest's last N outcomes (default 100, as the MPTCP "
                   "CI's flakes page)")
    f.add_argument("--json", action="store_true", help="a JSON list: test, mode, runs, failures, rate, low, high, "
                   "signatures, class (and kernel, last_failure)")
    f.add_argument("--nights", metavar="DIR", action="append", help="first record the nights of this NIGHTS_DIR (one "
                   "copied from CI, say): each counts once however often it is read")
    f.add_argument("--cache", help="the harness cache (default: $HARNESS_CACHE or ~/.cache/mptcp-harness)")
    f.set_defaults(func=_flakes_command)
    return parser


def _flakes_command(args: argparse.Namespace) -> int:
    """The history's rates: a line each (or JSON), the failing first."""
    from harness.history import History, since
    from harness.report.flakes import night_outcomes, rates, to_json
    from harness.run.select import matcher

    if args.last < 1:
        raise BadInput(f"--last {args.last}: give at least 1")
    try:
        start = since(args.since) if args.since else 0.0
    except ValueError as e:
        raise BadInput(str(e)) from None
    wanted = matcher(args.keyword)
    root = Path(args.cache) if args.cache else default_cache_dir()
    history = History(root)
    for nights in args.nights or ():
        if not Path(nights).is_dir():
            raise BadInput(f"--nights {nights}: no such directory; give a NIGHTS_DIR (the nightly's --out)")
        added = sum(history.record(night_outcomes(n.parent)) for n in sorted(Path(nights).glob("*/summary.json")))
        print(f"{nights}: {added} outcome(s) new to the history", file=sys.stderr)
    seen = [o for o in history.outcomes(start) if wanted(o.test) and args.mode in (None, o.mode)]
    found = rates(seen, args.last)
    if args.json:
        print(to_json(found), end="")
    else:
        for r in found:
            print(r.line())
        if not found:
            print(f"no outcomes recorded in {root}" + (f" since {args.since}" if args.since else ""))
    return Exit.PASSED


def unexpected(e: Exception) -> str:
    """An error nothing else caught, in one line: a full disk says what to free; anything else, where to see more."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        where = e.filename or default_cache_dir()
        return (f"infrastructure: the disk is full writing {where}: free some space (the harness's cache, "
                f"{default_cache_dir()}, can be trimmed or deleted) and run again; what was written before is kept")
    return f"infrastructure: {type(e).__name__}: {e}; HARNESS_DEBUG=1 shows the traceback"


def _add_bisect(sub: argparse._SubParsersAction[_Parser]) -> None:
    b = sub.add_parser("bisect", help="find the first bad Debian build of a list, or the first bad commit of a tree",
                       usage="python -m harness bisect (--kernels OLD,...,NEW | --kernel-tree PATH --good REV --bad REV) "
                             "[--confidence P] [--max-runs N] [--out DIR] [--resume] [harness options] -k mptcp/rr",
                       epilog=_epilog("python -m harness bisect --kernel-tree ~/linux --good v7.2 --bad HEAD -k mptcp/rr", True),
                       formatter_class=RAW)
    b.add_argument("--kernels", help="Debian kernels from images/debian.toml, oldest first (6.12,7.2,7.3)")
    b.add_argument("--kernel-tree", help="a git checkout: bisect its commits in a worktree of the harness's own")
    b.add_argument("--good", help="with --kernel-tree: a commit where the selection passes")
    b.add_argument("--bad", help="with --kernel-tree: a commit where it fails")
    b.add_argument("--confidence", type=float, default=0.95, help="how sure a good step must be that a commit failing "
                   "like the bad end would have failed (default 0.95): sizes its runs by the bad end's failure rate")
    b.add_argument("--max-runs", type=int, default=20, help="at most this many runs of a step, and of the bad end's "
                   "measure (default 20); a step that reaches it says how sure it is")
    b.add_argument("--runs", help=argparse.SUPPRESS)  # gone: said in one line (_sizing)
    b.add_argument("--out", help="where bisect.json, bisect.md and the state go (default: <cache>/bisect/<name>)")
    b.add_argument("--resume", action="store_true", help="go on from the steps an interrupted bisection judged")
    b.add_argument("--term-old", default="good", help="git bisect's term for the old state (e.g. absent)")
    b.add_argument("--term-new", default="bad", help="git bisect's term for the new state (e.g. present)")
    b.set_defaults(func=_bisect_command, passes_pytest_args=True)
    s = sub.add_parser("bisect-step", help="for `git bisect run`: exit 0 good, 1 bad, 125 cannot tell",
                       usage="git bisect run python -m harness bisect-step [harness options] -k EXPR",
                       epilog=_epilog("git bisect run python -m harness bisect-step --kernel-tree . -k mptcp/rr", True),
                       formatter_class=RAW)
    s.set_defaults(func=_bisect_step_command, passes_pytest_args=True)


def _add_verify_fix(sub: argparse._SubParsersAction[_Parser]) -> None:
    v = sub.add_parser("verify-fix",
                       help="does a fix commit fix a failure? reproduce it on the base, then run the fix N times",
                       usage="python -m harness verify-fix --kernel-tree PATH --base REV --fix REV [--reproduce N] "
                             "[--count N] [--confidence P] [--out DIR] [harness options] -k EXPR",
                       epilog=_epilog("python -m harness verify-fix --kernel-tree ~/linux --base HEAD~1 --fix HEAD "
                                      "-k mptcp/rr --count 20", True),
                       formatter_class=RAW)
    v.add_argument("--base", required=True, help="a commit where the selection fails (e.g. the fix's parent)")
    v.add_argument("--fix", required=True, help="the commit with the fix")
    v.add_argument("--reproduce", type=int, default=20, help="at most this many rounds on the base, stopping at its third "
                   "failure: its failure rate (default 20); it must fail in one")
    v.add_argument("--confidence", type=float, default=0.95, help="the fix's rounds stop once a commit failing like the "
                   "base would have failed with this probability (default 0.95), at most --count (default 20)")
    v.add_argument("--out", help="where verify-fix.json goes (default: <cache>/verify-fix/<tree>)")
    v.set_defaults(func=_verify_fix_command, passes_pytest_args=True)


def _verify_fix_command(args: argparse.Namespace, pytest_args: list[str]) -> int:
    """Reproduce on --base (--reproduce rounds), then --count rounds of --fix, stopping at a failure; both rates."""
    from harness.bisect.fix import verify_fix

    settings, keyword = for_command(pytest_args, "verify-fix", defaults={"count": 20})
    if settings.kernel_tree is None:
        raise BadInput("verify-fix needs --kernel-tree PATH: a git checkout holding both commits")
    if args.reproduce < 1:
        raise BadInput("--reproduce must be at least 1")
    confidence = checked_confidence(args.confidence)
    chosen = selections(keyword)
    out = writable_dir(Path(args.out) if args.out else settings.cache_dir / "verify-fix" / settings.kernel_tree.name, "--out")
    signal.signal(signal.SIGTERM, _interrupted)  # the worktree is removed on the way out
    try:
        return verify_fix(settings.kernel_tree, args.base, args.fix, settings, chosen, args.reproduce, settings.count, out,
                          print, confidence)
    except KeyboardInterrupt:
        print("interrupted: no verdict (the worktree is removed; run again to verify)", file=sys.stderr)
        return InfraError.exit_code


def _add_nightly(sub: argparse._SubParsersAction[_Parser]) -> None:
    n = sub.add_parser("nightly", help="fetch, build each mode, run every suite, compare with the night before",
                       usage="python -m harness nightly --out NIGHTS_DIR (--git URL [--branch B] | --kernel-tree PATH | "
                             "--kernel NAME) [--modes normal,debug] [--expectations F] [--kcidb FILE] [harness options] "
                             "[-k EXPR]",
                       epilog=_epilog("python -m harness nightly --out ~/nights --kernel-tree ~/linux --modes normal", True),
                       formatter_class=RAW)
    n.add_argument("--out", required=True, help="NIGHTS_DIR: each night gets <date>-<commit>/ there")
    n.add_argument("--git", help="a git URL (or local path / file:// URL) to fetch the tree from, into the cache")
    n.add_argument("--branch", help="with --git: the branch (default: the remote's HEAD)")
    n.add_argument("--modes", default="normal,debug", help="kernel modes to build, each its own build (kernel-configs/"
                   "modes.toml; default normal,debug)")
    n.add_argument("--kcidb", help="also write the night in KernelCI's KCIDB JSON format to this file")
    n.add_argument("--bisect", choices=("auto", "off"), default="auto", help="auto (default): bisect a mode's new "
                   "failures between the night before's commit and tonight's, when built from git; off: never")
    n.add_argument("--bisect-budget", type=float, default=4 * 3600, metavar="SECONDS", help="the most a night's "
                   "bisection may take; then it reports the range narrowed so far (default 14400: 4 h)")
    n.add_argument("--notify", metavar="CMD", help="run CMD (sh -c) with summary.txt on its stdin when the night has new "
                   "failures or crashes, e.g. 'mail -s \"mptcp nightly\" me@example.org'; its failure never fails the night")
    n.add_argument("--suite", action="append", metavar="TOML", help="run this suite file instead of suites/*.toml "
                   "(repeatable)")
    n.add_argument("--kernels", metavar="K1,K2,...", help="Debian kernels (images/debian.toml), oldest first: a column "
                   "each, the same selection on each; with --selftests-tree or --selftests-git, the newest selftests on "
                   "older kernels (the summary lists what an older one fails and the newest passes)")
    n.add_argument("--selftests-git", metavar="URL", help="with --kernels: fetch the kselftests' tree from this git URL "
                   "(or local path / file:// URL) into the cache, as --git does; its commit is the night's checkout")
    n.add_argument("--selftests-branch", metavar="B", help="with --selftests-git: the branch (default: the remote's HEAD)")
    n.set_defaults(func=_nightly_command, passes_pytest_args=True)


def _nightly_command(args: argparse.Namespace, pytest_args: list[str]) -> int:
    from harness.nightly import night as nightly

    suite_files = tuple(Path(f) for f in args.suite or ())
    settings, keyword = for_command(pytest_args, "nightly", defaults={"retries": 1},  # a night tells flaky from failing
                                    suites=suite_files or (SUITES_DIR,))
    if args.git and settings.kernel_tree is not None:
        raise BadInput("--git and --kernel-tree each give the tree: give one")
    if args.branch and not args.git:
        raise BadInput("--branch goes with --git URL")
    kernels = _night_kernels(args, settings)
    modes = nightly.check_modes(args.modes, settings, bool(args.git or settings.kernel_tree), kernels)
    chosen = selections(keyword, list(suite_files) or None)
    night = nightly.Night(writable_dir(Path(args.out), "--out"), settings, tuple(chosen), modes, args.git, args.branch,
                          Path(args.kcidb) if args.kcidb else None, args.notify, args.bisect, args.bisect_budget,
                          kernels, args.selftests_git, args.selftests_branch)
    return nightly.run(night)


def _night_kernels(args: argparse.Namespace, settings: Settings) -> tuple[str, ...]:
    """--kernels (checked against images/debian.toml) and the selftests' tree it may take; bad input said in one line."""
    if args.selftests_branch and not args.selftests_git:
        raise BadInput("--selftests-branch goes with --selftests-git URL")
    if args.selftests_git and settings.selftests_tree is not None:
        raise BadInput("--selftests-git and --selftests-tree each give the selftests' tree: give one")
    if not args.kernels:
        if args.selftests_git:
            raise BadInput("--selftests-git goes with --kernels K1,K2,...: the kernels its selftests run on")
        return ()
    if args.git or settings.kernel_tree is not None or settings.kernel_name or settings.kernel_image is not None:
        raise BadInput("--kernels names the night's kernels: drop --git, --kernel-tree, --kernel and --kernel-image")
    from harness.kernel import debian

    kernels = tuple(k.strip() for k in args.kernels.split(",") if k.strip())
    for k in kernels:
        debian.spec_for(k)  # an unknown one is bad input, said with the known ones
    if len(set(kernels)) != len(kernels) or not kernels:
        raise BadInput(f"--kernels {args.kernels}: name each kernel once, oldest first (6.12,7.2,7.3)")
    return kernels


def _report_command(args: argparse.Namespace) -> int:
    from harness.report.html import write_html

    start = time.monotonic()
    out = Path(args.html)
    if args.last < 1:
        raise BadInput(f"--last {args.last}: give a number of results, at least 1 (default 100)")
    writable_dir(out.parent, "--html's directory")
    columns = write_html(out, [Path(p).resolve() for p in args.paths], time.strftime("%Y-%m-%d %H:%M"), last=args.last)
    print(f"{out}: {columns} column(s) in {time.monotonic() - start:.2f} s; open file://{out.resolve()}")
    return Exit.PASSED
