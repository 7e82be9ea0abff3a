"""The round loop: the selected subtests run in rounds of guests until every one has a result.

A round runs the pending subtests in batches side by side (harness.run.plan, the guests' scripts
from harness.guest.commands) in one guest, or dealt to several one-shot guests booted at once
(`guests`: under TCG a guest has one host core, whatever its vCPUs), each watched as it goes
(harness.run.watch). If a guest ends early (a panic, a subtest past its timeout, the guest gone),
a subtest that was running alone in it gets the blame; when several were running side by side, each is run again
alone to find which one did it; the ones that had not started run in the next round on a
fresh guest. Failures are retried `retries` times: a pass on retry is flaky. Statuses are
made by harness.results, never here.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import guest, results
from harness.guest.commands import RUNNER_SCRIPT, Batch, runner_script
from harness.kernel import coverage
from harness.kernel.decode import decode
from harness.parse.console import Incident, IncidentKind
from harness.parse.test_progs import parse_test_progs
from harness.payload.kselftests import KselftestPayload
from harness.payload.selftests_bpf import Payload
from harness.results import SubtestResult, SuiteRun, decide
from harness.run import pcaps
from harness.run.plan import plan_batches
from harness.run.watch import Stop, StopKind, Watch
from harness.suites import Suite

FRUITLESS_ROUNDS = 2  # rounds again after one in which nothing started, before the rest is lost
MAX_TRIES = 3  # rounds a subtest may start in before it is left lost
ALONE_TRIES = 2  # a crash suspect is run alone only if it started fewer rounds than this

# Runs one script in a guest, calling on_tick while it waits: a one-shot guest, or a command on a running one.
ScriptRunner = Callable[[Path, float, Callable[[], object]], guest.GuestExit]


def one_shot(config: guest.GuestConfig, boot_timeout_s: float, shared_dir: Path) -> ScriptRunner:
    def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
        return guest.run_once(config, shared_dir, script, boot_timeout_s + timeout_s, on_tick)
    return run


@dataclass(frozen=True)
class RunRequest:
    suite: Suite
    subtests: tuple[str, ...]  # names without the suite prefix, in suite order
    payload: Payload | KselftestPayload | None  # what the guest runs from; None: a suite of shell commands only
    guest: guest.GuestConfig
    workdir: Path  # shared with the guest: script, logs, exit status
    boot_timeout_s: float
    concurrency: int = 1  # batches side by side in each guest
    guests: int = 1  # one-shot guests a round's batches are dealt to, side by side (with `runner`: 1)
    durations: dict[str, float] = field(default_factory=dict)  # subtest -> seconds, earlier runs
    progress: Callable[[SubtestResult], object] | None = None
    runner: ScriptRunner | None = None  # None: a one-shot guest booted for each round
    console: Path | None = None  # the running guest's console, with `runner`
    retries: int = 0  # failed subtests run again up to this many times (a pass then is flaky)
    fail_on_warning: bool = True  # a kernel WARNING fails the subtest that was running
    deadline: float | None = None  # time.monotonic() by which the whole run must end
    scans_s: float = 0.0  # what a round's kmemleak scans may take besides its subtests (debug kernels)
    pcap: bool = False  # --pcap: the suite's capturing scripts capture; a failure keeps its pcaps (run/pcaps.py)


@dataclass
class _Round:
    """What one guest run gave back."""

    subtests: tuple[str, ...]  # what it was asked to run
    concurrency: int
    stop: Stop | None  # what ended it early, if anything did
    results: list[SubtestResult] = field(default_factory=list)  # every subtest asked for (decide(): lost where unreported)
    unreported: list[str] = field(default_factory=list)  # names asked for that never reported, in unfinished batches
    running: list[str] = field(default_factory=list)  # of those, the ones running when the round ended
    incidents: list[Incident] = field(default_factory=list)  # attributed: each knows who ran
    problems: list[str] = field(default_factory=list)
    log: str = ""


@dataclass
class _Guest:
    """One guest of a round: the batches it runs side by side, its directory and watch, what became of it."""

    batches: list[Batch]
    workdir: Path  # its run.sh, console.log, batch logs: the round's directory, or guest-<k> in it
    watch: Watch
    exit: guest.GuestExit | None = None
    stop: Stop | None = None
    error: BaseException | None = None  # what ended it otherwise (no guest, a broken host): raised again


def _run_round(request: RunRequest, subtests: tuple[str, ...], concurrency: int, workdir: Path) -> _Round:
    """The subtests in `concurrency` batches, spread over the request's guests (one when it has a runner)."""
    workdir.mkdir(parents=True, exist_ok=True)
    batches = plan_batches(request.suite, subtests, request.durations, concurrency)
    guests = _guests(request, batches, workdir, 1 if request.runner is not None else request.guests)
    slowest = max((len(b.subtests) for b in batches), default=0)
    timeout_s = request.suite.timeout_s * slowest + 60 + request.scans_s
    if len(guests) == 1:
        _run_guest(request, guests[0], timeout_s, None)
    else:
        _side_by_side(request, guests, timeout_s)
    return _collect(request, subtests, guests)


