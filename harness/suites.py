"""Suites are data (suites/*.toml): which runner, which test, which subtests, what timeout."""
from __future__ import annotations

import enum
import tomllib
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from harness.data import SUITES_DIR
from harness.errors import BadInput


class Runner(enum.StrEnum):
    """What runs a suite's subtests in the guest; each prints results in test_progs' format, so one parser reads all."""

    TEST_PROGS = "test_progs"  # the kernel's BPF selftest runner: a subtest is one of its subtests
    SHELL = "shell"  # each subtest is a shell command (the harness's own canary suite)
    KSELFTEST = "kselftest"  # each subtest is a script of a kselftest directory; its TAP results are sub-cases
    KUNIT = "kunit"  # each subtest is a KUnit suite, run by loading its module; its test cases are sub-cases

    @property
    def nested(self) -> bool:
        """Each subtest reports sub-cases of its own (KTAP), and one that does not report is lost."""
        return self in (Runner.KSELFTEST, Runner.KUNIT)


@dataclass(frozen=True)
class Suite:
    name: str  # what the suite is called (its file's label)
    runner: Runner
    test: str  # test_progs' test name; subtests are named after it: "mptcp/base"
    subtests: tuple[str, ...]
    timeout_s: float
    path: Path
    commands: dict[str, str] = field(default_factory=dict)  # runner "shell": subtest -> command
    max_concurrency: int | None = None  # subtests that must not share a guest with others: 1
    directory: str = ""  # runner "kselftest": under tools/testing/selftests ("net/mptcp")
    programs: tuple[str, ...] = ()  # what the subtests run from the host's root file system (`ip`, `nft` ...)
    timeout_from_settings: bool = False  # the directory's own `settings` file sets the timeout (kselftest)
    modules: dict[str, str] = field(default_factory=dict)  # runner "kunit": subtest (KUnit suite) -> its module
    capture: dict[str, str] = field(default_factory=dict)  # --pcap: "kselftest": script -> its arguments; "shell":
    # subtest -> a command run beside it in a directory of its own, stopped after it (its *.pcap kept)
    capture_subcase: dict[str, str] = field(default_factory=dict)  # script -> regex: a pcap's sub-case number, (?P<n>)
    args: dict[str, str] = field(default_factory=dict)  # runner "kselftest": script -> the arguments it always runs with

    def full_name(self, subtest: str) -> str:
        return f"{self.test}/{subtest}"

    @property
    def printed_by(self) -> str:
        """What printed a nested subtest's sub-cases, from the subtest's name: its script, or its KUnit suite."""
        return "KUnit suite {}" if self.runner is Runner.KUNIT else "{}.sh"


@dataclass(frozen=True)
class Selection:
    """What a run is asked to run of a suite."""

    suite: Suite
    subtests: tuple[str, ...]  # names without the test prefix, in suite order


def narrowed(selections: Iterable[Selection], names: Container[str]) -> tuple[Selection, ...]:
    """The selections cut down to the subtests whose full names ("mptcp/base") are in `names`; the emptied dropped."""
    kept = (Selection(sel.suite, tuple(s for s in sel.subtests if sel.suite.full_name(s) in names)) for sel in selections)
    return tuple(sel for sel in kept if sel.subtests)


def load_suite(path: Path) -> Suite:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadInput(f"{path}: cannot read suite file ({e}); fix its TOML") from e
    known = {"name", "runner", "test", "subtests", "timeout", "commands", "max_concurrency", "directory", "programs", "modules",
             "capture", "args"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInput(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    runner = str(data.get("runner", Runner.TEST_PROGS))
    if runner not in set(Runner):
        raise BadInput(f"{path}: runner {runner!r} unknown; use one of {', '.join(Runner)}")
    try:
        suite = Suite(
            name=str(data["name"]),
            runner=Runner(runner),
            test=str(data["test"]),
            subtests=tuple(str(s) for s in data["subtests"]),
            timeout_s=float(data.get("timeout", 120)),
            path=path,
            commands={str(k): str(v) for k, v in data.get("commands", {}).items()},
            max_concurrency=int(data["max_concurrency"]) if "max_concurrency" in data else None,
            directory=str(data.get("directory", "")),
            programs=tuple(str(p) for p in data.get("programs", ())),
            timeout_from_settings=runner == Runner.KSELFTEST and "timeout" not in data,
            modules={str(k): str(v) for k, v in data.get("modules", {}).items()},
            capture={str(k): str(v["args"] if isinstance(v, dict) else v) for k, v in data.get("capture", {}).items()},
            args={str(k): str(v) for k, v in data.get("args", {}).items()},
            capture_subcase={str(k): str(v["subcase"]) for k, v in data.get("capture", {}).items()
                             if isinstance(v, dict) and "subcase" in v},
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{path}: missing or malformed key {e}; a suite needs name, test and subtests") from e
    if len(set(suite.subtests)) != len(suite.subtests) or not suite.subtests:
        raise BadInput(f"{path}: subtests must be a non-empty list without repeats")
    if (suite.runner is Runner.KSELFTEST) != bool(suite.directory):
        raise BadInput(f"{path}: runner 'kselftest' needs `directory` (under tools/testing/selftests), and no other does")
    if suite.runner is Runner.SHELL and set(suite.commands) != set(suite.subtests):
        raise BadInput(f"{path}: runner 'shell' needs one entry in [commands] per subtest, and no other")
    if (suite.runner is Runner.KUNIT) != bool(suite.modules) or (suite.modules and set(suite.modules) != set(suite.subtests)):
        raise BadInput(f"{path}: runner 'kunit' needs one entry in [modules] per subtest (its KUnit suite's module), "
                       "and no other runner has [modules]")
    if suite.capture and (suite.runner not in (Runner.KSELFTEST, Runner.SHELL) or not set(suite.capture) <= set(suite.subtests)):
        raise BadInput(f"{path}: [capture] names some of its subtests: for runner 'kselftest' the arguments that make "
                       "a script capture packets, for runner 'shell' a command that captures while the subtest runs")
    if suite.args and (suite.runner is not Runner.KSELFTEST or not set(suite.args) <= set(suite.subtests)):
        raise BadInput(f"{path}: [args] gives some of its scripts their arguments (runner 'kselftest' only: "
                       "mptcp_join = \"-L\" runs its laminar endpoint tests only)")
    if suite.max_concurrency is not None and suite.max_concurrency < 1:
        raise BadInput(f"{path}: max_concurrency must be at least 1")
    return suite


def all_suites(directory: Path = SUITES_DIR) -> list[Suite]:
    return [load_suite(p) for p in sorted(directory.glob("*.toml"))]
