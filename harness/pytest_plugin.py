"""pytest adapter: suites/*.toml become one item per subtest; running them goes through the scheduler.

Collection reads data files only (no build, no boot). The first item to run prepares
the kernel and test_progs and runs every selected subtest of its suite in one guest;
each item then reports its own subtest's result and output.
"""
from __future__ import annotations

import configparser
import dataclasses
import os
import signal
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from harness import guest, warm
from harness.cache import locked
from harness.channel import Channel, SharedDirChannel, free_port
from harness.errors import BadInput, InfraError
from harness.kernel import Kernel, debian
from harness.kernel.kconfig import mode_fragments
from harness.kernel.prebuilt import prebuilt_kernel
from harness.kernel.tree import build_kernel
from harness.report.console import result_line, totals_line
from harness.report.json import to_json
from harness.report.junit import to_junit
from harness.report.ktap import to_ktap
from harness.results import Status, SubtestResult, SuiteRun, merge_runs, run_from_plain, run_to_plain
from harness.scheduler import RunRequest, load_durations, on_running_guest, record_durations, run_suite
from harness.selftests import Payload, build_test_progs, built_for_image, given_test_progs, llvm_bin, toolchain_identity
from harness.settings import SUITES_DIR, Settings, default_cache_dir
from harness.suites import Suite, load_suite


@dataclass(frozen=True)
class Option:
    """One knob: a command-line flag, an ini key `harness_<key>` (pytest.ini, tox.ini, pyproject) and $HARNESS_<KEY>."""

    flag: str
    key: str
    help: str
    kind: type = str  # str, int, float or bool
    choices: tuple[str, ...] = ()


OPTIONS = (
    Option("--kernel", "kernel", "Debian kernel from images/debian.toml, by name or version (e.g. 6.12, 7.2; "
           "default: its 'default' entry)"),
    Option("--kernel-version", "kernel_version", "the same as --kernel: a Debian kernel by version, e.g. 6.12 or 7.2.12"),
    Option("--kernel-tree", "kernel_tree", "build the kernel and test_progs of this kernel source tree (out of tree, "
           "in the cache) instead of using a Debian kernel"),
    Option("--kernel-mode", "kernel_mode", "with --kernel-tree: normal, debug or btf (kernel-configs/modes.toml; default normal)"),
    Option("--kconfig-fragment", "kconfig_fragment", "with --kernel-tree: more kernel-configs/ fragments, comma-separated"),
    Option("--kernel-image", "kernel_image", "boot this prebuilt bzImage (with --test-progs, and --modules-dir if it has modules)"),
    Option("--modules-dir", "modules_dir", "with --kernel-image: its lib/modules/<release> directory"),
    Option("--test-progs", "test_progs", "a built tools/testing/selftests/bpf directory (with test_progs) to run"),
    Option("--payload", "payload", "test_progs with only the selected suites' tests (fast, default) or all of them (full)",
           choices=("fast", "full")),
    Option("--guest-cpus", "guest_cpus", "vCPUs per guest (default 2)", int),
    Option("--guest-memory", "guest_memory", "memory per guest (default 2G)"),
    Option("--kvm", "kvm", "auto: use KVM when a probe boot works, else TCG (default)", choices=("auto", "on", "off")),
    Option("--concurrency", "concurrency", "batches side by side in a guest (default: vCPUs with a host core each; 1 under TCG)", int),
    Option("--persistent-guest", "persistent_guest",
           "one guest per pytest process, each item run in it over SSH (always so under pytest-xdist)", bool),
    Option("--keep-guest", "keep_guest", "keep the guest running after the run; the next run with the same kernel "
           "attaches to it instead of booting (see `python -m harness guests`)", bool),
    Option("--idle-timeout", "idle_timeout", "seconds a kept guest waits unused before it stops (default 900)", float),
    Option("--retries", "retries", "run failed subtests again up to N times; a pass then is 'flaky' "
           "(default: 1 when $CI is set, else 0)", int),
    Option("--kernel-warnings", "kernel_warnings", "a kernel WARNING during a subtest fails it (default), or is only reported",
           choices=("fail", "report")),
    Option("--subtest-timeout", "subtest_timeout", "seconds a subtest may run (default: the suite file's)", float),
    Option("--deadline", "deadline", "seconds the whole run may take; what has not run by then is not_run", float),
    Option("--report-dir", "report_dir", "write results.ktap, results.json and junit.xml of the run there"),
    Option("--harness-cache", "cache", "cache for kernels, builds and run logs (default: $HARNESS_CACHE or ~/.cache/mptcp-harness)"),
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "MPTCP BPF selftests in vng guests")
    for o in OPTIONS:
        if o.kind is bool:
            group.addoption(o.flag, dest=f"harness_{o.key}", action="store_true", default=None, help=o.help)
        else:
            group.addoption(o.flag, dest=f"harness_{o.key}", default=None, help=o.help, choices=o.choices or None)
        parser.addini(f"harness_{o.key}", o.help, default=None)


