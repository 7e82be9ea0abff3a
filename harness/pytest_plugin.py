"""pytest adapter: suites/*.toml become one item per subtest; running them is harness.pipeline's.

Registered as a pytest11 entry point (pyproject.toml, through pytest_harness.py: why, there). Collection reads data files only (no
build, no boot). The first item to run prepares kernel and payload for the whole session
and runs every selected subtest of its suite in rounds of one-shot guests, or (persistent
guest, xdist) each item in this process's guest; each item reports its own result.
"""
from __future__ import annotations

import copy
import dataclasses
import gc
import os
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness import pipeline
from harness.data import SUITES_DIR
from harness.errors import BadInput, InfraError
from harness.report import write_reports
from harness.report.console import rate_lines, totals_line
from harness.results import (
    Status,
    SubtestResult,
    SuiteRun,
    failure_rates,
    merge_runs,
    not_run,
    of_round,
    round_name,
    run_from_plain,
    run_to_plain,
)
from harness.run import durations, shard
from harness.settings import OPTIONS, Settings, read_ini, resolve
from harness.suites import Selection, Suite, load_suite

_RUNNER = pytest.StashKey["SessionRunner"]()
_BAD_SUITE = pytest.StashKey[bool]()
_SESSION_ITEMS = pytest.StashKey[list[pytest.Item]]()
_WORKER_RUNS = pytest.StashKey[list[SuiteRun]]()  # under xdist, on the controller


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "MPTCP BPF selftests in vng guests")
    for o in OPTIONS:
        if o.kind is bool:
            group.addoption(o.flag, dest=f"harness_{o.key}", action="store_true", default=None, help=o.help)
        else:
            group.addoption(o.flag, dest=f"harness_{o.key}", default=None, help=o.help, choices=o.choices or None)
        parser.addini(f"harness_{o.key}", o.help, default=None)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, args: list[str]) -> None:
    """pytest's rootdir and ini file, chosen again now that the harness's options are known.

    pytest chooses them (Config.parse: findpaths.determine_setup) from the arguments it can parse before it loads
    any pytest11 plugin, so the value of an option of ours given with a space (`--kernel-tree PATH`) is taken for
    a path to collect: the rootdir moves to PATH or above it, the clone's ini file is not read (its markers are
    unknown, its testpaths ignored) and `.pytest_cache` lands in PATH (pytest #8846; `--kernel-tree=PATH` is one
    unknown word and does not). This hook is the first with the plugins loaded and the arguments parsed again
    with their options: the same choice is made on them, and the config takes it before anything reads it
    (conftests, the cache, collection). The installed command registers the plugin before parsing
    (harness/command.py) and never gets here with another choice."""
    from _pytest.config.findpaths import determine_setup

    ns = early_config.known_args_namespace
    rootpath, inipath, inicfg, ignored = determine_setup(
        inifile=ns.inifilename, override_ini=ns.override_ini, args=ns.file_or_dir, rootdir_cmd_arg=ns.rootdir or None,
        invocation_dir=early_config.invocation_params.dir)
    if (rootpath, inipath) == (early_config.rootpath, early_config.inipath):
        return
    cutdir_was = str(early_config.inipath.parent if early_config.inipath else early_config.rootpath)
    addopts_were = list(early_config.getini("addopts"))
    early_config._rootpath, early_config._inipath = rootpath, inipath
    early_config._inicfg, early_config._ignored_config_files = inicfg, ignored
    early_config._inicache.clear()
    early_config._parser.extra_info.update(rootdir=str(rootpath), inifile=str(inipath))
    if args[:len(addopts_were)] == addopts_were:  # the other ini file's addopts, in front: this one's instead
        args[:len(addopts_were)] = early_config.getini("addopts")
        ns = early_config._parser.parse_known_args(args, namespace=copy.copy(early_config.option))
        early_config.known_args_namespace = ns
    if ns.confcutdir in (None, cutdir_was):  # pytest's default, from the ini file's place
        ns.confcutdir = str(inipath.parent if inipath else rootpath)
    early_config._checkversion()
    early_config._validate_plugins()


def settings_of(config: pytest.Config) -> Settings:
    """The session's Settings: what pytest parsed of the harness's flags, resolved as every front end does."""
    flags = {o.key: getattr(config.option, f"harness_{o.key}", None) for o in OPTIONS}
    ini = read_ini(config.inipath, getattr(config.option, "override_ini", None))
    return resolve(flags, os.environ, ini, persistent=hasattr(config, "workerinput"))