def _guests(request: RunRequest, batches: list[Batch], workdir: Path, count: int) -> list[_Guest]:
    """The batches dealt to at most `count` guests, each with its directory, run.sh and watch."""
    count = max(1, min(count, len(batches)))
    progress = request.progress
    if count > 1 and progress is not None:  # results come from each guest's thread: one line at a time
        lock, report = threading.Lock(), progress

        def progress(result: SubtestResult) -> object:
            with lock:
                return report(result)
    payload_dir = request.payload.directory if request.payload is not None else None
    out = []
    for k in range(count):
        mine, where = batches[k::count], workdir if count == 1 else workdir / f"guest-{k}"
        where.mkdir(parents=True, exist_ok=True)
        gcov = where / "gcov" if coverage.gcov_kernel(request.guest.kernel) else None
        (where / RUNNER_SCRIPT).write_text(runner_script(request.suite, payload_dir, request.workdir, mine, where,
                                                         machine_slow=not request.guest.use_kvm, every=batches,
                                                         gcov_out=gcov, pcap_out=where / pcaps.DIR if request.pcap else None))
        console = (request.console or where / "console.log") if request.runner is not None else where / "console.log"
        out.append(_Guest(mine, where, Watch(request.suite, mine, where, console, progress, request.deadline,
                                               request.fail_on_warning)))
    return out


def _run_guest(request: RunRequest, g: _Guest, timeout_s: float, abort: threading.Event | None) -> None:
    """Boot g (or use the request's runner) and watch it to the end; how it ended goes into g."""
    runner = request.runner or one_shot(request.guest, request.boot_timeout_s, request.workdir)

    def tick() -> None:
        if abort is not None and abort.is_set():
            raise Stop("interrupted", StopKind.INTERRUPTED)
        g.watch.tick()
    try:
        g.exit = runner(g.workdir / RUNNER_SCRIPT, timeout_s, tick)
        g.watch.tick(final=True)
    except Stop as e:
        g.stop = e
        g.exit = guest.GuestExit(None, e.kind is StopKind.TIMEOUT, time.monotonic() - g.watch.start, g.watch.console)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: the guest is already gone
        g.stop = Stop("interrupted", StopKind.INTERRUPTED)
        g.exit = guest.GuestExit(None, False, time.monotonic() - g.watch.start, g.watch.console)


