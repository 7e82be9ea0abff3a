"""Where things live, the knobs of a run (OPTIONS), and their resolution into one checked Settings value.

Every front end resolves the same knobs the same way, through resolve(): the command line,
else $HARNESS_<KEY>, else the ini file's `harness_<key>` (pytest's ini file: pytest.ini,
pyproject.toml, tox.ini or setup.cfg), else the front end's own default, else Settings'.
pytest hands it what pytest parsed; the harness's own commands (nightly, bisect) parse their
argv with command_line(). from_values() checks the values together and raises BadInput, one
line each, before anything long starts.
"""
from __future__ import annotations

import argparse
import configparser
import enum
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import SUITES_DIR
from harness.errors import BadInput

SHARD = re.compile(r"^(?P<i>[0-9]+)/(?P<n>[0-9]+)$")


def parse_shard(text: str, where: str = "--shard") -> tuple[int, int]:
    m = SHARD.match(text.strip())
    if m is None or not 1 <= int(m["i"]) <= int(m["n"]):
        raise BadInput(f"{where}: {text!r} is not i/n with 1 <= i <= n (e.g. 1/2)")
    return int(m["i"]), int(m["n"])


def writable_dir(path: Path, what: str) -> Path:
    """A directory the harness is to write into (made if need be), checked before any long work: a file there, or a
    place it cannot write, is bad input in one line."""
    if path.exists() and not path.is_dir():
        raise BadInput(f"{what} {path} is a file, not a directory: give a directory (it is made if missing)")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInput(f"{what} {path}: cannot make it ({e.strerror}); give a directory you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise BadInput(f"{what} {path}: not writable by this user; give a directory you can write to")
    return path


def default_cache_dir() -> Path:
    if env := os.environ.get("HARNESS_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(xdg) / "mptcp-harness"


class Kvm(enum.Enum):
    AUTO = "auto"  # KVM when a probe boot works, else TCG
    ON = "on"  # KVM or bad input
    OFF = "off"  # TCG


# A kselftest directory's timeout (its `settings` file, set for real hardware or KVM) is
# multiplied by this under TCG: an emulated CPU runs the kernel's networking ~3-10x slower
# here (measured, README), the kselftest runner's --override-timeout and NIPA's per-target
# "slowdown" scale the same way. A script past it is cut off and reported as a timeout.
TCG_TIMEOUT_FACTOR = 4.0


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
    Option("--kernel-tree", "kernel_tree", "build the kernel and test_progs of this kernel source tree (make O= in its "
           ".mptcp-harness-build-<mode>-<key>/, git-ignored) instead of using a Debian kernel"),
    Option("--kernel-mode", "kernel_mode", "with --kernel-tree: normal, debug or btf (kernel-configs/modes.toml; default normal)"),
    Option("--kconfig-fragment", "kconfig_fragment", "with --kernel-tree: more kernel-configs/ fragments, comma-separated"),
    Option("--kconfig-base", "kconfig_base", "with --kernel-tree: what the mode's config starts from: lean (allnoconfig and "
           "kernel-configs/guest.config, default) or vng (what `vng --kconfig` makes; kernel-configs/bases.toml)",
           choices=("lean", "vng")),
    Option("--coverage", "coverage", "with --kernel-tree: build with gcov for net/mptcp (kernel-configs/gcov.config; the "
           "whole kernel with --kconfig-fragment gcov_all) and report its line and function coverage, coverage.info "
           "and HTML (lcov), into the report dir", bool),
    Option("--kernel-image", "kernel_image", "boot this prebuilt bzImage (with --test-progs, and --modules-dir if it has modules)"),
    Option("--modules-dir", "modules_dir", "with --kernel-image: its lib/modules/<release> directory"),
    Option("--test-progs", "test_progs", "a built tools/testing/selftests/bpf directory (with test_progs) to run"),
    Option("--selftests-tree", "selftests_tree", "build the kselftest suites (net/mptcp) from this kernel tree, whichever "
           "kernel runs them (the newest selftests on an older kernel); test_progs and KUnit come from the kernel"),
    Option("--payload", "payload", "test_progs with only the selected suites' tests (fast, default) or all of them (full)",
           choices=("fast", "full")),
    Option("--guest-cpus", "guest_cpus", "vCPUs per guest (default 2)", int),
    Option("--guest-memory", "guest_memory", "memory per guest (default 2G)"),
    Option("--kvm", "kvm", "auto: use KVM when a probe boot works, else TCG (default)", choices=tuple(k.value for k in Kvm)),
    Option("--concurrency", "concurrency", "batches side by side in a guest (default: vCPUs with a host core each; 1 under TCG)", int),
    Option("--guests", "guests", "one-shot guests side by side, each running its share of the batches (default: under "
           "TCG one per host core, as many as the host's free memory holds; 1 under KVM)", int),
    Option("--persistent-guest", "persistent_guest",
           "one guest per pytest process, each item run in it over SSH (always so under pytest-xdist)", bool),
    Option("--keep-guest", "keep_guest", "keep the guest running after the run; the next run with the same kernel "
           "attaches to it instead of booting (see `python -m harness guests`)", bool),
    Option("--idle-timeout", "idle_timeout", "seconds a kept guest waits unused before it stops (default 900)", float),
    Option("--count", "count", "run the selection N times, every round in one persistent guest (pytest-repeat's "
           "--count); each round's results are kept, and the end says each subtest's failures of N", int),
    Option("--until-fail", "until_fail", "with --count (default 100): stop at the first round that fails (the MPTCP CI's "
           "run_loop); its output and the guest's console are kept and named", bool),
    Option("--retries", "retries", "run failed subtests again up to N times; a pass then is 'flaky' "
           "(default: 1 when $CI is set, else 0)", int),
    Option("--kernel-warnings", "kernel_warnings", "a kernel WARNING during a subtest fails it (default), or is only reported",
           choices=("fail", "report")),
    Option("--subtest-timeout", "subtest_timeout", "seconds a subtest may run (default: the suite file's)", float),
    Option("--deadline", "deadline", "seconds the whole run may take; what has not run by then is not_run", float),
    Option("--shard", "shard", "run only part i of n of the selected subtests (i/n), split by recorded durations: "
           "n CI jobs each run one part; `python -m harness merge` joins their report dirs"),
    Option("--expectations", "expectations", "known failures and crashes (TOML, see expectations/default.toml): a "
           "failure it names is xfail, a pass xpass (default: expectations/default.toml for the Debian kernels)"),
    Option("--report-dir", "report_dir", "write results.ktap, results.json and junit.xml of the run there"),
    Option("--pcap", "pcap", "capture the packets of the scripts that can (the suite file's [capture]): a failing "
           "subtest keeps its pcaps beside its output with a decoded excerpt, a passing one's are deleted", bool),
    Option("--history", "history", "record every outcome in the cache's history (history.sqlite: `python -m harness "
           "flakes` reads it; default on), or off", choices=("on", "off")),
    Option("--harness-cache", "cache", "cache for kernels, builds and run logs (default: $HARNESS_CACHE or ~/.cache/mptcp-harness)"),
)
UNTIL_FAIL_ROUNDS = 100  # --until-fail's cap when no --count is given
KERNEL_CHOICES = ("kernel", "kernel_version", "kernel_tree", "kernel_image")


def memory_bytes(size: str) -> int:
    """QEMU's -m size ("2G", "1536M", "2048": MiB) in bytes; 0 when it is not one (QEMU says so itself)."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    number, unit = (size[:-1], size[-1].upper()) if size[-1:].isalpha() else (size, "M")
    try:
        return int(float(number) * units[unit])
    except (KeyError, ValueError):
        return 0


def available_memory() -> int:
    """The host's MemAvailable in bytes (what it can give guests without swapping), 0 when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def parse_value(o: Option, raw: object, where: str) -> Any:
    """One knob's raw value (a string, or a bool from a flag) as its kind, checked; BadInput naming `where`."""
    try:
        if o.kind is bool:
            value: Any = raw if isinstance(raw, bool) else str(raw).strip().lower() in ("1", "true", "yes", "on")
        else:
            value = o.kind(raw)
    except ValueError:
        raise BadInput(f"{where}: {raw!r} is not a{'n' if o.kind is int else ''} {o.kind.__name__}") from None
    if o.choices and value not in o.choices:
        raise BadInput(f"{where}: {value!r} is not one of {', '.join(o.choices)}")
    if o.kind in (int, float) and value < (0 if o.key == "retries" else 1):
        raise BadInput(f"{where}: must be at least {0 if o.key == 'retries' else 1}")
    return value


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    kernel_name: str | None = None  # an entry of images/debian.toml; None: its default
    kernel_tree: Path | None = None  # build this tree's kernel instead
    kernel_mode: str = "normal"  # kernel-configs/modes.toml
    kconfig_fragments: tuple[str, ...] = ()  # more kernel-configs/ fragments
    kconfig_base: str = "lean"  # kernel-configs/bases.toml
    coverage: bool = False  # build with gcov for net/mptcp, report its coverage (harness/kernel/coverage.py)
    kernel_image: Path | None = None  # or boot this prebuilt image
    modules_dir: Path | None = None
    test_progs: Path | None = None  # a built selftests/bpf directory to use instead of building one
    selftests_tree: Path | None = None  # the kselftest suites built from this tree, not the kernel's own source
    full_payload: bool = False  # build all of test_progs, not only the selected suites' tests
    guest_cpus: int = 2
    guest_memory: str = "2G"
    kvm: Kvm = Kvm.AUTO
    boot_timeout_s: float = 300.0
    build_jobs: int = os.cpu_count() or 1
    concurrency: int | None = None  # batches side by side per guest; None: see guest_concurrency
    guests: int | None = None  # one-shot guests side by side in a round; None: see guests_side_by_side
    report_dir: Path | None = None  # KTAP, JUnit and JSON of the run go here
    persistent_guest: bool = False  # one guest per process, commands over SSH
    keep_guest: bool = False  # leave the guest running for the next run (implies persistent_guest)
    idle_timeout: float = 900.0  # seconds a kept guest waits unused before it stops
    retries: int = 1 if os.environ.get("CI") else 0  # failed subtests run again; a pass then is flaky
    fail_on_warning: bool = True  # a kernel WARNING fails the subtest running at the time
    subtest_timeout: float | None = None  # seconds; None: the suite file's
    deadline: float | None = None  # seconds for the whole run
    shard: tuple[int, int] | None = None  # (i, n): run part i of n of the selection
    count: int = 1  # rounds of the selection (--count), in one persistent guest
    until_fail: bool = False  # stop at the first failing round
    expectations: Path | None = None  # known failures; None: the repo's own for the Debian kernels
    history: bool = True  # every outcome into <cache>/history.sqlite (harness.history)
    pcap: bool = False  # packets captured where the suite can; kept for failures (harness/run/pcaps.py)

    def guest_concurrency(self, use_kvm: bool) -> int:
        """Batches side by side in a guest: one per vCPU that has a host core of its own.

        Under TCG every vCPU runs on one host thread (harness.guest): a second batch gains
        nothing there (measured: the whole suite 32.3 s in one batch, 33.0 s in two).
        """
        cores = (os.cpu_count() or 1) if use_kvm else 1
        return self.concurrency or max(1, min(self.guest_cpus, cores))

    def guests_side_by_side(self, use_kvm: bool) -> int:
        """One-shot guests that run a round's batches at once, each its share.

        Under TCG a guest runs on one host thread whatever its vCPUs, so a second core helps only
        through a second guest: the whole MPTCP test 23.2-25.6 s in one guest, 18.6-19.6 s as two
        (two boots at once, each half the subtests; 2 cores, 2026-11-26). Under KVM one guest's vCPUs
        already have the cores (guest_concurrency): 1. Never more than the free memory holds.
        """
        if self.guests is not None:
            return self.guests
        if use_kvm:
            return 1
        fits = available_memory() // max(1, memory_bytes(self.guest_memory))
        return max(1, min(os.cpu_count() or 1, fits))


def from_values(v: dict[str, Any], persistent: bool = False) -> Settings:
    """Settings from parsed knob values (key -> value, see OPTIONS), checked together.

    persistent: the front end runs one guest per process anyway (pytest-xdist workers).
    """
    chosen = [f"--{k.replace('_', '-')}" for k in KERNEL_CHOICES if k in v]
    if len(chosen) > 1:
        raise BadInput(f"{' and '.join(chosen)} each choose the kernel: give one")
    for needs, of in (("kernel_mode", "kernel_tree"), ("kconfig_fragment", "kernel_tree"), ("kconfig_base", "kernel_tree"),
                      ("modules_dir", "kernel_image"), ("coverage", "kernel_tree")):
        if needs in v and v[needs] is not False and of not in v:
            raise BadInput(f"--{needs.replace('_', '-')} only goes with --{of.replace('_', '-')}")
    fields: dict[str, Any] = {
        "cache_dir": Path(v["cache"]) if "cache" in v else default_cache_dir(),
        "kernel_name": v.get("kernel") or v.get("kernel_version"),
        "persistent_guest": bool(v.get("persistent_guest") or v.get("keep_guest") or (v.get("count") or 1) > 1
                                 or v.get("until_fail")) or persistent,
        "until_fail": bool(v.get("until_fail")),
        "count": v.get("count") or (UNTIL_FAIL_ROUNDS if v.get("until_fail") else 1),
        "keep_guest": bool(v.get("keep_guest")),
        "fail_on_warning": v.get("kernel_warnings", "fail") == "fail",
        "report_dir": writable_dir(Path(v["report_dir"]), "--report-dir") if "report_dir" in v else None,
        "kernel_mode": v.get("kernel_mode", "normal"),
        "kconfig_base": v.get("kconfig_base", "lean"),
        "coverage": bool(v.get("coverage")),
        "pcap": bool(v.get("pcap")),
        "history": v.get("history", "on") == "on",
        "full_payload": v.get("payload") == "full",
        "kconfig_fragments": tuple(f.strip() for f in v.get("kconfig_fragment", "").split(",") if f.strip()),
        "kvm": Kvm(v.get("kvm", "auto")),
    }
    for key in ("guest_cpus", "guest_memory", "concurrency", "guests", "retries", "subtest_timeout", "deadline", "idle_timeout"):
        if key in v:
            fields[key] = v[key]
    if "shard" in v:
        fields["shard"] = parse_shard(v["shard"])
    for key in ("kernel_tree", "kernel_image", "modules_dir", "test_progs", "expectations"):
        if key in v:
            fields[key] = Path(v[key]).expanduser()
    if "selftests_tree" in v:
        fields["selftests_tree"] = selftests_tree(Path(v["selftests_tree"]).expanduser())
    if fields["persistent_guest"] and (v.get("concurrency") or 1) > 1:
        raise BadInput("--concurrency runs subtests side by side in one guest; --persistent-guest (and xdist) "
                       "runs one at a time per guest: choose one")
    if fields["persistent_guest"] and (v.get("guests") or 1) > 1:
        raise BadInput("--guests boots one-shot guests side by side; --persistent-guest (and xdist) runs each "
                       "process's subtests in its own guest: choose one (pytest -n N for N guests)")
    return Settings(**fields)


MPTCP_SELFTESTS = Path("tools", "testing", "selftests", "net", "mptcp")


def selftests_tree(path: Path) -> Path:
    """--selftests-tree, checked before any build: a kernel tree with net/mptcp's selftests."""
    if not path.is_dir():
        raise BadInput(f"--selftests-tree {path}: no such directory; give a kernel source tree (a checkout or an "
                       "unpacked linux-source)")
    if not (path / "Makefile").is_file() or not (path / "tools" / "testing" / "selftests" / "Makefile").is_file():
        raise BadInput(f"--selftests-tree {path}: not a kernel source tree (no Makefile, no tools/testing/selftests)")
    if not (path / MPTCP_SELFTESTS).is_dir():
        raise BadInput(f"--selftests-tree {path}: it has no {MPTCP_SELFTESTS} (a tree older than MPTCP's selftests?)")
    return path.resolve()


# pytest's ini files, in the order it looks for them in a directory (its "rootdir" rules), with the
# section that holds its keys; a file without that section is not pytest's (pytest.ini always is)
INI_FILES = (("pytest.ini", "pytest"), (".pytest.ini", "pytest"), ("pyproject.toml", "tool.pytest.ini_options"),
             ("tox.ini", "pytest"), ("setup.cfg", "tool:pytest"))


def _ini_section(path: Path) -> dict[str, Any] | None:
    """The keys of pytest's section of an ini file; None when it has none (or cannot be read: pytest says why)."""
    section = dict(INI_FILES).get(path.name, "pytest")
    try:
        if path.suffix == ".toml":
            table = tomllib.loads(path.read_text()).get("tool", {}).get("pytest", {}).get("ini_options")
            return dict(table) if isinstance(table, dict) else None
        ini = configparser.ConfigParser(interpolation=None)
        ini.read(path)
        return dict(ini[section]) if ini.has_section(section) else ({} if path.name.endswith("pytest.ini") else None)
    except (OSError, ValueError, configparser.Error):
        return None


def find_ini(start: Path) -> Path | None:
    """The ini file pytest would take when started in `start` with no path arguments."""
    for directory in (start.resolve(), *start.resolve().parents):
        for name, _ in INI_FILES:
            if (directory / name).is_file() and _ini_section(directory / name) is not None:
                return directory / name
    return None


@dataclass(frozen=True)
class Ini:
    """The harness's keys of pytest's ini file (without `harness_`, raw), and where they were read."""

    values: Mapping[str, Any]
    source: str = "ini file"


def read_ini(path: Path | None, overrides: list[str] | None = None) -> Ini:
    """The harness's keys of an ini file, with pytest's `-o key=value` over them; an unknown harness_ key is bad input."""
    section = dict((_ini_section(path) if path is not None else None) or {})
    for override in overrides or ():
        key, _, value = override.partition("=")
        section[key.strip()] = value
    known = {o.key for o in OPTIONS}
    ours = {k.removeprefix("harness_"): v for k, v in section.items() if k.startswith("harness_")}
    source = path.name if path is not None else "ini file"
    if unknown := sorted(f"harness_{k}" for k in ours if k not in known):
        raise BadInput(f"{source}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(f'harness_{k}' for k in known))}")
    return Ini(ours, source)


def resolve(flags: Mapping[str, object], env: Mapping[str, str], ini: Ini,
            defaults: Mapping[str, object] | None = None, persistent: bool = False) -> Settings:
    """Settings from every source: each knob from the command line (`flags`: key -> raw value, None when not given),
    else $HARNESS_<KEY> in `env`, else the ini file, else the front end's `defaults`; then checked together."""
    values: dict[str, Any] = {}
    for o in OPTIONS:
        env_key = f"HARNESS_{o.key.upper()}"
        for where, raw in ((o.flag, flags.get(o.key)),
                           (f"${env_key}", env.get(env_key) if o.key != "cache" else None),  # see default_cache_dir
                           (f"{ini.source}: harness_{o.key}", ini.values.get(o.key))):
            if raw is not None and raw != "":
                values[o.key] = parse_value(o, raw, where)
                break
        else:
            if defaults and o.key in defaults:
                values[o.key] = defaults[o.key]
    return from_values(values, persistent)


def command_line(argv: list[str], command: str) -> tuple[dict[str, object], str | None, Path | None]:
    """The harness's options (as pytest takes them: --kernel-tree PATH ...), -k EXPR and pytest's -c INI from the argv
    of one of the harness's own commands; BadInput on anything else."""
    parser = argparse.ArgumentParser(prog=f"python -m harness {command}", add_help=False, exit_on_error=False)
    for o in OPTIONS:
        parser.add_argument(o.flag, dest=o.key, action="store_true" if o.kind is bool else "store", default=None)
    parser.add_argument("-k", dest="keyword", default=None)
    parser.add_argument("-c", "--config-file", dest="ini", default=None)
    try:
        args, rest = parser.parse_known_args(argv)
    except argparse.ArgumentError as e:
        raise BadInput(f"{e}; the harness's options are listed by `pytest --help`, group harness") from None
    if rest:
        raise BadInput(f"unrecognized arguments: {' '.join(rest)}; `python -m harness {command}` takes its own "
                       "options (--help), the harness's options (`pytest --help`, group harness), -k EXPR and -c INI")
    if args.ini is not None and not Path(args.ini).is_file():
        raise BadInput(f"-c {args.ini}: no such file; give pytest's ini file (pytest.ini, pyproject.toml, tox.ini ...)")
    return {o.key: getattr(args, o.key) for o in OPTIONS}, args.keyword, Path(args.ini) if args.ini else None


def for_command(argv: list[str], command: str, defaults: Mapping[str, object] | None = None,
                suites: tuple[Path, ...] = (SUITES_DIR,)) -> tuple[Settings, str | None]:
    """Settings and -k EXPR of one of the harness's own commands (nightly, bisect), resolved as pytest resolves
    them when given these suite files: the environment, and the ini file it reads (-c INI, else the first one
    above the suites' common directory, as pytest finds its rootdir's)."""
    flags, keyword, ini = command_line(argv, command)
    if ini is None:
        ini = find_ini(Path(os.path.commonpath([p.resolve() for p in suites])))
    return resolve(flags, os.environ, read_ini(ini), defaults), keyword