def pytest_configure(config: pytest.Config) -> None:
    # What pytest and the harness imported lives as long as the process: out of the collector's way, so that
    # pytest's own gc.collect() at the end (its unraisable-exception check) and any during the run skip it.
    # `pytest --co -k mptcp/base`, 6 pairs alternated: median 0.68 s against 0.78 s without (2026-11-26).
    gc.freeze()
    try:
        settings = settings_of(config)
    except BadInput as e:
        raise pytest.UsageError(str(e)) from None
    config.stash[_RUNNER] = SessionRunner(settings, config)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)  # stop guests, write reports, exit "interrupted"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """suites/*.toml; a suite file elsewhere (the canary, one of your own) only when named on the command line."""
    if file_path.suffix != ".toml":
        return None
    named = {Path(arg.split("::")[0]).resolve() for arg in parent.config.args}
    resolved = file_path.resolve()
    if resolved.parent == SUITES_DIR.resolve() or resolved in named:
        return SuiteFile.from_parent(parent, path=file_path)
    return None


class SuiteFile(pytest.File):
    def collect(self) -> Iterator[SubtestItem]:
        try:
            suite = load_suite(self.path)
        except BadInput as e:
            self.config.stash[_BAD_SUITE] = True  # the session ends as a usage error (see sessionfinish)
            raise self.CollectError(str(e)) from None
        for subtest in suite.subtests:
            yield SubtestItem.from_parent(self, name=suite.full_name(subtest), suite=suite, subtest=subtest)


class SubtestFailed(Exception):
    def __init__(self, result: SubtestResult) -> None:
        super().__init__(result.name)
        self.result = result


