"""Where subtests are scheduled: which run together, side by side, in which guest; and what came back.

A suite's selected subtests are split into at most `concurrency` batches, longest first by
the durations recorded in earlier runs (equal guesses on a first run). Each batch is one
test_progs invocation (start-up, ~1.4 s under TCG, is paid once per batch), isolated from
the others (harness.isolation), all started at once in one guest. Results come back as
files in the directory shared with the guest and are read while the guest runs, so each
subtest is reported as soon as test_progs prints it. Kernel incidents on the console are
attributed through markers in the kernel log (harness.markers).
"""
from __future__ import annotations

import dataclasses
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import guest, markers
from harness.channel import Channel
from harness.isolation import isolated
from harness.parse.console import ConsoleEvent, Incident, find_incidents, separate
from harness.parse.test_progs import parse_test_progs
from harness.results import Status, SubtestResult, SuiteRun, decide
from harness.selftests import Payload
from harness.suites import Suite

RUNNER_SCRIPT = "run.sh"
PANIC_GRACE_S = 15.0  # after a panic, time for the guest to power off before it is killed
FRUITLESS_ROUNDS = 2  # rounds again after one in which nothing started, before the rest is lost
# A starved vCPU (an emulated guest on a busy host) shows these without any kernel bug: a
# subtest failed by one is retried like any failure, and a pass then reads as flaky.
TIMING_INCIDENTS = frozenset({"rcu stall", "soft lockup", "hung task"})


@dataclass(frozen=True)
class Batch:
    index: int
    subtests: tuple[str, ...]  # names without the test prefix, in suite order
    runs_rest: bool = False  # also runs what the build has beyond the suite file

    def log(self, workdir: Path) -> Path:
        return workdir / f"batch-{self.index}.log"

    def status_file(self, workdir: Path) -> Path:
        return workdir / f"batch-{self.index}.rc"


# Runs one script in a guest, calling on_tick while it waits: a one-shot guest, or a command on a running one.
ScriptRunner = Callable[[Path, float, Callable[[], object]], guest.GuestExit]


def one_shot(config: guest.GuestConfig, boot_timeout_s: float, shared_dir: Path) -> ScriptRunner:
    def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
        return guest.run_once(config, shared_dir, script, boot_timeout_s + timeout_s, on_tick)
    return run


def on_running_guest(running: guest.PersistentGuest, channel: Channel) -> ScriptRunner:
    def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
        done = channel.run(f"sh {shlex.quote(str(script))}", timeout_s, on_tick)
        return guest.GuestExit(done.exit_status, done.timed_out, done.elapsed_s, running.console)
    return run


@dataclass(frozen=True)
class RunRequest:
    suite: Suite
    subtests: tuple[str, ...]  # names without the suite prefix, in suite order
    payload: Payload | None  # None: a suite of shell commands only
    guest: guest.GuestConfig
    workdir: Path  # shared with the guest: script, logs, exit status
    boot_timeout_s: float
    concurrency: int = 1
    durations: dict[str, float] = dataclasses.field(default_factory=dict)  # subtest -> seconds, earlier runs
    progress: Callable[[SubtestResult], object] | None = None
    runner: ScriptRunner | None = None  # None: a one-shot guest booted for each round
    console: Path | None = None  # the running guest's console, with `runner`
    retries: int = 0  # failed subtests run again up to this many times (a pass then is flaky)
    fail_on_warning: bool = True  # a kernel WARNING fails the subtest that was running
    deadline: float | None = None  # time.monotonic() by which the whole run must end


