"""The one pipeline every front end drives (pytest, bisect, and next the nightly): prepare once, then run.

    prepared = prepare(settings, suites, say)     # kernel, payload (none when no suite needs it), accelerator
    with Session(settings, prepared, say) as session:
        run = session.run(Selection(suite, ("base", "rr")))      # rounds of one-shot guests
        run = session.run_in_guest(suite, "base")                # or in this process's persistent guest

No pytest here: a front end maps its own input to Settings and Selections, and the
SuiteRuns back to its own output.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness import guest, host, results
from harness.data import EXPECTATIONS_DIR
from harness.errors import BadInput, BuildFailed, InfraError
from harness.expectations import Expectations, apply, expected_failure
from harness.expectations import load as load_expectations
from harness.guest import warm
from harness.guest.pool import GuestPool, PoolRequest
from harness.kernel import Kernel, coverage, debian, has_module
from harness.kernel.kconfig import built_with, mode_fragments, setting
from harness.kernel.prebuilt import prebuilt_kernel
from harness.kernel.tree import build_kernel
from harness.payload.kselftests import KselftestPayload, build_kselftests, options_against
from harness.payload.selftests_bpf import Payload, build_test_progs, built_for_image, given_test_progs, llvm_bin, toolchain_identity
from harness.report.console import result_line
from harness.results import Status, SubtestResult, SuiteRun
from harness.run import durations, pcaps
from harness.run.scheduler import RunRequest, run_suite
from harness.settings import TCG_TIMEOUT_FACTOR, Kvm, Settings
from harness.suites import Runner, Selection, Suite

Say = Callable[[str], None]
# A kernel with kmemleak: each batch scans memory before it starts and twice after it ends
# (guest/scripts/batch.sh). Measured under TCG with KASAN on a 2G guest: the first scan of a
# fresh guest ~340 s, later ones less; a round's guest is given this much on top of its subtests.
KMEMLEAK_SCANS_S = 900.0
DEFAULT_EXPECTATIONS = EXPECTATIONS_DIR / "default.toml"  # for the Debian kernels of images/debian.toml


@dataclass(frozen=True)
class Prepared:
    kernel: Kernel
    payload: Payload | None  # test_progs; None: no test_progs suite was asked for
    use_kvm: bool
    kselftests: dict[str, KselftestPayload] = dataclasses.field(default_factory=dict)  # by suite name
    known: Expectations = Expectations()  # what is known to fail: applied to every run
    expired: tuple[str, ...] = ()  # a line per expectation that no longer applies

    def payload_for(self, suite: Suite) -> Payload | KselftestPayload | None:
        if suite.runner is Runner.KUNIT:
            return None  # the kernel's own modules
        return self.kselftests[suite.name] if suite.runner is Runner.KSELFTEST else self.payload


Expected = tuple[Expectations, list[str]]  # the entries that still apply, and a line per expired one


@dataclass(frozen=True)
class PrepareRequest:
    """What prepare() uses of the settings: which kernel and how to get it, the payload, the accelerator."""

    cache_dir: Path
    build_jobs: int
    kernel_tree: Path | None = None  # build this tree, in
    kernel_mode: str = "normal"  # this mode (kernel-configs/modes.toml),
    kconfig_fragments: tuple[str, ...] = ()  # with these fragments more,
    kconfig_base: str = "lean"  # on this base,
    coverage: bool = False  # with gcov for net/mptcp
    kernel_image: Path | None = None  # or boot this image
    modules_dir: Path | None = None
    kernel_name: str | None = None  # or fetch this Debian kernel (None: the default)
    test_progs: Path | None = None  # a built selftests/bpf directory instead of a build
    selftests_tree: Path | None = None  # the kselftest suites from this tree, not the kernel's source
    full_payload: bool = False  # all of test_progs, not the selected suites' tests only
    kvm: Kvm = Kvm.AUTO
    keep_guest: bool = False  # the warm loop: its SSH is checked first
    expectations: Path | None = None  # known failures; None: the repo's own for the Debian kernels

    @classmethod
    def of(cls, s: Settings) -> PrepareRequest:
        return cls(s.cache_dir, s.build_jobs, s.kernel_tree, s.kernel_mode, s.kconfig_fragments, s.kconfig_base,
                   s.coverage, s.kernel_image, s.modules_dir, s.kernel_name, s.test_progs, s.selftests_tree,
                   s.full_payload, s.kvm, s.keep_guest, s.expectations)


def expectations(settings: Settings | PrepareRequest, tree: bool | None = None) -> Expected:
    """What the run expects to fail: --expectations FILE, else the repo's own for the Debian kernels. A malformed file
    is bad input. `tree`: the kernel will be a tree's (a night from --git knows it before it has fetched one)."""
    tree = settings.kernel_tree is not None if tree is None else tree
    if settings.expectations is not None:
        known = load_expectations(settings.expectations)
    elif not tree and settings.kernel_image is None and DEFAULT_EXPECTATIONS.is_file():
        known = load_expectations(DEFAULT_EXPECTATIONS)
    else:
        known = Expectations()
    return known.live(datetime.date.today())


