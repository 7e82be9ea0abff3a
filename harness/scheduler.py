"""Where subtests are scheduled: which run where, and turning what came back into results.

Today one guest boots per run and one test_progs invocation runs every selected
subtest of a suite; parallel isolated runs and persistent guests grow here.
"""
from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from pathlib import Path

from harness import guest
from harness.parse.test_progs import parse_test_progs
from harness.results import SuiteRun, decide
from harness.selftests import Payload
from harness.suites import Suite

RUNNER_LOG = "test_progs.log"
RUNNER_STATUS = "test_progs.rc"


@dataclass(frozen=True)
class RunRequest:
    suite: Suite
    subtests: tuple[str, ...]  # names without the suite prefix, in suite order
    payload: Payload
    guest: guest.GuestConfig
    workdir: Path  # shared with the guest: script, logs, exit status
    boot_timeout_s: float


def allow_pattern(suite: Suite, subtests: tuple[str, ...]) -> str:
    """The -a argument: exact names (-t would match substrings: subflow ~ iters_subflow)."""
    if set(subtests) >= set(suite.subtests):
        return suite.test  # the whole test: also runs subtests the suite file lacks
    return ",".join(f"{suite.test}/{s}" for s in subtests)


def guest_script(request: RunRequest) -> str:
    w = request.workdir
    selector = allow_pattern(request.suite, request.subtests)
    return "\n".join([
        "#!/bin/sh",
        "# written by harness.scheduler; runs inside the guest",
        f"cd {shlex.quote(str(request.payload.directory))} || exit 1",
        f"./test_progs -a {shlex.quote(selector)} > {shlex.quote(str(w / RUNNER_LOG))} 2>&1",
        f"echo $? > {shlex.quote(str(w / RUNNER_STATUS))}",
        "sync",
        "",
    ])


def run_suite(request: RunRequest) -> SuiteRun:
    request.workdir.mkdir(parents=True, exist_ok=True)
    script = request.workdir / "run.sh"
    script.write_text(guest_script(request))
    timeout = request.boot_timeout_s + request.suite.timeout_s * len(request.subtests)
    start = time.monotonic()
    exit_ = guest.run_once(request.guest, request.workdir, script, timeout)
    log_path = request.workdir / RUNNER_LOG
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    status_path = request.workdir / RUNNER_STATUS
    finished = status_path.exists() and status_path.read_text().strip() != ""
    problems: list[str] = []
    if exit_.timed_out:
        problems.append(f"guest killed after {timeout:.0f} s without finishing (console: {exit_.console_log})")
    elif not finished:
        problems.append(f"guest stopped before test_progs finished (vng exit {exit_.returncode}; console: {exit_.console_log})")
    parsed = parse_test_progs(log)
    results = decide(request.suite.test, list(request.subtests), list(request.suite.subtests), parsed, finished)
    return SuiteRun(
        suite=request.suite.name,
        kernel=request.guest.kernel.identity,
        subtests=tuple(results),
        log=log,
        infra_errors=tuple(problems),
        elapsed_s=time.monotonic() - start,
    )