def plan_batches(suite: Suite, subtests: tuple[str, ...], durations: dict[str, float], concurrency: int) -> list[Batch]:
    """Longest-processing-time-first: each subtest, longest first, goes to the lightest batch."""
    if not subtests:
        return []
    known = [durations[s] for s in subtests if s in durations]
    guess = sum(known) / len(known) if known else 1.0
    loads = [0.0] * max(1, min(concurrency, len(subtests)))
    members: list[set[str]] = [set() for _ in loads]
    for sub in sorted(subtests, key=lambda s: -durations.get(s, guess)):  # stable: suite order on ties
        lightest = loads.index(min(loads))
        loads[lightest] += durations.get(sub, guess)
        members[lightest].add(sub)
    whole_suite = set(subtests) >= set(suite.subtests)
    rest = loads.index(min(loads)) if whole_suite else -1
    return [Batch(i, tuple(s for s in subtests if s in m), runs_rest=i == rest) for i, m in enumerate(members)]


def progs_argv(suite: Suite, batch: Batch, batches: list[Batch]) -> list[str]:
    """-a takes exact names (-t would match substrings: subflow ~ iters_subflow); -v prints each result as it ends."""
    argv = ["stdbuf", "-oL", "./test_progs", "-v"]
    if batch.runs_rest:
        others = [f"{suite.test}/{s}" for b in batches if b is not batch for s in b.subtests]
        return argv + ["-a", suite.test] + (["-b", ",".join(others)] if others else [])
    return argv + ["-a", ",".join(f"{suite.test}/{s}" for s in batch.subtests)]


def shell_batch(suite: Suite, batch: Batch, shared: Path, kmsg: str = markers.KMSG) -> str:
    """A batch of runner "shell" subtests, printing test_progs' result format (one parser reads both).

    Each result is marked in the kernel log before it is printed (harness.markers).
    """
    lines = ["n=0; ok=0; skip=0; fail=0", f"export HARNESS_SHARED={shlex.quote(str(shared))}"]
    for sub in batch.subtests:
        lines += [
            f"sh -c {shlex.quote(suite.commands[sub])}; rc=$?; n=$((n + 1))",
            'if [ $rc -eq 0 ]; then r=OK; ok=$((ok + 1)); elif [ $rc -eq 4 ]; then r=SKIP; skip=$((skip + 1)); '
            'else r=FAIL; fail=$((fail + 1)); fi',
            markers.kmsg_line(batch.index, f"done #1/$n {suite.full_name(sub)}:$r", kmsg),
            f'echo "#1/$n {suite.full_name(sub)}:$r"',
        ]
    lines += [
        f'if [ $fail -eq 0 ]; then echo "#1 {suite.test}:OK"; else echo "#1 {suite.test}:FAIL"; fi',
        'echo "Summary: 1/$ok PASSED, $skip SKIPPED, 0/$fail FAILED"',
        "[ $fail -eq 0 ]",
        "",
    ]
    return "\n".join(lines)


def runner_script(request: RunRequest, batches: list[Batch], workdir: Path) -> str:
    lines = ["#!/bin/bash", "# written by harness.scheduler; runs inside the guest"]
    if request.payload is not None:
        lines.append(f"cd {shlex.quote(str(request.payload.directory))} || exit 1")
    for b in batches:
        if request.suite.runner == "shell":
            argv = ["sh", "-c", shell_batch(request.suite, b, request.workdir)]
        else:
            argv = progs_argv(request.suite, b, batches)
        # alone in the guest, a batch needs no isolation (and saves its set-up time under TCG)
        command = isolated(argv, str(workdir / f"scratch-{b.index}")) if len(batches) > 1 else shlex.join(argv)
        log, rc = shlex.quote(str(b.log(workdir))), shlex.quote(str(b.status_file(workdir)))
        if request.suite.runner == "shell":  # it marks its results itself
            run = f"{{ {command} > {log} 2>&1; echo $? > {rc}; }}"
        else:
            run = f"{{ {command} 2>&1; echo $? > {rc}; }} | {{ {markers.result_filter(b.index)}; }} > {log}"
        start, end = markers.kmsg_line(b.index, "start"), markers.kmsg_line(b.index, "end")
        lines.append(f"{{ {start}; {run}; {end}; }} &")
    lines += ["wait", "sync", ""]
    return "\n".join(lines)