def _ini_keys(path: Path | None) -> list[str]:
    """The keys of pytest's section of its ini file (pytest warns of unknown keys; ours are an error)."""
    if path is None:
        return []
    try:
        if path.suffix == ".toml":
            return list(tomllib.loads(path.read_text()).get("tool", {}).get("pytest", {}).get("ini_options", {}))
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(path)
        section = "tool:pytest" if path.name == "setup.cfg" else "pytest"
        return list(ini[section]) if ini.has_section(section) else []
    except (OSError, ValueError, configparser.Error):
        return []  # pytest itself says what is wrong with the file


def option_values(config: pytest.Config) -> dict[str, Any]:
    """Each knob from the command line, else $HARNESS_<KEY>, else the ini file; one line when one is wrong."""
    source = config.inipath.name if config.inipath else "ini file"
    known = {f"harness_{o.key}" for o in OPTIONS}
    unknown = sorted(k for k in _ini_keys(config.inipath) if k.startswith("harness_") and k not in known)
    if unknown:
        raise pytest.UsageError(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    for o in OPTIONS:
        where, raw = o.flag, getattr(config.option, f"harness_{o.key}", None)
        env = f"HARNESS_{o.key.upper()}"
        if raw is None and o.key != "cache" and os.environ.get(env):
            where, raw = f"${env}", os.environ[env]
        if raw is None:
            where, raw = f"{source}: harness_{o.key}", config.getini(f"harness_{o.key}")
        if raw is None or raw == "":
            continue
        try:
            if o.kind is bool:
                value: Any = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
            else:
                value = o.kind(raw)
        except ValueError:
            raise pytest.UsageError(f"{where}: {raw!r} is not a{'n' if o.kind is int else ''} {o.kind.__name__}") from None
        if o.choices and value not in o.choices:
            raise pytest.UsageError(f"{where}: {value!r} is not one of {', '.join(o.choices)}")
        if o.kind in (int, float) and value < (0 if o.key == "retries" else 1):
            raise pytest.UsageError(f"{where}: must be at least {0 if o.key == 'retries' else 1}")
        values[o.key] = value
    return values


_RUNNER = pytest.StashKey["SessionRunner"]()
_BAD_SUITE = pytest.StashKey[bool]()


def pytest_configure(config: pytest.Config) -> None:
    v = option_values(config)
    fields: dict[str, Any] = {
        "cache_dir": Path(v["cache"]) if "cache" in v else default_cache_dir(),
        "kernel_name": v.get("kernel") or v.get("kernel_version"),
        "persistent_guest": bool(v.get("persistent_guest") or v.get("keep_guest")) or hasattr(config, "workerinput"),
        "keep_guest": bool(v.get("keep_guest")),
        "fail_on_warning": v.get("kernel_warnings", "fail") == "fail",
        "report_dir": Path(v["report_dir"]) if "report_dir" in v else None,
    }
    for key in ("guest_cpus", "guest_memory", "kvm", "concurrency", "retries", "subtest_timeout", "deadline", "idle_timeout"):
        if key in v:
            fields[key] = v[key]
    chosen = [o for o in ("--kernel", "--kernel-version", "--kernel-tree", "--kernel-image")
              if o.lstrip("-").replace("-", "_") in v]
    if len(chosen) > 1:
        raise pytest.UsageError(f"{' and '.join(chosen)} each choose the kernel: give one")
    for needs, of in (("kernel_mode", "kernel_tree"), ("kconfig_fragment", "kernel_tree"), ("modules_dir", "kernel_image")):
        if needs in v and of not in v:
            raise pytest.UsageError(f"--{needs.replace('_', '-')} only goes with --{of.replace('_', '-')}")
    for key in ("kernel_tree", "kernel_image", "modules_dir", "test_progs"):
        if key in v:
            fields[key] = Path(v[key]).expanduser()
    fields["kernel_mode"] = v.get("kernel_mode", "normal")
    fields["full_payload"] = v.get("payload") == "full"
    fields["kconfig_fragments"] = tuple(f.strip() for f in v.get("kconfig_fragment", "").split(",") if f.strip())
    if fields["persistent_guest"] and (v.get("concurrency") or 1) > 1:
        raise pytest.UsageError("--concurrency runs subtests side by side in one guest; --persistent-guest (and xdist) "
                                "runs one at a time per guest: choose one")
    config.stash[_RUNNER] = SessionRunner(Settings(**fields), config)
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _interrupt)  # stop guests, write reports, exit "interrupted"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """suites/*.toml; a suite file elsewhere under suites/ (the canary) only when named on the command line."""
    if file_path.suffix != ".toml":
        return None
    named = {Path(arg.split("::")[0]).resolve() for arg in parent.config.args}
    resolved = file_path.resolve()
    if resolved.parent == SUITES_DIR.resolve() or (SUITES_DIR.resolve() in resolved.parents and resolved in named):
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
    def __init__(self, *, suite: Suite, subtest: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.suite = suite
        self.subtest = subtest

    def runtest(self) -> None:
        result = self.config.stash[_RUNNER].result_for(self)
        if result.status is Status.PASSED:
            return
        if result.status is Status.FLAKY:
            self.user_properties.append(("flaky", result.reason))
            return
        if result.status is Status.SKIPPED:
            pytest.skip(result.reason or result.status.value)
        # not_run (deadline, interrupt), lost, timeout, failed: a run that is not all green
        raise SubtestFailed(result)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, SubtestFailed):
            r = excinfo.value.result
            head = f"{r.name}: {r.status.value}" + (f" ({r.reason})" if r.reason else "")
            body = "\n".join(r.output) if r.output else "(test_progs printed nothing for this subtest)"
            return f"{head}\n{body}"
        if isinstance(excinfo.value, (BadInput, InfraError)):
            return str(excinfo.value)
        return str(excinfo.getrepr(style="short"))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, self.name