class SubtestItem(pytest.Item):
    def __init__(self, *, suite: Suite, subtest: str, round_no: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.subtest = subtest
        self.round_no = round_no  # --count: which round (1 ..), 0 without

    def runtest(self) -> None:
        result = self.config.stash[_RUNNER].result_for(self)
        if result.status is Status.PASSED:
            return
        if result.status is Status.FLAKY:
            self.user_properties.append(("flaky", result.reason))
            return
        if result.status in (Status.SKIPPED, Status.NOT_IN_BUILD):
            pytest.skip(result.reason or result.status.value)
        if result.status is Status.XFAIL:  # an expectations file names it (--expectations)
            pytest.xfail(result.reason)
        if result.status is Status.XPASS:  # pytest's non-strict XPASS: the entry can go (pytest_runtest_makereport)
            self.user_properties.append(("xpass", result.reason))
            return
        raise SubtestFailed(result)  # not_run (deadline, interrupt), lost, timeout, failed: a run that is not all green

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SubtestFailed):
            r = excinfo.value.result
            head = f"{r.name}: {r.status.value}" + (f" ({r.reason})" if r.reason else "")
            return f"{head}\n" + ("\n".join(r.output) if r.output else "(test_progs printed nothing for this subtest)")
        if isinstance(excinfo.value, (BadInput, InfraError)):
            return str(excinfo.value)
        return str(excinfo.getrepr(style="short"))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class SessionRunner:
    """The session's pipeline: prepared on the first item, each suite's selection run once (or each item alone)."""

    def __init__(self, settings: Settings, config: pytest.Config) -> None:
        self.settings, self.config = settings, config
        self.session: pipeline.Session | None = None
        self.runs: list[SuiteRun] = []
        self.ran: dict[Path, SuiteRun] = {}  # one-shot guests: one run per suite
        self.failure: Exception | None = None
        self.last_round: Path | None = None  # --count: the directory of the round that ran last (for --until-fail)

    def say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None:
            print(f"[harness] {line}", flush=True)
            return
        with capture.global_and_fixture_disabled():  # progress goes to the terminal, now
            reporter.write_line(f"[harness] {line}")

    def items(self) -> list[SubtestItem]:
        return [i for i in self.config.stash.get(_SESSION_ITEMS, []) if isinstance(i, SubtestItem)]

    def result_for(self, item: SubtestItem) -> SubtestResult:
        if self.failure is not None:
            raise self.failure
        try:
            run = self._run_for(item)
        except BadInput as e:
            self.failure = e
            pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)
        except InfraError as e:
            if not self.settings.persistent_guest:
                self.failure = e
            raise
        if run.interrupted:
            raise KeyboardInterrupt
        result = run.get(item.name) or run.get(item.suite.full_name(item.subtest))
        if result is None:  # cannot happen: decide() answers for every subtest asked
            raise InfraError(f"{item.name}: no result recorded")
        return result

    def _run_for(self, item: SubtestItem) -> SuiteRun:
        if self.session is None:
            suites = {i.suite.path: i.suite for i in self.items()}.values()
            prepared = pipeline.prepare(pipeline.PrepareRequest.of(self.settings), suites, self.say)
            self.session = pipeline.Session(self.settings, prepared, self.say)
            for line in prepared.expired:
                self.say(line)
        if self.settings.persistent_guest:
            run = self.session.run_in_guest(item.suite, item.subtest)
            if item.round_no:  # every round's result kept under its own name
                run = dataclasses.replace(run, subtests=tuple(of_round(r, item.name) if r.in_suite else r
                                                              for r in run.subtests))
                self.last_round = self.session.workdirs[-1] if self.session.workdirs else None
            self._report(run, alone=True)
            return run
        if item.suite.path not in self.ran:
            wanted = {i.subtest for i in self.items() if i.suite.path == item.suite.path}
            selection = Selection(item.suite, tuple(s for s in item.suite.subtests if s in wanted))
            self.ran[item.suite.path] = run = self.session.run(selection)
            self._report(run, alone=False)
        return self.ran[item.suite.path]

    def _report(self, run: SuiteRun, alone: bool) -> None:
        self.runs.append(run)
        if not alone and not run.interrupted:
            # the suite file's subtests, as pytest counts its items; what the build has beyond them is said below
            self.say(f"{run.suite} done in {run.elapsed_s:.1f} s: {totals_line([r for r in run.subtests if r.in_suite])}")
        for problem in run.infra_errors:
            self.say(f"infrastructure: {problem}")
        extras = [r for r in run.subtests if not r.in_suite]
        if extras:
            listing = ", ".join(f"{r.name} ({r.status.value})" for r in extras)
            self.say(f"this build also has subtests the suite file lacks: {listing}")

    def close(self) -> None:
        if self.session is not None:
            self.session.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.stash.get(_BAD_SUITE, False):
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # a malformed suite file is bad input, not a test error
    runner = session.config.stash.get(_RUNNER, None)
    if runner is None:
        return
    runner.close()
    _record(runner)
    runs = merge_runs([*runner.runs, *session.config.stash.get(_WORKER_RUNS, [])])
    have = {r.name for run in runs for r in run.subtests}
    never = [i for i in runner.items() if i.name not in have]
    if runs and never and exitstatus == pytest.ExitCode.INTERRUPTED and runner.settings.count == 1:  # stopped first
        by_suite: dict[str, list[SubtestResult]] = {}
        for i in never:
            by_suite.setdefault(i.suite.name, []).append(not_run(i.name, "interrupted"))
        runs = merge_runs([*runs, *(SuiteRun(name, runs[0].kernel, tuple(rs)) for name, rs in by_suite.items())])
    coverage = _coverage(runner)
    if runs and runner.settings.report_dir is not None:
        _write_reports(session.config, runner, runs, coverage)


def _record(runner: SessionRunner) -> None:
    """What this process ran, each result into the history (an xdist worker records its own): --history off, none."""
    from harness import history

    s = runner.settings
    workdirs = runner.session.workdirs if runner.session is not None else []
    where = str(s.report_dir / "results.json") if s.report_dir else str(workdirs[-1]) if workdirs else ""
    history.keep(s, runner.runs, "pytest", pipeline.mode_of(s), where, runner.say)


def _coverage(runner: SessionRunner) -> dict[str, object] | None:
    """--coverage: net/mptcp's, from every round's counters, into the report dir (else a dir of the cache)."""
    if not runner.settings.coverage or runner.session is None:
        return None
    return pipeline.coverage_of(runner.session, runner.settings.report_dir, runner.say)


