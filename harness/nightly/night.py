"""The nightly job: fetch a tree (or take a given kernel), build each mode, run every suite, keep every artifact,
apply the expectations, compare with the night before (harness.nightly.summary), and say first what changed.

    python -m harness nightly --out NIGHTS_DIR --git URL [--branch B] [--modes normal,debug] [-k EXPR]
                              [--expectations F] [--shard i/n] [--kcidb FILE]  (--expectations, --shard: harness options)

NIGHTS_DIR/<date>-<commit>/ holds summary.txt and summary.json, and per mode: results.ktap,
results.json, junit.xml, tests/<subtest>.txt (each test's own output), logs/<suite>/ (every
guest's console and the runner's output), kernel.config, kernel.json (identity, release,
times) and build.log. Exit: 0 nothing unexpected, 1 unexpected failures or crashes, 3 infrastructure.
"""
from __future__ import annotations

import dataclasses
import datetime
import json
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import night_summary, pipeline
from harness.cache import write_atomic
from harness.errors import BadInput, InfraError
from harness.expectations import Expectations
from harness.history import History, from_runs
from harness.host import versions
from harness.kernel import Kernel, config_file, git
from harness.night_summary import Finding, ModeNight, NightSummary
from harness.nightly import culprit, quarantine, summary
from harness.payload.selftests_bpf import llvm_bin
from harness.report import write_reports
from harness.report.flakes import night_outcomes
from harness.results import BY_THE_KERNEL, FAILING, Status
from harness.run import shard
from harness.settings import Settings
from harness.suites import Selection, narrowed

Say = Callable[[str], None]


@dataclass(frozen=True)
class Night:
    out: Path  # NIGHTS_DIR
    settings: Settings  # the harness options; kernel_tree set once --git is fetched
    selections: tuple[Selection, ...]
    modes: tuple[str, ...]
    git: str | None = None
    branch: str | None = None
    kcidb: Path | None = None
    notify: str | None = None  # a shell command given summary.txt on its stdin when the night has something new
    bisect: str = "auto"  # --bisect auto|off: new failures of a night built from git are bisected (harness.nightly.culprit)
    bisect_budget_s: float = culprit.BUDGET_S
    kernels: tuple[str, ...] = ()  # --kernels: Debian kernels, oldest first, a column each (then `modes` are them)
    selftests_git: str | None = None  # --selftests-git: the kselftests' tree, fetched like --git
    selftests_branch: str | None = None


def fetch(url: str, branch: str | None, cache_dir: Path, say: Say) -> tuple[Path, str]:
    """The branch's newest commit, checked out in the harness's own clone of url (one per URL): (tree, commit)."""
    start = time.monotonic()
    clone, commit = git.fetch(url, branch, cache_dir)
    say(f"fetched {url} {branch or 'HEAD'}: {commit[:12]} in {time.monotonic() - start:.0f} s ({clone})")
    return clone, commit


def night_dir(out: Path, label: str) -> Path:
    """NIGHTS_DIR/<date>-<label> (a short commit, or the kernel's name), -2, -3 ... when that night already ran: made
    here, by mkdir, which only one of two nightlies started at once into the same NIGHTS_DIR can win for a name."""
    base = f"{datetime.date.today().isoformat()}-{label.replace('/', '_')}"
    out.mkdir(parents=True, exist_ok=True)
    for n in range(1, 10_000):
        here = out / (base if n == 1 else f"{base}-{n}")
        try:
            here.mkdir()
            return here
        except FileExistsError:
            continue
    raise InfraError(f"{out} holds 10,000 nights named {base}: clean it up")


def shard_of(night: Night) -> tuple[Selection, ...]:
    """--shard i/n: this job's part of the selection, as `pytest --shard` splits it."""
    if night.settings.shard is None:
        return night.selections
    mine = shard.part_of([(sel.suite, s) for sel in night.selections for s in sel.subtests], *night.settings.shard)
    return narrowed(night.selections, mine)


def run_mode(night: Night, settings: Settings, mode: str, where: Path, say: Say,
             expected: pipeline.Expected | None = None) -> ModeNight:
    """One mode: build (or fetch) its kernel, run the selection, write its artifacts into `where`."""
    ran = pipeline.run(settings, shard_of(night), say, logs_dir=where / "logs", expected=expected)
    m = ModeNight(mode, runs=ran.runs, build_s=ran.build_s, suites_s=ran.suites_s, built=ran.build_error is None,
                          coverage=ran.coverage)
    if ran.kernel is None:
        m.infra = [f"the kernel or test_progs did not build: {ran.build_error}" if ran.build_error else
                   f"no kernel to run: {ran.prepare_error}"]
        return m
    m.kernel = ran.kernel.identity
    m.infra += [e for run in m.runs for e in run.infra_errors]
    write_mode(where, m, ran.kernel)
    return m