class SessionRunner:
    """Prepares kernel and payload once per pytest process and runs each suite's selection once."""

    def __init__(self, settings: Settings, config: pytest.Config) -> None:
        self.settings = settings
        self.deadline = time.monotonic() + settings.deadline if settings.deadline else None
        self.config = config
        self.kernel: Kernel | None = None
        self.payload: Payload | None = None
        self.use_kvm: bool | None = None
        self.runs: dict[Path, SuiteRun] = {}  # one-shot guests: one run per suite
        self.item_runs: list[SuiteRun] = []  # a persistent guest: one run per item
        self.running: guest.PersistentGuest | None = None
        self.channel: Channel | None = None
        self.hold: IO[str] | None = None  # our claim on a kept guest
        self.booted_at = 0.0
        self.failure: Exception | None = None

    def all_runs(self) -> list[SuiteRun]:
        return merge_runs([*self.runs.values(), *self.item_runs])

    def say(self, line: str) -> None:
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None or capture is None:
            print(f"[harness] {line}", flush=True)
            return
        with capture.global_and_fixture_disabled():  # progress goes to the terminal, now
            reporter.write_line(f"[harness] {line}")

    def _prepare(self) -> None:
        s = self.settings
        guest.require_tools()  # before any long download or build
        if s.keep_guest and (why := guest.ssh_unavailable()):
            raise BadInput(f"--keep-guest: the warm loop attaches to its guest over SSH, but there is {why}; "
                           "install it (./run does) or run without --keep-guest")
        self.kernel = self._kernel()  # each stage locks what it fills in the cache, not the whole cache
        items = self.config.stash.get(_SESSION_ITEMS, [])
        tests = tuple(sorted({i.suite.test for i in items if isinstance(i, SubtestItem) and i.suite.runner == "test_progs"}))
        if s.test_progs is not None:
            self.payload = given_test_progs(s.test_progs, self.kernel)
        elif not tests and not s.full_payload:
            self.payload = None  # only shell suites (the canary): no test_progs to build
        elif self.kernel.source is None:
            self.payload = built_for_image(self.kernel, s.cache_dir, None if s.full_payload else tests)
        else:
            self.payload = build_test_progs(self.kernel, s.cache_dir, s.build_jobs, say=self.say,
                                            tests=None if s.full_payload else tests)
        if s.kvm == "off":
            self.use_kvm = False
        else:
            usable, why = guest.probe_kvm(self.kernel, s.cache_dir)
            if s.kvm == "on" and not usable:
                raise BadInput(f"--kvm on, but {why}; use --kvm auto or off")
            self.use_kvm = usable
            if not usable:
                self.say(f"KVM unusable ({why}): guests run under TCG (slower)")

    def _kernel(self) -> Kernel:
        s = self.settings
        if s.kernel_tree is not None:
            fragments = mode_fragments(s.kernel_mode, s.kconfig_fragments)
            toolchain = toolchain_identity(llvm_bin())
            return build_kernel(s.kernel_tree, s.cache_dir, s.kernel_mode, fragments, s.build_jobs, toolchain,
                                guest.vng_environment(), self.say)
        if s.kernel_image is not None:
            return prebuilt_kernel(s.kernel_image, s.modules_dir, s.cache_dir)
        spec = debian.spec_for(s.kernel_name)
        self.say(f"kernel: {spec.identity} (fetching into {s.cache_dir} if needed)")
        return debian.fetch(spec, s.cache_dir)

    def result_for(self, item: SubtestItem) -> SubtestResult:
        if self.failure is not None:
            raise self.failure
        suite_path = item.suite.path
        try:
            if self.kernel is None:
                self._prepare()
            if self.settings.persistent_guest:
                run = self._run_item(item)
            else:
                if suite_path not in self.runs:
                    self.runs[suite_path] = self._run(item.suite)
                run = self.runs[suite_path]
        except BadInput as e:
            self.failure = e
            pytest.exit(str(e), returncode=pytest.ExitCode.USAGE_ERROR)
        except InfraError as e:
            if not self.settings.persistent_guest:
                self.failure = e
            raise
        result = run.get(item.name)
        if result is None:  # cannot happen: decide() answers for every subtest asked
            raise InfraError(f"{item.name}: no result recorded")
        return result

    def _run(self, suite: Suite) -> SuiteRun:
        assert self.kernel is not None and self.use_kvm is not None
        session = self.config.stash.get(_SESSION_ITEMS, [])
        wanted = {i.subtest for i in session if isinstance(i, SubtestItem) and i.suite.path == suite.path}
        subtests = tuple(s for s in suite.subtests if s in wanted)
        workdir = self.settings.cache_dir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{suite.name}"
        config = guest.GuestConfig(self.kernel, self.settings.guest_cpus, self.settings.guest_memory, self.use_kvm)
        accel = "KVM" if self.use_kvm else "TCG"
        concurrency = self.settings.guest_concurrency(self.use_kvm)
        self.say(
            f"booting a guest ({accel}, {config.cpus} vCPUs) for {len(subtests)} {suite.name} subtest(s), "
            f"up to {concurrency} side by side; logs: {workdir}"
        )
        suite = self._timed(suite)
        request = RunRequest(
            suite, subtests, self.payload, config, workdir, self.settings.boot_timeout_s,
            concurrency=concurrency, durations=load_durations(self.settings.cache_dir, suite),
            progress=lambda r: self.say(result_line(r)), retries=self.settings.retries,
            fail_on_warning=self.settings.fail_on_warning, deadline=self.deadline,
        )
        run = run_suite(request)
        if run.interrupted:
            self.runs[suite.path] = run  # reported with the rest not_run
            raise KeyboardInterrupt
        record_durations(self.settings.cache_dir, suite, run)
        self.say(f"guest done in {run.elapsed_s:.1f} s: {totals_line(list(run.subtests))}")
        for problem in run.infra_errors:
            self.say(f"infrastructure: {problem}")
        extras = [r for r in run.subtests if not r.in_suite]
        if extras:
            listing = ", ".join(f"{r.name} ({r.status.value})" for r in extras)
            self.say(f"this build also has subtests the suite file lacks: {listing}")
        return run

    def _timed(self, suite: Suite) -> Suite:
        if self.settings.subtest_timeout is None:
            return suite
        return dataclasses.replace(suite, timeout_s=self.settings.subtest_timeout)

    def _guest(self) -> tuple[guest.PersistentGuest, Channel]:
        """This process's persistent guest: a warm one if allowed and healthy, else booted (again if it died)."""
        if self.running is not None and self.running.alive() and self.channel is not None:
            return self.running, self.channel
        self.close(keep=False)
        assert self.kernel is not None and self.use_kvm is not None
        config = guest.GuestConfig(self.kernel, self.settings.guest_cpus, self.settings.guest_memory, self.use_kvm)
        if self.settings.keep_guest and (found := self._attach_warm(config)) is not None:
            self.running, self.channel = found
            return found
        port = free_port()
        shared = self.settings.cache_dir / "guests" / f"{os.getpid()}-{port}"
        self.say(f"booting a persistent guest ({'KVM' if self.use_kvm else 'TCG'}, {config.cpus} vCPUs); files: {shared}")
        keep_for = self.settings.idle_timeout if self.settings.keep_guest else None
        no_ssh = guest.ssh_unavailable()
        running = guest.PersistentGuest.boot(config, shared, port, self.settings.boot_timeout_s, keep_for_s=keep_for,
                                             ssh=no_ssh is None)
        self.booted_at = time.time()
        with locked(self.settings.cache_dir, "guests"), open(self.settings.cache_dir / "guests" / "boots.log", "a") as log:
            log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} pid={os.getpid()} port={port} boot_s={running.boot_s:.1f} "
                      f"kernel={self.kernel.identity}\n")
            if self.settings.keep_guest:  # registered at once: a killed run still leaves it findable
                self.hold = warm.claim(warm.registered(self.settings.cache_dir, running, self.settings.idle_timeout,
                                                       self.booted_at))
        from harness.channel_ssh import SshChannel  # paramiko is slow to import: only when a guest persists

        channel: Channel
        if no_ssh is not None:
            self.say(f"{no_ssh}: no SSH into the guest; commands go through the shared directory")
            channel = SharedDirChannel(shared)
        else:
            try:
                channel = SshChannel(port, running.ssh_key)
            except (ConnectionError, OSError) as e:
                self.say(f"no SSH to the guest ({e}): commands go through the shared directory instead")
                channel = SharedDirChannel(shared)
        self.running, self.channel = running, channel
        self.say(f"guest up in {running.boot_s:.1f} s; commands over {channel.name}")
        return running, channel

    def _attach_warm(self, config: guest.GuestConfig) -> tuple[guest.PersistentGuest, Channel] | None:
        from harness.channel_ssh import SshChannel

        cache = self.settings.cache_dir
        with locked(cache, "guests"):
            entries = warm.load(cache)
        for entry in entries:
            if not warm.is_alive(entry):
                with locked(cache, "guests"):
                    warm.forget(cache, entry)
                continue
            hold = warm.claim(entry)
            if hold is None:
                continue  # another run is using it
            problem = None if entry.fits(config) else (
                f"its kernel is {entry.kernel}" if entry.kernel != config.kernel.identity else "it was booted with other guest settings")
            channel: Channel | None = None
            if problem is None:
                guest.set_idle_deadline(Path(entry.shared_dir), self.settings.idle_timeout + 3600)
                try:
                    channel = SshChannel(entry.port, guest.vng_ssh_key(), connect_timeout_s=10)
                    problem = warm.health_problem(channel)
                except (ConnectionError, OSError) as e:
                    problem = f"no SSH ({e})"
            if problem is None and channel is not None:
                age = time.time() - entry.booted_at
                self.say(f"attached to the warm guest on port {entry.port} (booted {age:.0f} s ago): no boot")
                self.hold, self.booted_at = hold, entry.booted_at
                return entry.guest(config), channel
            self.say(f"not reusing the warm guest on port {entry.port}: {problem}; stopping it")
            if channel is not None:
                channel.close()
            entry.stop()
            with locked(cache, "guests"):
                warm.forget(cache, entry)
            hold.close()
        return None

    def _run_item(self, item: SubtestItem) -> SuiteRun:
        running, channel = self._guest()
        if self.settings.keep_guest:  # its watchdog must not stop it while we use it
            guest.set_idle_deadline(running.shared_dir, self.settings.idle_timeout + 2 * item.suite.timeout_s)
        workdir = running.shared_dir / f"run-{len(self.item_runs) + 1}-{item.subtest}"
        request = RunRequest(
            self._timed(item.suite), (item.subtest,), self.payload, running.config, workdir, self.settings.boot_timeout_s,
            concurrency=1, runner=on_running_guest(running, channel), progress=lambda r: self.say(result_line(r)),
            console=running.console, retries=self.settings.retries, fail_on_warning=self.settings.fail_on_warning,
            deadline=self.deadline,
        )
        run = run_suite(request)
        if run.interrupted:
            self.item_runs.append(run)
            raise KeyboardInterrupt
        for problem in run.infra_errors:
            self.say(f"infrastructure: {problem}")
        if not running.alive() or run.infra_errors or any(r.status is Status.TIMEOUT for r in run.subtests):
            self.say("this guest is gone or stuck: the next subtest boots a new one")
            self.close(keep=False)
        with locked(self.settings.cache_dir, "durations"):
            record_durations(self.settings.cache_dir, item.suite, run)
        self.item_runs.append(run)
        return run

    def close(self, keep: bool | None = None) -> None:
        """Stop this process's guest, or (--keep-guest) leave it running and registered for the next run."""
        keep = self.settings.keep_guest if keep is None else keep
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self.running is not None:
            if keep and self.running.alive():
                guest.set_idle_deadline(self.running.shared_dir, self.settings.idle_timeout)
                with locked(self.settings.cache_dir, "guests"):
                    warm.registered(self.settings.cache_dir, self.running, self.settings.idle_timeout, self.booted_at)
                self.say(f"guest kept for the next run on port {self.running.port}; it stops after "
                         f"{self.settings.idle_timeout:.0f} s unused (python -m harness guests stop)")
            else:
                self.running.stop()
            self.running = None
        if self.hold is not None:
            self.hold.close()
            self.hold = None