def _write_reports(config: pytest.Config, runner: SessionRunner, runs: list[SuiteRun],
                   coverage: dict[str, object] | None = None) -> None:
    out = runner.settings.report_dir
    assert out is not None
    worker = getattr(config, "workerinput", {}).get("workerid")
    if worker:  # what an xdist worker ran: in its own folder, and to the controller for the merged report
        config.workeroutput["harness_runs"] = [run_to_plain(run) for run in runs]  # type: ignore[attr-defined]
        out = out / worker
    write_reports(out, runs, coverage)
    runner.say(f"reports: {out}/results.ktap, results.json, junit.xml")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker is done; what it ran goes into the controller's merged report."""
    plain = getattr(node, "workeroutput", {}).get("harness_runs", [])
    node.config.stash.setdefault(_WORKER_RUNS, []).extend(run_from_plain(p) for p in plain)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A subtest that passed against the expectations is pytest's XPASS, as a non-strict xfail mark makes it."""
    report = yield
    xpass = [why for key, why in item.user_properties if key == "xpass"]
    if call.when == "call" and report.passed and xpass:
        report.wasxfail = xpass[0]
    runner = item.config.stash.get(_RUNNER, None)
    if call.when == "call" and report.failed and runner is not None and runner.settings.until_fail:
        item.session.shouldfail = _until_fail_stop(runner, item)  # as -x stops: exit 1, a test failed
    return report


def _until_fail_stop(runner: SessionRunner, item: pytest.Item) -> str:
    """--until-fail: why the loop stops. The failing round's files and the guest's console so far are copied to a
    folder of the cache's runs/ (the guest's own folder goes with the guest) and named."""
    where, workdir = "", runner.last_round
    if workdir is not None and workdir.is_dir():
        kept = runner.settings.cache_dir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-until-fail-{os.getpid()}"
        shutil.copytree(workdir, kept / workdir.name, dirs_exist_ok=True)
        console = next((d / "console.log" for d in workdir.parents if (d / "console.log").is_file()), None)
        if console is not None:
            shutil.copyfile(console, kept / "console.log")
        output = min((kept / workdir.name).rglob("batch-*.log"), default=kept / workdir.name)
        where = f"; its output: {output}" + (f"; the guest's console: {kept / 'console.log'}" if console is not None else "")
    runner.say(f"--until-fail: {item.name} failed{where}")
    return f"--until-fail: {item.name} failed"


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    """--count: each subtest's failures of the rounds it ran."""
    runner = config.stash.get(_RUNNER, None)
    if runner is None or runner.settings.count == 1:
        return
    rates = failure_rates([r for run in runner.runs for r in run.subtests])
    if rates:
        terminalreporter.section("rounds (--count)")
        for line in rate_lines(rates):
            terminalreporter.write_line(line)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A flaky subtest passed, but is never shown as a plain pass."""
    if report.when == "call" and report.passed and any(key == "flaky" for key, _ in report.user_properties):
        return "flaky", "f", "FLAKY"
    return None


@pytest.hookimpl(trylast=True)  # after -k / -m: a shard is a part of what they selected
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    runner = config.stash.get(_RUNNER, None)
    xdist = getattr(config.option, "numprocesses", None) or hasattr(config, "workerinput")
    if runner is not None and runner.settings.count > 1:
        _rounds(items, runner.settings.count)
    if runner is None or not (xdist or runner.settings.shard):
        return
    suites = {i.suite.path: i.suite for i in items if isinstance(i, SubtestItem)}.values()
    known = {s.full_name(n): t for s in suites for n, t in durations.load(runner.settings.cache_dir, s).items()}
    if runner.settings.shard is not None:
        _keep_shard(config, items, *runner.settings.shard)
    if xdist:  # hand out the longest subtests first
        items.sort(key=lambda i: -known.get(i.name, 0.0) if isinstance(i, SubtestItem) else 0.0)  # stable


def _rounds(items: list[pytest.Item], count: int) -> None:
    """--count N: the selection N times over, round after round, each item named for its round (mptcp/base[2-5])."""
    chosen = [i for i in items if isinstance(i, SubtestItem) and isinstance(i.parent, SuiteFile)]
    items[:] = [i for i in items if i not in chosen] + [
        SubtestItem.from_parent(i.parent, name=round_name(i.name, n, count), suite=i.suite, subtest=i.subtest, round_no=n)
        for n in range(1, count + 1) for i in chosen if isinstance(i.parent, SuiteFile)]


def _keep_shard(config: pytest.Config, items: list[pytest.Item], part: int, parts: int) -> None:
    """--shard i/n: keep part i of the selected subtests (harness.run.shard), deselect the rest."""
    mine = shard.part_of([(i.suite, i.subtest) for i in items if isinstance(i, SubtestItem)], part, parts)
    dropped = [i for i in items if isinstance(i, SubtestItem) and i.name not in mine]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [i for i in items if i not in dropped]


def pytest_collection_finish(session: pytest.Session) -> None:
    # after -k / -m deselection: what is left is what this run asks for
    session.config.stash[_SESSION_ITEMS] = list(session.items)