def write_mode(where: Path, m: ModeNight, kernel: Kernel) -> None:
    write_reports(where, m.runs, m.coverage)
    tests = where / "tests"
    tests.mkdir(exist_ok=True)
    for run in m.runs:
        for r in run.subtests:
            write_atomic(tests / f"{r.name.replace('/', '__')}.txt",
                         f"{r.name}: {r.status.value}{f' ({r.reason})' if r.reason else ''}\n" + "\n".join(r.output) + "\n")
    if (config := config_file(kernel)) is not None:
        shutil.copyfile(config, where / "kernel.config")
    if kernel.build_dir and (kernel.build_dir / "build.log").is_file():
        shutil.copyfile(kernel.build_dir / "build.log", where / "build.log")
    write_atomic(where / "kernel.json", json.dumps({
        "identity": kernel.identity, "release": kernel.release, "image": str(kernel.image),
        "build_s": round(m.build_s, 1), "suites_s": m.suites_s}, indent=1) + "\n")


def checkout(night: Night, say: Say) -> tuple[Settings, str, str]:
    """What the night is of: the settings with the tree fetched (--git, --selftests-git), its source and its commit.
    A kernels night (--kernels) is of its selftests: their tree's commit is the night's checkout."""
    settings = night.settings
    if night.git:
        tree, commit = fetch(night.git, night.branch, settings.cache_dir, say)
        return dataclasses.replace(settings, kernel_tree=tree), night.git, commit
    if night.selftests_git:
        tree, commit = fetch(night.selftests_git, night.selftests_branch, settings.cache_dir, say)
        return dataclasses.replace(settings, selftests_tree=tree), night.selftests_git, commit
    given = settings.selftests_tree if night.kernels else settings.kernel_tree
    commit = (git.commit_of(given, "HEAD") or "") if given is not None and git.is_checkout(given) else ""
    return settings, str(given or ""), commit


def run(night: Night, say: Say = print) -> int:
    """The whole night; its exit code (0 nothing unexpected, 1 unexpected failures or crashes, 3 infrastructure)."""
    started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    # read once for every mode, before the fetch (a malformed file is bad input then)
    known, expired = pipeline.expectations(night.settings, tree=bool(night.git) or night.settings.kernel_tree is not None)
    settings, source, commit = checkout(night, say)
    for line in expired:
        say(line)
    here = night_dir(night.out, commit[:12] or ("kernels-" + "-".join(night.kernels) if night.kernels
                                                else settings.kernel_name or "default"))
    name = here.name
    say(f"night {name}: {', '.join(night.modes)}; results in {here}")
    modes = []
    for mode in night.modes:
        modes.append(run_mode(night, _mode_settings(night, settings, mode), mode, here / mode,
                              _prefixed(say, f"[{mode}] "), (known, [])))
    header = NightSummary(name, started, source, night.selftests_branch if night.kernels else night.branch, commit,
                          "/".join(map(str, settings.shard)) if settings.shard else None, known.source,
                          versions.recorded(llvm_bin()))
    before = night_summary.previous(night.out, name, started)
    flaky = known_flaky(night, settings, here, modes, known, started, say)
    told = summary.summarize(header, modes, before, known, expired, flaky.known)
    if night.kernels:  # columns of kernels: what an older one fails and the newest passes; no commits to bisect
        told = dataclasses.replace(told, quarantine=flaky.decisions, older_failures=summary.older_failures(modes))
    else:
        told = dataclasses.replace(told, quarantine=flaky.decisions,
                                   culprits=culprits(night, settings, here, modes, told, before, _prefixed(say, "[bisect] ")))
    write_atomic(here / "summary.json", night_summary.to_json(told))
    lines = summary.text(told)
    write_atomic(here / "summary.txt", "\n".join(lines) + "\n")
    if night.kcidb is not None:
        from harness.report.kcidb import write_kcidb

        write_kcidb(night.kcidb, told, modes)
    for line in lines:
        say(line)
    if night.notify:
        notify(night.notify, told, here / "summary.txt", say)
    return told.exit


NOTIFY_TIMEOUT_S = 300.0