def mode_of(settings: Settings) -> str:
    """The kernel's mode, as expectations name it: a tree's build mode, or "prebuilt"."""
    return settings.kernel_mode if settings.kernel_tree is not None else "prebuilt"


def prepare(settings: PrepareRequest, suites: Iterable[Suite], say: Say = print, expected: Expected | None = None) -> Prepared:
    """Everything the guests need, each stage filling its part of the cache under its own lock. `expected`: the
    expectations, when the caller has read them already (a night, once for all its modes)."""
    guest.require_tools()  # before any long download or build
    known, expired = expected or expectations(settings)
    suites = list(suites)
    selftests_from(settings, suites, say)
    needed = sorted({p for s in suites for p in s.programs})
    if absent := host.missing(tuple(needed)):
        raise BadInput(f"not on this host, and the selected suites' scripts run them in the guest: "
                       f"{host.install_hint(absent)}; ./run installs them")
    if settings.keep_guest and (why := guest.ssh_unavailable()):
        raise BadInput(f"--keep-guest: the warm loop attaches to its guest over SSH, but there is {why}; "
                       "install it (./run does) or run without --keep-guest")
    kernel = get_kernel(settings, say)
    with ThreadPoolExecutor(max_workers=1) as beside:  # while test_progs builds
        kvm = beside.submit(ready_to_boot, settings, kernel, say)
        payload = get_payload(settings, kernel, sorted({s.test for s in suites if s.runner is Runner.TEST_PROGS}), say)
        kselftests = {s.name: build_kselftests(kernel, s, settings.cache_dir, settings.build_jobs, say,
                                               settings.selftests_tree)
                      for s in suites if s.runner is Runner.KSELFTEST}
        return Prepared(kernel, payload, kvm.result(), kselftests, known, tuple(expired))


def selftests_from(settings: PrepareRequest, suites: list[Suite], say: Say) -> None:
    """--selftests-tree takes the kselftest suites only. test_progs is refused, in one line: it is built against the
    kernel's own BTF from the kernel's own sources, and its BPF programs are the sources' (CO-RE would relocate what
    the older kernel has, but a program or kfunc the kernel lacks fails to load: a failure, not a skip). KUnit's
    tests are the kernel's own modules: said once, they run as they are."""
    if settings.selftests_tree is None:
        return
    if progs := sorted(s.name for s in suites if s.runner is Runner.TEST_PROGS):
        raise BadInput(f"--selftests-tree builds the kselftest suites only; {', '.join(progs)} (test_progs) is built "
                       "from the kernel's own source against its BTF: deselect it (-k net-mptcp) or drop "
                       "--selftests-tree (docs/kselftests.md)")
    if kunit := sorted(s.name for s in suites if s.runner is Runner.KUNIT):
        say(f"{', '.join(kunit)}: KUnit's tests are the kernel's own modules, not --selftests-tree's")


def kmemleak(kernel: Kernel) -> bool:
    return built_with(kernel, "CONFIG_DEBUG_KMEMLEAK")


