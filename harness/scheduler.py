"""Where subtests are scheduled: which run together, side by side, in which guest; and what came back.

A suite's selected subtests are split into at most `concurrency` batches, longest first by
the durations recorded in earlier runs (equal guesses on a first run). Each batch is one
test_progs invocation (start-up, ~1.4 s under TCG, is paid once per batch), isolated from
the others (harness.isolation), all started at once in one guest. Results come back as
files in the directory shared with the guest and are read while the guest runs, so each
subtest is reported as soon as test_progs prints it.
"""
from __future__ import annotations

import dataclasses
import json
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import guest
from harness.channel import Channel
from harness.isolation import isolated
from harness.parse.test_progs import parse_test_progs
from harness.results import Status, SubtestResult, SuiteRun, decide
from harness.selftests import Payload
from harness.suites import Suite

RUNNER_SCRIPT = "run.sh"


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


def one_shot(config: guest.GuestConfig, boot_timeout_s: float) -> ScriptRunner:
    def run(script: Path, timeout_s: float, on_tick: Callable[[], object]) -> guest.GuestExit:
        return guest.run_once(config, script.parent, script, boot_timeout_s + timeout_s, on_tick)
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
    payload: Payload
    guest: guest.GuestConfig
    workdir: Path  # shared with the guest: script, logs, exit status
    boot_timeout_s: float
    concurrency: int = 1
    durations: dict[str, float] = dataclasses.field(default_factory=dict)  # subtest -> seconds, earlier runs
    progress: Callable[[SubtestResult], object] | None = None
    runner: ScriptRunner | None = None  # None: a one-shot guest booted for this run


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


def runner_script(request: RunRequest, batches: list[Batch]) -> str:
    w = request.workdir
    lines = [
        "#!/bin/bash",
        "# written by harness.scheduler; runs inside the guest",
        f"cd {shlex.quote(str(request.payload.directory))} || exit 1",
    ]
    for b in batches:
        command = isolated(progs_argv(request.suite, b, batches), str(w / f"scratch-{b.index}"))
        log, rc = shlex.quote(str(b.log(w))), shlex.quote(str(b.status_file(w)))
        lines.append(f"{{ {command} > {log} 2>&1; echo $? > {rc}; }} &")
    lines += ["wait", "sync", ""]
    return "\n".join(lines)


class _Watch:
    """Reads the batches' logs while the guest runs: reports each result once, times it."""

    def __init__(self, request: RunRequest, batches: list[Batch]) -> None:
        self.request, self.batches = request, batches
        self.start = time.monotonic()
        self.seen_at: dict[str, float] = {}  # subtest name -> when its result line was first seen
        self.durations: dict[str, float] = {}
        self.batch_start: dict[int, float] = {}  # when its log appeared: the guest is up, test_progs starting

    def tick(self) -> None:
        now = time.monotonic()
        for b in self.batches:
            path = b.log(self.request.workdir)
            if not path.exists():
                continue
            started = self.batch_start.setdefault(b.index, now)
            parsed = parse_test_progs(path.read_text(errors="replace"))
            new = [n for n in sorted(parsed.subtests, key=lambda n: parsed.subtests[n].line_no) if n not in self.seen_at]
            if not new:
                continue
            previous = max((self.seen_at[n] for n in parsed.subtests if n in self.seen_at), default=started)
            for name in new:  # several at once: the time since the last one is shared out
                self.seen_at[name] = now
                self.durations[name] = (now - previous) / len(new)
            if self.request.progress is not None:
                for r in decide(self.request.suite.test, [], [], parsed, False):
                    if r.name in new:
                        self.request.progress(dataclasses.replace(r, duration_s=_rounded(self.durations[r.name])))


def run_suite(request: RunRequest) -> SuiteRun:
    request.workdir.mkdir(parents=True, exist_ok=True)
    batches = plan_batches(request.suite, request.subtests, request.durations, request.concurrency)
    script = request.workdir / RUNNER_SCRIPT
    script.write_text(runner_script(request, batches))
    slowest = max((len(b.subtests) for b in batches), default=0)
    timeout = request.suite.timeout_s * slowest
    watch = _Watch(request, batches)
    runner = request.runner or one_shot(request.guest, request.boot_timeout_s)
    exit_ = runner(script, timeout, watch.tick)
    watch.tick()
    results: list[SubtestResult] = []
    problems: list[str] = []
    logs: list[str] = []
    if exit_.timed_out:
        problems.append(f"stopped after {exit_.elapsed_s:.0f} s without finishing (console: {exit_.console_log})")
    for b in batches:
        log_path, status_path = b.log(request.workdir), b.status_file(request.workdir)
        log = log_path.read_text(errors="replace") if log_path.exists() else ""
        logs.append(f"==> {log_path.name} <==\n{log}")
        finished = status_path.exists() and status_path.read_text().strip() != ""
        if not finished and not exit_.timed_out:
            names = ", ".join(b.subtests) or request.suite.test
            problems.append(
                f"test_progs ({names}) stopped before it finished (vng exit {exit_.returncode}; console: {exit_.console_log})"
            )
        found = decide(request.suite.test, list(b.subtests), list(request.suite.subtests), parse_test_progs(log), finished)
        results += [dataclasses.replace(r, duration_s=_rounded(watch.durations.get(r.name))) for r in found]
    order = {f"{request.suite.test}/{s}": i for i, s in enumerate(request.suite.subtests)}
    results.sort(key=lambda r: order.get(r.name, len(order)))
    return SuiteRun(
        suite=request.suite.name,
        kernel=request.guest.kernel.identity,
        subtests=tuple(results),
        log="\n".join(logs),
        infra_errors=tuple(problems),
        elapsed_s=time.monotonic() - watch.start,
    )


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