def notify(command: str, told: NightSummary, text: Path, say: Say) -> None:
    """--notify: `sh -c command` with summary.txt on its stdin, only when the night has something new (new failures or
    crashes, a culprit); its failure is said and never fails the night ("emails only in case of problems")."""
    if not (told.changes.new_failures or told.changes.new_crashes or told.new_culprit()):
        say("notify: nothing new tonight, nobody told")
        return
    try:
        with open(text) as stdin:
            run = subprocess.run(["sh", "-c", command], stdin=stdin, capture_output=True, text=True,
                                 timeout=NOTIFY_TIMEOUT_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        say(f"notify: {command!r} did not run to its end ({type(e).__name__}: {e}); the night is not changed by it")
        return
    if run.returncode != 0:
        said = (run.stderr or run.stdout).strip().splitlines()[-1:] or ["no output"]
        say(f"notify: {command!r} failed (exit {run.returncode}: {said[0][:200]}); the night is not changed by it")
    else:
        say(f"notify: told ({command!r}, exit 0)")


def known_flaky(night: Night, settings: Settings, here: Path, modes: list[ModeNight], known: Expectations,
                started: str, say: Say) -> quarantine.Quarantine:
    """Tonight's outcomes into the history, then which of tonight's failures are known flaky by the numbers of this
    NIGHTS_DIR's nights, tonight's included (harness.nightly.quarantine: the job's own runs, as NIPA counts them; read
    from the nights' dirs, so a NIGHTS_DIR copied elsewhere decides alike); NIGHTS_DIR/known-flaky.toml rewritten (a
    shard's night leaves it alone: one shard sees part of the night)."""
    at = datetime.datetime.fromisoformat(started).timestamp()
    tonight = [dataclasses.replace(o, time=at) for m in modes
               for o in from_runs(m.runs, here.name, "night", m.mode, str(here / m.mode / "results.json"))]
    if settings.history:  # as `flakes --nights` would read it back: the night counts once either way
        History(settings.cache_dir, say).record(tonight)
    earlier = [o for n in sorted(night.out.glob("*/summary.json")) if n.parent != here for o in night_outcomes(n.parent)]
    failing = [t for m in modes for t, s in m.tests().items() if s in FAILING or s is Status.FLAKY]
    found = quarantine.decide(failing, quarantine.read(night.out), known, sorted(earlier + tonight, key=lambda o: o.time),
                              datetime.date.today())
    if settings.shard is None:
        quarantine.write(night.out, found.entries)
    return dataclasses.replace(found, known={t: line for t, line in found.known.items() if t in failing})


def culprits(night: Night, settings: Settings, here: Path, modes: list[ModeNight], told: NightSummary,
             before: NightSummary | None, say: Say) -> dict[str, tuple[Finding, ...]]:
    """Per mode, what the night says about its failures' culprit: named again (still failing since a night that found
    it), bisected (its new failures), or why not (harness.nightly.culprit)."""
    found: dict[str, tuple[Finding, ...]] = {}
    commit, previous = told.commit, before.commit if before else ""
    if not commit:  # a prebuilt kernel's night: no commits to bisect, nothing to say every night
        return found
    for m in modes:
        new = [t for t in _of_mode(told.changes.new_failures, m.mode)
               if told.tests.get(f"{m.mode}:{t}") in BY_THE_KERNEL]  # not lost: that is the machinery's
        still = _of_mode(told.changes.still_failing, m.mode)
        prior = before.culprits.get(m.mode, ()) if before else ()
        findings = [f for p in prior if (f := culprit.carried(p, still)) is not None]
        why = ("--bisect off" if night.bisect == "off" else "no night before with a commit" if not previous else
               "the night before built the same commit: not the kernel's doing (see the tools' versions)"
               if previous == commit else "")
        if new and why:
            findings.append(Finding(f"no culprit: {why}", failures=tuple(new)))
        elif new and settings.kernel_tree is not None:
            job = culprit.Job(settings.kernel_tree, previous, commit, _mode_settings(night, settings, m.mode), night.selections,
                              here / m.mode, night.bisect_budget_s, night.git, night.branch)
            findings += culprit.find(job, new, m.runs, here.name, say)
        if findings:
            found[m.mode] = tuple(findings)
    return found


def _of_mode(names: tuple[str, ...], mode: str) -> list[str]:
    """The test names ("mptcp/rr") of one mode among a summary's "<mode>:<name>"s."""
    return [t.split(":", 1)[1] for t in names if t.startswith(f"{mode}:")]


def _mode_settings(night: Night, settings: Settings, mode: str) -> Settings:
    """A mode's settings: its build mode for a tree, its kernel for a kernels night (a mode is then a kernel)."""
    if night.kernels:
        return dataclasses.replace(settings, kernel_name=mode)
    return dataclasses.replace(settings, kernel_mode=mode) if settings.kernel_tree else settings


def _prefixed(say: Say, prefix: str) -> Say:
    def said(line: str) -> None:
        say(prefix + line)
    return said


def check_modes(text: str, settings: Settings, tree: bool, kernels: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The night's columns: its build modes (a tree), "prebuilt" (a given kernel), or its --kernels."""
    modes = tuple(m.strip() for m in text.split(",") if m.strip())
    if kernels:
        if text != "normal,debug":
            raise BadInput("--modes goes with a tree to build; with --kernels each kernel is a column of its own")
        return kernels
    if not tree:
        if text != "normal,debug":
            raise BadInput("--modes needs a kernel to build (--git or --kernel-tree); a prebuilt kernel has one mode")
        return ("prebuilt",)
    from harness.kernel.kconfig import mode_fragments

    for mode in modes:
        mode_fragments(mode)  # an unknown mode is bad input, said with the known ones
    return modes