def get_kernel(settings: PrepareRequest, say: Say) -> Kernel:
    s = settings
    if s.kernel_tree is not None:
        gcov = coverage.fragments(s.kernel_tree) if s.coverage else ()
        fragments = mode_fragments(s.kernel_mode, (*s.kconfig_fragments, *gcov), base=s.kconfig_base)
        return build_kernel(s.kernel_tree, s.cache_dir, s.kernel_mode, fragments, s.kconfig_base, s.build_jobs,
                            toolchain_identity(llvm_bin(), s.cache_dir), guest.vng_environment(), say)
    if s.kernel_image is not None:
        return prebuilt_kernel(s.kernel_image, s.modules_dir, s.cache_dir)
    spec = debian.spec_for(s.kernel_name)
    say(f"kernel: {spec.identity} (fetching into {s.cache_dir} if needed)")
    # ready_to_boot does depmod, beside the build; --selftests-tree builds nothing from the kernel's own source
    return debian.fetch(spec, s.cache_dir, index_modules=False, say=say, with_source=s.selftests_tree is None)


def ready_to_boot(settings: PrepareRequest, kernel: Kernel, say: Say) -> bool:
    """What a guest needs beyond the payload: a fetched kernel's modules indexed (depmod), then the KVM probe."""
    if settings.kernel_tree is None and settings.kernel_image is None:
        debian.index_modules(kernel)
    return accelerator(settings, kernel, say)


def get_payload(settings: PrepareRequest, kernel: Kernel, tests: list[str], say: Say) -> Payload | None:
    """test_progs with the selected suites' tests (all with --payload full); none for shell suites only."""
    s = settings
    selection = None if s.full_payload else tuple(tests)
    if s.test_progs is not None:
        return given_test_progs(s.test_progs, kernel)
    if not tests and not s.full_payload:
        return None
    if kernel.source is None:
        return built_for_image(kernel, s.cache_dir, selection)
    return build_test_progs(kernel, s.cache_dir, s.build_jobs, say=say, tests=selection)


def accelerator(settings: PrepareRequest, kernel: Kernel, say: Say) -> bool:
    """KVM if it works here (a real probe boot), else TCG; --kvm on insists."""
    if settings.kvm is Kvm.OFF:
        return False
    usable, why = guest.probe_kvm(kernel, settings.cache_dir)
    if settings.kvm is Kvm.ON and not usable:
        raise BadInput(f"--kvm on, but {why}; use --kvm auto or off")
    if not usable:
        say(f"KVM unusable ({why}): guests run under TCG (slower)")
    return usable