def _side_by_side(request: RunRequest, guests: list[_Guest], timeout_s: float) -> None:
    """Each guest in a thread of its own; Ctrl-C (the main thread's) or a guest that could not run stops them all."""
    abort = threading.Event()

    def run(g: _Guest) -> None:
        try:
            _run_guest(request, g, timeout_s, abort)
        except BaseException as e:  # noqa: BLE001 - raised again in the main thread
            g.error = e
            abort.set()
    threads = [threading.Thread(target=run, args=(g,), name=f"guest-{k}") for k, g in enumerate(guests)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            while t.is_alive():
                t.join(0.2)
    except KeyboardInterrupt:
        abort.set()
        for t in threads:
            t.join()
    if error := next((g.error for g in guests if g.error is not None), None):
        raise error


STOP_RANK = (StopKind.INTERRUPTED, StopKind.DEADLINE, StopKind.CRASH, StopKind.TIMEOUT)  # what a round's end is called


def _collect(request: RunRequest, subtests: tuple[str, ...], guests: list[_Guest]) -> _Round:
    """The round's results, from every guest's batch logs and console."""
    stops = sorted((g.stop for g in guests if g.stop is not None), key=lambda s: STOP_RANK.index(s.kind))
    found = _Round(subtests, max(len(g.batches) for g in guests), stops[0] if stops else None)
    logs: list[str] = []
    for g in guests:
        assert g.exit is not None
        if g.stop is None and g.exit.timed_out:
            found.problems.append(f"stopped after {g.exit.elapsed_s:.0f} s without finishing (console: {g.exit.console_log})")
        pending: dict[int, tuple[str, ...]] = {}  # per unfinished batch, what it did not report
        for b in g.batches:
            logs.append(_read_batch(request, g, b, found, pending))
        incidents, timeline = g.watch.incidents()
        found.incidents += [decoded(request, i) for i in incidents]
        if timeline.batches:
            found.running += list(timeline.unfinished(pending))
        else:  # no marker reached the console (no console captured): what the logs said
            found.running += [n for n in g.watch.running() if n in found.unreported]
    found.log = "\n".join(logs)
    return found


def decoded(request: RunRequest, incident: Incident) -> Incident:
    """The incident with its trace decoded to file:line, when it is one that fails a subtest and the kernel's tree can."""
    if incident.kind is IncidentKind.WARNING and not request.fail_on_warning:
        return incident  # reported, fails nothing: not worth the decoder's seconds
    return dataclasses.replace(incident, decoded=decode(request.guest.kernel, incident.excerpt))


def _read_batch(request: RunRequest, g: _Guest, b: Batch, found: _Round, pending: dict[int, tuple[str, ...]]) -> str:
    """One batch's results into `found` (and what it left unreported into `pending`); its log, headed."""
    assert g.exit is not None
    log_path, status_path = b.log(g.workdir), b.status_file(g.workdir)
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    finished = status_path.exists() and status_path.read_text().strip() != ""
    parsed = parse_test_progs(log)
    decided = decide(request.suite.test, list(b.subtests), list(request.suite.subtests), parsed, finished,
                     nested=request.suite.runner.nested, printed_by=request.suite.printed_by)
    if request.pcap:
        decided = [pcaps.kept(r, g.workdir, request.suite) for r in decided]
    found.results += [dataclasses.replace(r, duration_s=g.watch.duration(r.name)) for r in decided]
    if not finished:
        pending[b.index] = tuple(n for n in map(request.suite.full_name, b.subtests) if n not in parsed.subtests)
        found.unreported += pending[b.index]
        if g.stop is None and not g.exit.timed_out:
            found.problems.append(f"test_progs ({', '.join(b.subtests) or request.suite.test}) stopped before it "
                                  f"finished (exit {g.exit.returncode}; console: {g.exit.console_log})")
    return f"==> {log_path} <==\n{log}"


@dataclass
class _Run:
    """The state of run_suite between rounds."""

    request: RunRequest
    final: dict[str, SubtestResult] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    normal: list[str] = field(default_factory=list)  # to run in the next ordinary round
    alone: list[str] = field(default_factory=list)  # suspects of a crash, each run in a guest of its own
    tries: dict[str, int] = field(default_factory=dict)  # full name -> rounds in which it started
    problems: list[str] = field(default_factory=list)
    logs: list[str] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    fruitless: int = 0  # rounds in which no subtest started
    ended: StopKind | None = None  # INTERRUPTED or DEADLINE: the rest is not_run

    def __post_init__(self) -> None:
        self.normal = list(self.request.subtests)
        self.short = {self.request.suite.full_name(s): s for s in self.request.suite.subtests}

    def next_round(self) -> tuple[tuple[str, ...], int]:
        if self.alone:
            return (self.alone.pop(0),), 1
        subtests, self.normal = tuple(self.normal), []
        return subtests, _allowed(self.request)

    def record(self, r: _Round) -> None:
        self.logs.append(r.log)
        self.problems += r.problems
        for result in r.results:
            if result.name not in self.final:
                self.order.append(result.name)
            self.final[result.name] = result
        for incident in r.incidents:
            self.incidents.append(incident)
            for name in (n for n in incident.running if n in self.final):
                self.final[name] = results.by_incident(self.final[name], incident, self.request.fail_on_warning)

    def end_early(self, kind: StopKind, why: str, round_no: int, unreported: list[str]) -> None:
        """Interrupted or out of time: what did not report, and what had not run, is not_run."""
        self.problems.append(f"round {round_no}: {why}")
        for name in unreported:
            self.final[name] = results.not_run(name, why)
        for sub in [*self.normal, *self.alone]:
            name = self.request.suite.full_name(sub)
            self.order.append(name)
            self.final[name] = results.not_run(name, why)
        self.normal, self.alone, self.ended = [], [], kind

    def after_early_end(self, r: _Round, round_no: int) -> None:
        """The guest stopped before every batch finished: blame, or find out who, and run the rest again."""
        assert r.stop is None or r.stop.kind in (StopKind.TIMEOUT, StopKind.CRASH)
        why = r.stop.why if r.stop else "the guest stopped before test_progs finished"
        self.problems.append(f"round {round_no}: {why}")
        fatal = next((i for i in reversed(r.incidents) if i.fatal), None)
        running = list(fatal.running if fatal else ()) or r.running  # the kernel log's markers say best who ran at a panic
        asked = [self.request.suite.full_name(s) for s in r.subtests]
        started = [n for n in asked if n not in r.unreported or n in running]  # only these used up a try
        for name in started:
            self.tries[name] = self.tries.get(name, 0) + 1
        if len(running) == 1 and (len(r.subtests) == 1 or r.concurrency == 1):  # it ran alone: it did it
            before = tuple(i for i in r.incidents if not i.fatal and running[0] in i.running)  # the Oops of a panic
            self._blame_alone(running[0], r.stop, why, fatal, before)
        else:
            self.alone += [self.short[n] for n in running if n in self.short and self.tries.get(n, 0) < ALONE_TRIES]
        if not started:  # the guest got nowhere (it died booting, vng failed): a fresh one may get further
            self.fruitless += 1
            if self.fruitless <= FRUITLESS_ROUNDS:
                self.normal += [self.short[n] for n in r.unreported if n in self.short]
            return
        self.normal += [self.short[n] for n in r.unreported
                        if n not in running and n in self.short and self.tries.get(n, 0) < MAX_TRIES]

    def _blame_alone(self, name: str, stop: Stop | None, why: str, fatal: Incident | None,
                     before: tuple[Incident, ...] = ()) -> None:
        timeout = why if stop is not None and stop.kind is StopKind.TIMEOUT else None
        self.final[name] = results.by_guest_end(self.final[name], timeout, fatal, before)

    def suite_run(self, elapsed_s: float, out_of_time: bool) -> SuiteRun:
        suite = self.request.suite
        rank = {suite.full_name(s): i for i, s in enumerate(suite.subtests)}
        found = [self.final[n] for n in sorted(self.order, key=lambda n: rank.get(n, len(rank)))]
        failed_run = results.run_failed(found, self.ended is not None, out_of_time)
        return SuiteRun(suite=suite.name, kernel=self.request.guest.kernel.identity, subtests=tuple(found),
                        log="\n".join(self.logs), infra_errors=tuple(self.problems) if failed_run else (),
                        elapsed_s=elapsed_s, incidents=tuple(self.incidents), interrupted=self.ended is StopKind.INTERRUPTED)


def run_suite(request: RunRequest) -> SuiteRun:
    """Run the subtests, surviving what the kernel does to the guest (see the module's docstring)."""
    start = time.monotonic()
    request.workdir.mkdir(parents=True, exist_ok=True)
    state = _Run(request)
    round_no = 0
    while state.normal or state.alone:
        round_no += 1
        subtests, concurrency = state.next_round()
        r = _run_round(request, subtests, concurrency, request.workdir / f"round-{round_no}")
        state.record(r)
        out_of_time = request.deadline is not None and time.monotonic() > request.deadline
        if r.stop is not None and r.stop.kind is StopKind.INTERRUPTED:
            state.end_early(StopKind.INTERRUPTED, "interrupted", round_no, r.unreported)
        elif (r.stop is not None and r.stop.kind is StopKind.DEADLINE) or (out_of_time and (state.normal or state.alone)):
            state.end_early(StopKind.DEADLINE, "the run's deadline passed", round_no, r.unreported)
        elif r.stop is not None or r.unreported:
            state.after_early_end(r, round_no)
    out_of_time = request.deadline is not None and time.monotonic() > request.deadline
    if request.retries and state.ended is None and not out_of_time:
        _retry_failures(request, state)
    return state.suite_run(time.monotonic() - start, out_of_time)


def _allowed(request: RunRequest) -> int:
    """Batches in a round: `concurrency` in each of its guests, at most the suite's max_concurrency in all."""
    total = request.concurrency * (1 if request.runner is not None else request.guests)
    return min(total, request.suite.max_concurrency) if request.suite.max_concurrency is not None else total


def _retry_failures(request: RunRequest, state: _Run) -> None:
    """Run failed subtests again; one that passes is flaky, its first failure kept as its output."""
    for attempt in range(1, request.retries + 1):
        failed = [state.short[n] for n, r in state.final.items()
                  if n in state.short and results.retryable(r)]
        if not failed:
            return
        r = _run_round(request, tuple(failed), _allowed(request),
                       request.workdir / f"retry-{attempt}")
        state.logs.append(r.log)
        for again in r.results:
            if again.name in state.final:
                state.final[again.name] = results.after_retry(state.final[again.name], again, attempt)