_SESSION_ITEMS = pytest.StashKey[list[pytest.Item]]()
_WORKER_RUNS = pytest.StashKey[list[SuiteRun]]()  # under xdist, on the controller


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if session.config.stash.get(_BAD_SUITE, False):
        session.exitstatus = pytest.ExitCode.USAGE_ERROR  # a malformed suite file is bad input, not a test error
    runner = session.config.stash.get(_RUNNER, None)
    if runner is None:
        return
    runner.close()
    runs = merge_runs([*runner.all_runs(), *session.config.stash.get(_WORKER_RUNS, [])])
    have = {r.name for run in runs for r in run.subtests}
    never = [i for i in session.config.stash.get(_SESSION_ITEMS, []) if isinstance(i, SubtestItem) and i.name not in have]
    if runs and never and exitstatus == pytest.ExitCode.INTERRUPTED:  # stopped before they ran
        by_suite: dict[str, list[SubtestResult]] = {}
        for i in never:
            by_suite.setdefault(i.suite.name, []).append(SubtestResult(i.name, Status.NOT_RUN, reason="interrupted"))
        kernel = runs[0].kernel
        runs = merge_runs([*runs, *(SuiteRun(name, kernel, tuple(rs)) for name, rs in by_suite.items())])
    if not runs or runner.settings.report_dir is None:
        return
    out = runner.settings.report_dir
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    if worker:  # what an xdist worker ran: in its own folder, and to the controller for the merged report
        session.config.workeroutput["harness_runs"] = [run_to_plain(run) for run in runs]  # type: ignore[attr-defined]
        out = out / worker
    out.mkdir(parents=True, exist_ok=True)
    for name, render in (("results.ktap", to_ktap), ("results.json", to_json), ("junit.xml", to_junit)):
        (out / name).write_text(render(runs))
    runner.say(f"reports: {out}/results.ktap, results.json, junit.xml")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """pytest-xdist: a worker is done; what it ran goes into the controller's merged report."""
    plain = getattr(node, "workeroutput", {}).get("harness_runs", [])
    node.config.stash.setdefault(_WORKER_RUNS, []).extend(run_from_plain(p) for p in plain)


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> tuple[str, str, str] | None:
    """A flaky subtest passed, but is never shown as a plain pass."""
    if report.when == "call" and report.passed and any(key == "flaky" for key, _ in report.user_properties):
        return "flaky", "f", "FLAKY"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, hand out the longest subtests first (durations of earlier runs)."""
    if not getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return
    runner = config.stash.get(_RUNNER, None)
    if runner is None:
        return
    known: dict[Path, dict[str, float]] = {}
    for item in items:
        if isinstance(item, SubtestItem) and item.suite.path not in known:
            known[item.suite.path] = load_durations(runner.settings.cache_dir, item.suite)

    def longest_first(item: pytest.Item) -> float:
        return -known[item.suite.path].get(item.subtest, 0.0) if isinstance(item, SubtestItem) else 0.0
    items.sort(key=longest_first)  # stable: suite order among equals


def pytest_collection_finish(session: pytest.Session) -> None:
    # after -k / -m deselection: what is left is what this run asks for
    session.config.stash[_SESSION_ITEMS] = list(session.items)