class Session:
    """Runs selections on a prepared kernel; owns this process's persistent guest when there is one."""

    def __init__(self, settings: Settings, prepared: Prepared, say: Say = print,
                 progress: Callable[[str], None] | None = None, logs_dir: Path | None = None) -> None:
        self.settings, self.prepared, self.say = settings, prepared, say
        self.logs_dir = logs_dir  # where each suite's guest logs go (default: a new dir under <cache>/runs)
        self.deadline = time.monotonic() + settings.deadline if settings.deadline else None
        self.config = guest.GuestConfig(prepared.kernel, settings.guest_cpus, settings.guest_memory, prepared.use_kvm,
                                        cache_dir=settings.cache_dir)
        self.pool = GuestPool(PoolRequest(settings.cache_dir, settings.boot_timeout_s, settings.keep_guest,
                                          settings.idle_timeout), self.config, say)
        self.scans_s = KMEMLEAK_SCANS_S if kmemleak(prepared.kernel) else 0.0
        self.packet = setting(prepared.kernel, "CONFIG_PACKET") if settings.pcap else None  # --pcap: AF_PACKET's
        self.items = 0
        self.said: set[str] = set()  # suites whose options unknown to this kernel were said
        self.workdirs: list[Path] = []  # every round's directory, for what a run leaves there (--coverage's counters)
        self.mode = mode_of(settings)
        self.progress = lambda r: (progress or say)(result_line(self._expected(r)))

    def __enter__(self) -> Session:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def _expected(self, result: SubtestResult) -> SubtestResult:
        """A result as the expectations' failure entries make it (the progress line; the run as a whole: _known)."""
        return expected_failure(result, self.prepared.known, self.mode, self.prepared.kernel.identity)

    def _known(self, run: SuiteRun) -> SuiteRun:
        return apply([run], self.prepared.known, self.mode)[0]

    def _timed(self, suite: Suite) -> Suite:
        """The suite with the timeout it runs under: --subtest-timeout, else a kselftest directory's own (its
        settings file), times TCG_TIMEOUT_FACTOR under TCG, else the suite file's."""
        if self.settings.subtest_timeout is not None:
            return dataclasses.replace(suite, timeout_s=self.settings.subtest_timeout)
        if suite.timeout_from_settings:
            factor = 1.0 if self.prepared.use_kvm else TCG_TIMEOUT_FACTOR
            return dataclasses.replace(suite, timeout_s=self.prepared.kselftests[suite.name].timeout_s * factor)
        return suite

    def unfit(self, suite: Suite, subtests: tuple[str, ...]) -> SuiteRun | None:
        """Every subtest skipped, no guest booted, when the kernel lacks options the suite's `config` file asks for,
        or has none of a KUnit suite file's modules."""
        if suite.runner is Runner.KUNIT:
            return self._without_modules(suite, subtests)
        ks = self.prepared.kselftests.get(suite.name)
        missing, unknown = options_against(ks, self.prepared.kernel) if ks is not None and \
            suite.runner is Runner.KSELFTEST else ([], [])
        if unknown and suite.name not in self.said:
            self.said.add(suite.name)
            self.say(f"{suite.name}: this kernel's config does not name {', '.join(unknown)} ({suite.directory}/config "
                     "of --selftests-tree): not required; the scripts' own checks decide")
        if not missing:
            return None
        why = f"the kernel lacks {', '.join(missing)} ({suite.directory}/config)"
        self.say(f"{suite.name}: skipped, {why}")
        return SuiteRun(suite.name, self.prepared.kernel.identity, results.unfit([suite.full_name(s) for s in subtests], why))

    def _without_modules(self, suite: Suite, subtests: tuple[str, ...]) -> SuiteRun | None:
        kernel = self.prepared.kernel
        if kernel.modules_dir is None or any(has_module(kernel, suite.modules[s]) for s in subtests):
            return None  # (no modules directory: built in, or absent; the guest tells)
        self.say(f"{suite.name}: skipped, {results.NOT_IN_BUILD} (the kernel has none of its modules: "
                 f"{', '.join(suite.modules[s] for s in subtests)})")
        return SuiteRun(suite.name, kernel.identity, results.not_in_build([suite.full_name(s) for s in subtests]))

    def _captures(self, suite: Suite, subtests: tuple[str, ...]) -> bool:
        """--pcap for these subtests: whether any of them captures; what cannot is said once per suite."""
        if not self.settings.pcap:
            return False
        unable, why = pcaps.unable(suite, subtests, self.prepared.payload_for(suite), self.packet)
        if unable and f"pcap:{suite.name}" not in self.said:
            self.said.add(f"pcap:{suite.name}")
            self.say(f"--pcap: {', '.join(unable[:6])}{' ...' if len(unable) > 6 else ''} capture no packets ({why})")
        return len(unable) < len(subtests)

    def run(self, selection: Selection) -> SuiteRun:
        """The selection in rounds of one-shot guests (several at once under TCG), batches side by side (harness.run.scheduler)."""
        s, suite = self.settings, selection.suite
        if (unfit := self.unfit(suite, selection.subtests)) is not None:
            return unfit
        workdir = self.logs_dir / suite.name if self.logs_dir else \
            s.cache_dir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{suite.name}"
        concurrency, guests = s.guest_concurrency(self.prepared.use_kvm), s.guests_side_by_side(self.prepared.use_kvm)
        self.say(f"booting {f'up to {guests} guests' if guests > 1 else 'a guest'} "
                 f"({'KVM' if self.prepared.use_kvm else 'TCG'}, {self.config.cpus} vCPUs) for {len(selection.subtests)} "
                 f"{suite.name} subtest(s), up to {concurrency} side by side in each; logs: {workdir}")
        request = RunRequest(
            self._timed(suite), selection.subtests, self.prepared.payload_for(suite), self.config, workdir, s.boot_timeout_s,
            concurrency=concurrency, guests=guests, durations=durations.load(s.cache_dir, suite, self.prepared.kernel.identity),
            progress=self.progress,
            retries=s.retries, fail_on_warning=s.fail_on_warning, deadline=self.deadline,
            scans_s=self.scans_s, pcap=self._captures(suite, selection.subtests),
        )
        self.workdirs.append(workdir)
        run = run_suite(request)
        if not run.interrupted:
            durations.record(s.cache_dir, suite, run)
        return self._known(run)

    def run_in_guest(self, suite: Suite, subtest: str) -> SuiteRun:
        """One subtest in this process's persistent guest (replaced afterwards if it died or got stuck)."""
        s = self.settings
        if (unfit := self.unfit(suite, (subtest,))) is not None:
            return unfit
        while True:
            running, _ = self.pool.get()
            self.pool.hold_for(2 * suite.timeout_s)
            self.items += 1
            request = RunRequest(
                self._timed(suite), (subtest,), self.prepared.payload_for(suite), running.config,
                running.shared_dir / f"run-{self.items}-{subtest}", s.boot_timeout_s,
                runner=self.pool.runner(), progress=self.progress, console=running.console,
                retries=s.retries, fail_on_warning=s.fail_on_warning, deadline=self.deadline,
                scans_s=self.scans_s, pcap=self._captures(suite, (subtest,)),
            )
            self.workdirs.append(request.workdir)
            try:
                run = run_suite(request)
                break
            except warm.Refused as e:  # a kept guest's first job: it did not run; another guest runs it
                self.pool.refuse(str(e))
        if run.interrupted:
            return self._known(run)
        if not running.alive() or run.infra_errors or any(r.status is Status.TIMEOUT for r in run.subtests):
            self.say("this guest is gone or stuck: the next subtest boots a new one")
            self.pool.close(keep=False)
        durations.record(s.cache_dir, suite, run)
        return self._known(run)

    def close(self) -> None:
        self.pool.close()


