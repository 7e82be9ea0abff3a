"""One run of the selection on one kernel (a commit's build, or a prebuilt one), judged: an Outcome.

What every kind of bisection runs at each step: `bisect` over commits (harness.bisect.tree), over a list of kernels
(harness.bisect.kernels) and the nightly's culprit run a step's repeated runs in one persistent guest (Repeated);
`bisect-step` under `git bisect run` one run in one-shot guests (run_selection).
"""
from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from harness import history, pipeline
from harness.bisect.step import Kind, Verdict, signatures, verdict_of
from harness.cache import file_sha256
from harness.crashes import event_lines
from harness.errors import BuildFailed, InfraError
from harness.results import FAILED_AS_RUN, SuiteRun
from harness.run.select import selections
from harness.settings import Settings, for_command
from harness.suites import Selection


@dataclass(frozen=True)
class Outcome:
    """What one run of the selection on one commit gave."""

    verdict: Verdict
    image_sha256: str = ""  # the kernel image it booted ("" when none was built)
    infra: bool = False  # the machinery failed (guest lost, boot failed), not the kernel's behaviour
    build_s: float = 0.0
    run_s: float = 0.0
    evidence: tuple[str, ...] = ()  # a bad run: the failing subtests' last lines and the kernel's messages
    signatures: dict[str, str] = field(default_factory=dict)  # a bad run: each failing subtest's (step.signature)


EVIDENCE_LINES = 40  # of a failing subtest's output, in the report


def run_step(argv: list[str]) -> Verdict:
    """`bisect-step` under `git bisect run`: the selection on the kernel its options name; progress on stderr (stdout
    is the verdict). A guest that never came up is "cannot tell", never bad (git bisect run's exit 3 would be)."""
    settings, keyword = for_command(argv, "bisect-step")
    try:
        return run_selection(settings, selections(keyword), lambda line: print(f"[harness] {line}", file=sys.stderr,
                                                                              flush=True)).verdict
    except InfraError as e:
        return Verdict(Kind.UNTESTABLE, f"no results: {str(e).splitlines()[0]}")


def run_selection(settings: Settings, selections: list[Selection], say: Callable[[str], object]) -> Outcome:
    """One run of the selection on settings' kernel (a tree, or a prebuilt one): prepare, boot, run, judge."""
    def quiet(line: str) -> None:
        say(f"  {line}")
    ran = pipeline.run(settings, selections, quiet)
    if ran.build_error is not None:
        return Outcome(Verdict(Kind.UNTESTABLE, f"does not build: {_first_error(ran.build_error)}"), build_s=ran.build_s)
    if ran.kernel is None:
        return Outcome(Verdict(Kind.UNTESTABLE, f"not prepared: {_first_error(ran.prepare_error or '')}"), infra=True,
                       build_s=ran.build_s)
    history.keep(settings, ran.runs, "bisect", pipeline.mode_of(settings), say=quiet)
    return judged(ran.runs, file_sha256(ran.kernel.image), ran.build_s, ran.run_s)


class Repeated:
    """run_once(key) for a step's repeated runs: the kernel `settings_for(key)` names (a commit checked out, a kernel of
    a list) prepared once, its runs in one persistent guest; another key closes that guest and prepares its own."""

    def __init__(self, settings_for: Callable[[str], Settings], chosen: list[Selection], say: Callable[[str], object]):
        self.settings_for, self.chosen, self.say = settings_for, chosen, say
        self.key: str | None = None
        self.session: pipeline.Session | None = None
        self.unprepared: Outcome | None = None  # the key's kernel did not build, or could not be prepared
        self.settings: Settings | None = None
        self.image_sha256 = ""  # the key's kernel image, hashed once (every run of the key boots it)
        self.one_shot = False  # the key's kernel gave no persistent guest: its runs boot one-shot guests

    def __call__(self, key: str) -> Outcome:
        build_s = 0.0
        if key != self.key:
            self.close()
            self.key, start = key, time.monotonic()
            self._open(key)
            build_s = time.monotonic() - start
        if self.unprepared is not None:
            return dataclasses.replace(self.unprepared, build_s=build_s)
        assert self.session is not None and self.settings is not None
        start = time.monotonic()
        runs = self._runs(self.session)
        history.keep(self.settings, runs, "bisect", pipeline.mode_of(self.settings), say=self._quiet)
        return judged(runs, self.image_sha256, build_s, time.monotonic() - start)

    def _runs(self, session: pipeline.Session) -> list[SuiteRun]:
        """One run of the selection: in the persistent guest; when that guest cannot come up (a kernel that panics at
        boot), in one-shot guests, as run_selection would, whose results say what the console showed."""
        if not self.one_shot:
            try:
                return [session.run_in_guest(sel.suite, sub) for sel in self.chosen for sub in sel.subtests]
            except InfraError as e:
                self.say(f"  no persistent guest ({str(e).splitlines()[0]}): one-shot guests for this kernel")
                self.one_shot = True
        return [session.run(sel) for sel in self.chosen]

    def _quiet(self, line: str) -> None:
        self.say(f"  {line}")

    def _open(self, key: str) -> None:
        settings = self.settings = dataclasses.replace(self.settings_for(key), persistent_guest=True)
        try:
            prepared = pipeline.prepare(pipeline.PrepareRequest.of(settings), [s.suite for s in self.chosen], self._quiet)
        except BuildFailed as e:
            self.unprepared = Outcome(Verdict(Kind.UNTESTABLE, f"does not build: {_first_error(str(e))}"))
            return
        except InfraError as e:
            self.unprepared = Outcome(Verdict(Kind.UNTESTABLE, f"not prepared: {_first_error(str(e))}"), infra=True)
            return
        self.session = pipeline.Session(settings, prepared, self._quiet, progress=lambda line: None)
        self.image_sha256 = file_sha256(self.session.prepared.kernel.image)

    def close(self) -> None:
        if self.session is not None:
            self.session.close()
        self.key, self.session, self.unprepared, self.one_shot = None, None, None, False

    def __enter__(self) -> Repeated:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def judged(runs: list[SuiteRun], image_sha256: str, build_s: float, run_s: float) -> Outcome:
    """One run's Outcome: its verdict, and when bad its evidence and the failures' signatures."""
    verdict = verdict_of([r for run in runs for r in run.subtests])
    infra = any(run.infra_errors for run in runs) and verdict.kind is Kind.UNTESTABLE
    bad = verdict.kind is Kind.BAD
    return Outcome(verdict, image_sha256, infra, round(build_s, 1), round(run_s, 1), evidence(runs) if bad else (),
                   signatures([r for run in runs for r in run.subtests]) if bad else {})


def evidence(runs: list[SuiteRun]) -> tuple[str, ...]:
    """What a bad run showed: each failing subtest's last lines, then the kernel's messages."""
    lines: list[str] = []
    for run in runs:
        for r in run.subtests:
            if r.in_suite and r.status in FAILED_AS_RUN:  # as step.verdict judges a run bad
                lines += [f"{r.name} {r.status.value}: {r.reason}".rstrip(": "), *r.output[-EVIDENCE_LINES:]]
        lines += [f"kernel: {line}" for line in event_lines(run.incidents)]
    return tuple(lines)


def _first_error(message: str) -> str:
    """A build failure in a few words: its first compiler error when it shows one ("file:line:col: error: ...")."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip()]
    error = next((ln for ln in lines if " error: " in ln or ln.startswith("error: ")), "")
    return f"{lines[0]} {error.rsplit('/', 1)[-1]}".strip() if lines else "no message"