class _Stop(Exception):
    """Raised from the watch to end a round early: the guest is killed (a timeout, a panic)."""

    def __init__(self, why: str, kind: str) -> None:
        super().__init__(why)
        self.why, self.kind = why, kind  # kind: "timeout" | "crash" | "interrupted"


class _Watch:
    """Reads the batches' logs and the guest console while the guest runs.

    Reports each result once and times it; notes kernel incidents together with the
    subtests running when they appeared; stops the round when a subtest runs past its
    timeout or the kernel panics.
    """

    def __init__(self, request: RunRequest, batches: list[Batch], workdir: Path, console: Path) -> None:
        self.request, self.batches, self.workdir, self.console = request, batches, workdir, console
        self.start = time.monotonic()
        self.seen_at: dict[str, float] = {}  # subtest name -> when its result line was first seen
        self.durations: dict[str, float] = {}
        self.batch_start: dict[int, float] = {}  # when its log appeared: the guest is up, test_progs starting
        self.reported: dict[int, set[str]] = {}
        # a persistent guest's console holds earlier runs: read only what comes from now on
        self.console_offset = console.stat().st_size if console.exists() else 0
        self.console_text = ""
        self.panic_seen_at: float | None = None

    def running(self) -> list[str]:
        """Per unfinished batch, its first subtest without a result (test_progs runs them in suite order)."""
        names = []
        for b in self.batches:
            if b.status_file(self.workdir).exists():
                continue
            done = self.reported.get(b.index, set())
            pending = [s for s in b.subtests if self.request.suite.full_name(s) not in done]
            if pending and b.index in self.batch_start:
                names.append(self.request.suite.full_name(pending[0]))
        return names

    def tick(self, final: bool = False) -> None:
        """Read what came; unless `final` (the guest has exited), stop the round when it must end."""
        now = time.monotonic()
        for b in self.batches:
            path = b.log(self.workdir)
            if not path.exists():
                continue
            started = self.batch_start.setdefault(b.index, now)
            parsed = parse_test_progs(path.read_text(errors="replace"))
            self.reported[b.index] = set(parsed.subtests)
            new = [n for n in sorted(parsed.subtests, key=lambda n: parsed.subtests[n].line_no) if n not in self.seen_at]
            previous = max((self.seen_at[n] for n in parsed.subtests if n in self.seen_at), default=started)
            for name in new:  # several at once: the time since the last one is shared out
                self.seen_at[name] = now
                self.durations[name] = (now - previous) / len(new)
            if new and self.request.progress is not None:
                for r in decide(self.request.suite.test, [], [], parsed, False):
                    if r.name in new:
                        self.request.progress(dataclasses.replace(r, duration_s=_rounded(self.durations[r.name])))
            last = max((self.seen_at[n] for n in parsed.subtests), default=started)
            if not final and not b.status_file(self.workdir).exists() and now - last > self.request.suite.timeout_s:
                late = [n for n in self.running() if n in {self.request.suite.full_name(s) for s in b.subtests}]
                raise _Stop(f"{', '.join(late) or 'batch ' + str(b.index)}: no result within "
                            f"{self.request.suite.timeout_s:.0f} s", "timeout")
        self._read_console()
        if final:
            return
        if self.panic_seen_at is not None and time.monotonic() - self.panic_seen_at > PANIC_GRACE_S:
            raise _Stop("kernel panic", "crash")  # a panicked guest normally powers off by itself
        if self.request.deadline is not None and now > self.request.deadline:
            raise _Stop("the run's deadline passed", "deadline")

    def _read_console(self) -> None:
        try:
            with open(self.console, "rb") as f:
                f.seek(self.console_offset)
                chunk = f.read()
        except OSError:
            return
        complete = chunk.rfind(b"\n") + 1  # whole lines only; the rest next time
        self.console_offset += complete
        new = chunk[:complete].decode(errors="replace")
        self.console_text += new
        # a panic is one line: the new lines are enough (this runs on every tick)
        if self.panic_seen_at is None and any(i.fatal for i in _incidents(separate(new)[1])):
            self.panic_seen_at = time.monotonic()

    def incidents(self) -> tuple[list[tuple[Incident, tuple[str, ...]]], markers.Timeline]:
        """Every incident with its whole trace and the subtests running where it sits in the kernel log; the markers."""
        self._read_console()
        events = separate(self.console_text)[1]
        timeline = markers.Timeline.from_console(events)
        planned = {b.index: tuple(self.request.suite.full_name(s) for s in b.subtests) for b in self.batches}
        return [(i, timeline.running_at(i.line_no, planned)) for i in _incidents(events)], timeline