@dataclass
class Ran:
    """One run of the pipeline, as the nightly, bisect and bisect-step use it: the runs, the times, and a build
    that failed (then no runs)."""

    kernel: Kernel | None = None  # None when it did not build
    runs: list[SuiteRun] = dataclasses.field(default_factory=list)
    build_s: float = 0.0  # kernel, payloads, the accelerator's probe: all of prepare()
    run_s: float = 0.0
    suites_s: dict[str, float] = dataclasses.field(default_factory=dict)  # suite -> seconds of its runs
    build_error: str | None = None  # what did not build (the kernel, test_progs, the kselftests) and why
    prepare_error: str | None = None  # the machinery failed before any guest (a download, an unpacking)
    coverage: dict[str, object] | None = None  # --coverage: net/mptcp's figures (harness.report.coverage)


def run(settings: Settings, selections: Iterable[Selection], say: Say = print, logs_dir: Path | None = None,
        expected: Expected | None = None) -> Ran:
    """Prepare and run each selection in one-shot guests: the whole pipeline in one call. A kernel or payload that
    does not build is a Ran with its build_error, any other failure to prepare one with its prepare_error."""
    chosen = list(selections)
    ran, start = Ran(), time.monotonic()
    try:
        prepared = prepare(PrepareRequest.of(settings), [sel.suite for sel in chosen], say, expected)
    except BuildFailed as e:
        ran.build_s, ran.build_error = time.monotonic() - start, str(e)
        return ran
    except InfraError as e:
        ran.build_s, ran.prepare_error = time.monotonic() - start, str(e)
        return ran
    ran.kernel, ran.build_s = prepared.kernel, time.monotonic() - start
    with Session(settings, prepared, say, logs_dir=logs_dir) as session:
        for sel in chosen:
            began = time.monotonic()
            ran.runs.append(session.run(sel))  # the expectations applied
            ran.suites_s[sel.suite.name] = round(ran.suites_s.get(sel.suite.name, 0.0) + time.monotonic() - began, 1)
    if settings.coverage:
        ran.coverage = coverage_of(session, logs_dir.parent if logs_dir else None, say)
    ran.run_s = time.monotonic() - start - ran.build_s
    return ran


def coverage_of(session: Session, out: Path | None, say: Say) -> dict[str, object] | None:
    """--coverage: net/mptcp's, from every round of the session, into `out` (else a dir of the cache); said."""
    from harness.report import coverage as report_coverage

    s = session.settings
    where = out or s.cache_dir / "coverage" / time.strftime("%Y%m%d-%H%M%S")
    try:
        found = report_coverage.collect(session.prepared.kernel, session.workdirs, where, say)
    except InfraError as e:
        say(str(e))
        return None
    if found is None:
        say("--coverage: no round left gcov counters (a kernel without CONFIG_GCOV_KERNEL?)")
        return None
    say(f"{found.line()}; {found.info}, {found.html}/index.html")
    return found.plain()
