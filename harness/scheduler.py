"""The round loop: the selected subtests run in rounds of guests until every one has a result.

A round runs the pending subtests in one guest, in batches side by side (harness.plan,
the guest's script from harness.guest.commands), watched as it goes (harness.watch). If it
ends early (a panic, a subtest past its timeout, the guest gone), a subtest that was
running alone gets the blame; when several were running side by side, each is run again
alone to find which one did it; the ones that had not started run in the next round on a
fresh guest. Failures are retried `retries` times: a pass on retry is flaky. Statuses are
made by harness.results, never here.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness import guest, results
from harness.crashes import event_header
from harness.guest.commands import RUNNER_SCRIPT, runner_script
from harness.kselftests import KselftestPayload
from harness.parse.console import Incident
from harness.parse.test_progs import parse_test_progs
from harness.plan import plan_batches
from harness.results import Status, SubtestResult, SuiteRun, decide
from harness.selftests import Payload
from harness.suites import Runner, Suite
from harness.watch import Stop, StopKind, Watch

FRUITLESS_ROUNDS = 2  # rounds again after one in which nothing started, before the rest is lost
MAX_TRIES = 3  # rounds a subtest may start in before it is left lost
ALONE_TRIES = 2  # a crash suspect is run alone only if it started fewer rounds than this
# A starved vCPU (an emulated guest on a busy host) shows these without any kernel bug: a
# subtest failed by one is retried like any failure, and a pass then reads as flaky. A hung
# task is not among them: blocked for minutes is a bug (a lost wakeup, a leaked lock), not a
# slow host, so it fails the subtest like a crash does.
TIMING_INCIDENTS = frozenset({"rcu stall", "soft lockup"})

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
    concurrency: int = 1
    durations: dict[str, float] = field(default_factory=dict)  # subtest -> seconds, earlier runs
    progress: Callable[[SubtestResult], object] | None = None
    runner: ScriptRunner | None = None  # None: a one-shot guest booted for each round
    console: Path | None = None  # the running guest's console, with `runner`
    retries: int = 0  # failed subtests run again up to this many times (a pass then is flaky)
    fail_on_warning: bool = True  # a kernel WARNING fails the subtest that was running
    deadline: float | None = None  # time.monotonic() by which the whole run must end
    scans_s: float = 0.0  # what a round's kmemleak scans may take besides its subtests (debug kernels)


@dataclass
class _Round:
    """What one guest run gave back."""

    subtests: tuple[str, ...]  # what it was asked to run
    concurrency: int
    results: list[SubtestResult]  # every subtest asked for (decide(): lost where unreported)
    unreported: list[str]  # names asked for that never reported, in batches that did not finish
    running: list[str]  # of those, the ones running when the round ended
    incidents: list[tuple[Incident, tuple[str, ...]]]
    stop: Stop | None
    problems: list[str]
    log: str


def _run_round(request: RunRequest, subtests: tuple[str, ...], concurrency: int, workdir: Path) -> _Round:
    workdir.mkdir(parents=True, exist_ok=True)
    batches = plan_batches(request.suite, subtests, request.durations, concurrency)
    script = workdir / RUNNER_SCRIPT
    payload_dir = request.payload.directory if request.payload is not None else None
    script.write_text(runner_script(request.suite, payload_dir, request.workdir, batches, workdir,
                                    machine_slow=not request.guest.use_kvm))
    slowest = max((len(b.subtests) for b in batches), default=0)
    runner = request.runner or one_shot(request.guest, request.boot_timeout_s, request.workdir)
    console = workdir / "console.log" if request.runner is None else request.console or workdir / "console.log"
    watch = Watch(request.suite, batches, workdir, console, request.progress, request.deadline)
    stop: Stop | None = None
    try:
        exit_ = runner(script, request.suite.timeout_s * slowest + 60 + request.scans_s, watch.tick)
        watch.tick(final=True)
    except Stop as e:
        stop, exit_ = e, guest.GuestExit(None, e.kind is StopKind.TIMEOUT, time.monotonic() - watch.start, console)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: the guest is already gone
        stop = Stop("interrupted", StopKind.INTERRUPTED)
        exit_ = guest.GuestExit(None, False, time.monotonic() - watch.start, console)
    found = _Round(subtests, concurrency, [], [], [], [], stop, [], "")
    if stop is None and exit_.timed_out:
        found.problems.append(f"stopped after {exit_.elapsed_s:.0f} s without finishing (console: {exit_.console_log})")
    pending: dict[int, tuple[str, ...]] = {}  # per unfinished batch, what it did not report
    logs: list[str] = []
    for b in batches:
        log_path, status_path = b.log(workdir), b.status_file(workdir)
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        logs.append(f"==> {log_path} <==\n{log}")
        finished = status_path.exists() and status_path.read_text().strip() != ""
        parsed = parse_test_progs(log)
        decided = decide(request.suite.test, list(b.subtests), list(request.suite.subtests), parsed, finished,
                         nested=request.suite.runner is Runner.KSELFTEST)
        found.results += [dataclasses.replace(r, duration_s=watch.duration(r.name)) for r in decided]
        if not finished:
            pending[b.index] = tuple(n for n in map(request.suite.full_name, b.subtests) if n not in parsed.subtests)
            found.unreported += pending[b.index]
            if stop is None and not exit_.timed_out:
                found.problems.append(f"test_progs ({', '.join(b.subtests) or request.suite.test}) stopped before it "
                                      f"finished (exit {exit_.returncode}; console: {exit_.console_log})")
    found.incidents, timeline = watch.incidents()
    if timeline.batches:
        found.running = list(timeline.unfinished(pending))
    else:  # no marker reached the console (no console captured): what the logs said
        found.running = [n for n in watch.running() if n in found.unreported]
    found.log = "\n".join(logs)
    return found


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
    events: list[str] = field(default_factory=list)
    fruitless: int = 0  # rounds in which no subtest started
    kernel_blamed: set[str] = field(default_factory=set)  # failed by the kernel: a retry would only crash again
    ended: str = ""  # "interrupted" or "the run's deadline passed": the rest is not_run

    def __post_init__(self) -> None:
        self.normal = list(self.request.subtests)
        self.short = {self.request.suite.full_name(s): s for s in self.request.suite.subtests}

    def next_round(self) -> tuple[tuple[str, ...], int]:
        if self.alone:
            return (self.alone.pop(0),), 1
        subtests, self.normal = tuple(self.normal), []
        return subtests, _allowed(self.request.suite, self.request.concurrency)

    def record(self, r: _Round) -> None:
        self.logs.append(r.log)
        self.problems += r.problems
        for result in r.results:
            if result.name not in self.final:
                self.order.append(result.name)
            self.final[result.name] = result
        for incident, who in r.incidents:
            self.events += [event_header(incident.kind, who, incident.excerpt), *incident.excerpt]  # fingerprinted
            if incident.fatal or (incident.kind == "warning" and not self.request.fail_on_warning):
                continue
            for name in who:
                if name in self.final and self.final[name].status is not Status.LOST:
                    self.final[name] = results.blamed(self.final[name], f"kernel {incident.kind} while it ran",
                                                      incident.excerpt)
                    if incident.kind not in TIMING_INCIDENTS:
                        self.kernel_blamed.add(name)

    def end_early(self, why: str, round_no: int, unreported: list[str]) -> None:
        """Interrupted or out of time: what did not report, and what had not run, is not_run."""
        self.problems.append(f"round {round_no}: {why}")
        for name in unreported:
            self.final[name] = results.not_run(name, why)
        for sub in [*self.normal, *self.alone]:
            name = self.request.suite.full_name(sub)
            self.order.append(name)
            self.final[name] = results.not_run(name, why)
        self.normal, self.alone, self.ended = [], [], why

    def after_early_end(self, r: _Round, round_no: int) -> None:
        """The guest stopped before every batch finished: blame, or find out who, and run the rest again."""
        assert r.stop is None or r.stop.kind in (StopKind.TIMEOUT, StopKind.CRASH)
        why = r.stop.why if r.stop else "the guest stopped before test_progs finished"
        self.problems.append(f"round {round_no}: {why}")
        fatal, at_fatal = next(((i, who) for i, who in reversed(r.incidents) if i.fatal), (None, ()))
        running = list(at_fatal) or r.running  # the kernel log's markers say best who ran at a panic
        asked = [self.request.suite.full_name(s) for s in r.subtests]
        started = [n for n in asked if n not in r.unreported or n in running]  # only these used up a try
        for name in started:
            self.tries[name] = self.tries.get(name, 0) + 1
        if len(running) == 1 and (len(r.subtests) == 1 or r.concurrency == 1):  # it ran alone: it did it
            self._blame_alone(running[0], r.stop, why, fatal)
        else:
            self.alone += [self.short[n] for n in running if n in self.short and self.tries.get(n, 0) < ALONE_TRIES]
        if not started:  # the guest got nowhere (it died booting, vng failed): a fresh one may get further
            self.fruitless += 1
            if self.fruitless <= FRUITLESS_ROUNDS:
                self.normal += [self.short[n] for n in r.unreported if n in self.short]
            return
        self.normal += [self.short[n] for n in r.unreported
                        if n not in running and n in self.short and self.tries.get(n, 0) < MAX_TRIES]

    def _blame_alone(self, name: str, stop: Stop | None, why: str, fatal: Incident | None) -> None:
        if stop is not None and stop.kind is StopKind.TIMEOUT:
            self.final[name] = results.timed_out(self.final[name], why)
        elif fatal is not None:
            self.final[name] = results.blamed(self.final[name], f"kernel {fatal.kind}: the guest died", fatal.excerpt)
            self.kernel_blamed.add(name)
        # else: lost (the guest vanished without a word), as decide() said

    def suite_run(self, elapsed_s: float, out_of_time: bool) -> SuiteRun:
        suite = self.request.suite
        rank = {suite.full_name(s): i for i, s in enumerate(suite.subtests)}
        found = [self.final[n] for n in sorted(self.order, key=lambda n: rank.get(n, len(rank)))]
        failed_run = any(r.status is Status.LOST for r in found) or not found or bool(self.ended) or out_of_time
        return SuiteRun(suite=suite.name, kernel=self.request.guest.kernel.identity, subtests=tuple(found),
                        log="\n".join(self.logs), infra_errors=tuple(self.problems) if failed_run else (),
                        elapsed_s=elapsed_s, console_events=tuple(self.events), interrupted=self.ended == "interrupted")


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
            state.end_early("interrupted", round_no, r.unreported)
        elif (r.stop is not None and r.stop.kind is StopKind.DEADLINE) or (out_of_time and (state.normal or state.alone)):
            state.end_early("the run's deadline passed", round_no, r.unreported)
        elif r.stop is not None or r.unreported:
            state.after_early_end(r, round_no)
    out_of_time = request.deadline is not None and time.monotonic() > request.deadline
    if request.retries and not state.ended and not out_of_time:
        _retry_failures(request, state)
    return state.suite_run(time.monotonic() - start, out_of_time)


def _allowed(suite: Suite, concurrency: int) -> int:
    return min(concurrency, suite.max_concurrency) if suite.max_concurrency is not None else concurrency


def _retry_failures(request: RunRequest, state: _Run) -> None:
    """Run failed subtests again; one that passes is flaky, its first failure kept as its output."""
    for attempt in range(1, request.retries + 1):
        failed = [state.short[n] for n, r in state.final.items()
                  if r.status is Status.FAILED and n in state.short and n not in state.kernel_blamed]
        if not failed:
            return
        r = _run_round(request, tuple(failed), _allowed(request.suite, request.concurrency),
                       request.workdir / f"retry-{attempt}")
        state.logs.append(r.log)
        for again in r.results:
            if again.name in state.final and again.status is Status.PASSED:
                state.final[again.name] = results.flaky(state.final[again.name], again, attempt)