def _incidents(events: list[ConsoleEvent]) -> list[Incident]:
    return find_incidents([e for e in events if not markers.is_marker(e)])


@dataclass
class _Round:
    """What one guest run gave back."""

    results: list[SubtestResult]  # every subtest asked for (decide(): lost where unreported)
    unreported: list[str]  # names asked for that never reported, in batches that did not finish
    running: list[str]  # of those, the ones running when the round ended
    incidents: list[tuple[Incident, tuple[str, ...]]]
    stop: _Stop | None
    problems: list[str]
    log: str
    durations: dict[str, float]


def _run_round(request: RunRequest, subtests: tuple[str, ...], concurrency: int, workdir: Path) -> _Round:
    workdir.mkdir(parents=True, exist_ok=True)
    batches = plan_batches(request.suite, subtests, request.durations, concurrency)
    script = workdir / RUNNER_SCRIPT
    script.write_text(runner_script(request, batches, workdir))
    slowest = max((len(b.subtests) for b in batches), default=0)
    runner = request.runner or one_shot(request.guest, request.boot_timeout_s, request.workdir)
    console = workdir / "console.log" if request.runner is None else request.console or workdir / "console.log"
    watch = _Watch(request, batches, workdir, console)
    stop: _Stop | None = None
    try:
        exit_ = runner(script, request.suite.timeout_s * slowest + 60, watch.tick)
        watch.tick(final=True)
    except _Stop as e:
        stop, exit_ = e, guest.GuestExit(None, e.kind == "timeout", time.monotonic() - watch.start, console)
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM turned into one: the guest is already gone
        stop = _Stop("interrupted", "interrupted")
        exit_ = guest.GuestExit(None, False, time.monotonic() - watch.start, console)
    problems: list[str] = []
    if stop is None and exit_.timed_out:
        problems.append(f"stopped after {exit_.elapsed_s:.0f} s without finishing (console: {exit_.console_log})")
    results: list[SubtestResult] = []
    unreported: list[str] = []
    pending: dict[int, tuple[str, ...]] = {}  # per unfinished batch, what it did not report
    logs: list[str] = []
    for b in batches:
        log_path, status_path = b.log(workdir), b.status_file(workdir)
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        logs.append(f"==> {log_path} <==\n{log}")
        finished = status_path.exists() and status_path.read_text().strip() != ""
        parsed = parse_test_progs(log)
        found = decide(request.suite.test, list(b.subtests), list(request.suite.subtests), parsed, finished)
        results += [dataclasses.replace(r, duration_s=_rounded(watch.durations.get(r.name))) for r in found]
        if not finished:
            pending[b.index] = tuple(n for n in map(request.suite.full_name, b.subtests) if n not in parsed.subtests)
            unreported += pending[b.index]
            if stop is None and not exit_.timed_out:
                problems.append(f"test_progs ({', '.join(b.subtests) or request.suite.test}) stopped before it finished "
                                f"(exit {exit_.returncode}; console: {exit_.console_log})")
    incidents, timeline = watch.incidents()
    if timeline.batches:
        running = list(timeline.unfinished(pending))
    else:  # no marker reached the console (no console captured): what the logs said
        running = [n for n in watch.running() if n in unreported]
    return _Round(results, unreported, running, incidents, stop, problems, "\n".join(logs), watch.durations)


def run_suite(request: RunRequest) -> SuiteRun:
    """Run the subtests, surviving what the kernel does to the guest.

    A round runs the pending subtests in one guest. If it ends early (a panic, a subtest
    past its timeout, the guest gone), a subtest that was running alone gets the blame;
    when several were running side by side, each is run again alone to find which one
    did it; the ones that had not started run in the next round on a fresh guest.
    Failures are retried `request.retries` times: a pass on retry is flaky.
    """
    start = time.monotonic()
    request.workdir.mkdir(parents=True, exist_ok=True)
    final: dict[str, SubtestResult] = {}
    order: list[str] = []
    normal: list[str] = list(request.subtests)
    alone: list[str] = []  # suspects of a crash, each run in a guest of its own
    tries: dict[str, int] = {}  # full name -> rounds in which it started
    problems: list[str] = []
    logs: list[str] = []
    events: list[str] = []
    round_no = 0
    interrupted = False
    fruitless = 0  # rounds in which no subtest started
    kernel_blamed: set[str] = set()  # failed by what the kernel printed: a retry would only crash again
    out_of_time = False
    short = {request.suite.full_name(s): s for s in request.suite.subtests}
    while normal or alone:
        round_no += 1
        subtests: tuple[str, ...]
        if alone:
            subtests, concurrency = (alone.pop(0),), 1
        else:
            subtests, concurrency = tuple(normal), request.concurrency
            normal = []
        concurrency = _allowed(request.suite, concurrency)
        r = _run_round(request, subtests, concurrency, request.workdir / f"round-{round_no}")
        logs.append(r.log)
        problems += r.problems
        for result in r.results:
            if result.name not in final:
                order.append(result.name)
            final[result.name] = result
        for incident, who in r.incidents:
            events += [f"{incident.kind} (running: {', '.join(who) or 'nothing of ours'}):", *incident.excerpt]
            if incident.fatal or (incident.kind == "warning" and not request.fail_on_warning):
                continue
            for name in who:
                if name in final and final[name].status is not Status.LOST:
                    final[name] = _blamed(final[name], f"kernel {incident.kind} while it ran", incident.excerpt)
                    if incident.kind not in TIMING_INCIDENTS:
                        kernel_blamed.add(name)
        out_of_time = request.deadline is not None and time.monotonic() > request.deadline
        if (r.stop is not None and r.stop.kind in ("interrupted", "deadline")) or (out_of_time and (normal or alone)):
            why = "interrupted" if r.stop is not None and r.stop.kind == "interrupted" else "the run's deadline passed"
            problems.append(f"round {round_no}: {why}")
            for name in r.unreported:
                final[name] = dataclasses.replace(final[name], status=Status.NOT_RUN, reason=why)
            for sub in [*normal, *alone]:
                name = request.suite.full_name(sub)
                order.append(name)
                final[name] = SubtestResult(name, Status.NOT_RUN, reason=why)
            interrupted = why == "interrupted"
            out_of_time = True
            break
        if r.stop is None and not r.unreported:
            continue
        why = r.stop.why if r.stop else "the guest stopped before test_progs finished"
        problems.append(f"round {round_no}: {why}")
        fatal, at_fatal = next(((i, who) for i, who in reversed(r.incidents) if i.fatal), (None, ()))
        running = list(at_fatal) or r.running  # the kernel log's markers say best who ran at a panic
        asked = [request.suite.full_name(s) for s in subtests]
        started = [n for n in asked if n not in r.unreported or n in running]  # only these used up a try
        for name in started:
            tries[name] = tries.get(name, 0) + 1
        if len(running) == 1 and (len(subtests) == 1 or concurrency == 1):  # it ran alone: it did it
            name = running[0]
            if r.stop is not None and r.stop.kind == "timeout":
                final[name] = dataclasses.replace(final[name], status=Status.TIMEOUT, reason=why)
            elif fatal is not None:
                final[name] = _blamed(final[name], f"kernel {fatal.kind}: the guest died", fatal.excerpt)
                kernel_blamed.add(name)
            # else: lost (the guest vanished without a word), as decide() said
            suspects: list[str] = []
        else:
            suspects = running
        for name in suspects:
            if name in short and tries.get(name, 0) < 2:
                alone.append(short[name])
        if not started:  # the guest got nowhere (it died booting, vng failed): a fresh one may get further
            fruitless += 1
            if fruitless <= FRUITLESS_ROUNDS:
                normal += [short[n] for n in r.unreported if n in short]
            continue
        for name in r.unreported:
            if name not in running and name in short and tries.get(name, 0) < 3:
                normal.append(short[name])
    if request.retries and not interrupted and not out_of_time:
        _retry_failures(request, final, logs, kernel_blamed)
    results = [final[n] for n in _suite_order(request.suite, order)]
    return SuiteRun(
        suite=request.suite.name,
        kernel=request.guest.kernel.identity,
        subtests=tuple(results),
        log="\n".join(logs),
        infra_errors=tuple(problems) if any(r.status is Status.LOST for r in results) or not results
        or interrupted or out_of_time else (),
        elapsed_s=time.monotonic() - start,
        console_events=tuple(events),
        interrupted=interrupted,
    )


def _blamed(result: SubtestResult, reason: str, excerpt: tuple[str, ...]) -> SubtestResult:
    return dataclasses.replace(result, status=Status.FAILED, reason=reason, output=(*result.output, *excerpt))


def _allowed(suite: Suite, concurrency: int) -> int:
    return min(concurrency, suite.max_concurrency) if suite.max_concurrency is not None else concurrency


def _retry_failures(request: RunRequest, final: dict[str, SubtestResult], logs: list[str], kernel_blamed: set[str]) -> None:
    """Run failed subtests again; one that passes is flaky, its first failure kept as its output."""
    short = {request.suite.full_name(s): s for s in request.suite.subtests}
    for attempt in range(1, request.retries + 1):
        failed = [short[n] for n, r in final.items() if r.status is Status.FAILED and n in short and n not in kernel_blamed]
        if not failed:
            return
        r = _run_round(request, tuple(failed), _allowed(request.suite, request.concurrency), request.workdir / f"retry-{attempt}")
        logs.append(r.log)
        for again in r.results:
            if again.name in final and again.status is Status.PASSED:
                first = final[again.name]
                final[again.name] = dataclasses.replace(
                    first, status=Status.FLAKY, reason=f"failed, then passed on retry {attempt}",
                    duration_s=again.duration_s,
                )


def _suite_order(suite: Suite, names: list[str]) -> list[str]:
    rank = {suite.full_name(s): i for i, s in enumerate(suite.subtests)}
    return sorted(names, key=lambda n: rank.get(n, len(rank)))


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 1)


def load_durations(cache_dir: Path, suite: Suite) -> dict[str, float]:
    try:
        known = json.loads((cache_dir / "durations.json").read_text())
        return {str(k): float(v) for k, v in known.get(suite.name, {}).items()}
    except (OSError, ValueError, AttributeError):
        return {}


def record_durations(cache_dir: Path, suite: Suite, run: SuiteRun) -> None:
    """Keep how long each subtest took (passed or failed), for the next run's plan."""
    path = cache_dir / "durations.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    mine = known.setdefault(suite.name, {})
    prefix = f"{suite.test}/"
    for r in run.subtests:
        if r.duration_s is not None and r.status in (Status.PASSED, Status.FAILED, Status.FLAKY):
            mine[r.name.removeprefix(prefix)] = r.duration_s
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
    tmp.replace(path)
