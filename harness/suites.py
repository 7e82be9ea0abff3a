"""Suites are data (suites/*.toml): which runner, which test, which subtests, what timeout."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import BadInput
from harness.settings import SUITES_DIR

# test_progs: the kernel's BPF selftest runner. shell: each subtest is a shell command
# (the harness's own canary suite), reported in test_progs' format so one parser reads both.
RUNNERS = ("test_progs", "shell")


@dataclass(frozen=True)
class Suite:
    name: str  # what the suite is called (its file's label)
    runner: str
    test: str  # test_progs' test name; subtests are named after it: "mptcp/base"
    subtests: tuple[str, ...]
    timeout_s: float
    path: Path
    commands: dict[str, str] = field(default_factory=dict)  # runner "shell": subtest -> command
    max_concurrency: int | None = None  # subtests that must not share a guest with others: 1

    def full_name(self, subtest: str) -> str:
        return f"{self.test}/{subtest}"


def load_suite(path: Path) -> Suite:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise BadInput(f"{path}: cannot read suite file ({e}); fix its TOML") from e
    known = {"name", "runner", "test", "subtests", "timeout", "commands", "max_concurrency"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise BadInput(f"{path}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(known))}")
    try:
        suite = Suite(
            name=str(data["name"]),
            runner=str(data.get("runner", "test_progs")),
            test=str(data["test"]),
            subtests=tuple(str(s) for s in data["subtests"]),
            timeout_s=float(data.get("timeout", 120)),
            path=path,
            commands={str(k): str(v) for k, v in data.get("commands", {}).items()},
            max_concurrency=int(data["max_concurrency"]) if "max_concurrency" in data else None,
        )
    except (KeyError, TypeError, ValueError) as e:
        raise BadInput(f"{path}: missing or malformed key {e}; a suite needs name, test and subtests") from e
    if suite.runner not in RUNNERS:
        raise BadInput(f"{path}: runner {suite.runner!r} unknown; use one of {', '.join(RUNNERS)}")
    if len(set(suite.subtests)) != len(suite.subtests) or not suite.subtests:
        raise BadInput(f"{path}: subtests must be a non-empty list without repeats")
    if suite.runner == "shell" and set(suite.commands) != set(suite.subtests):
        raise BadInput(f"{path}: runner 'shell' needs one entry in [commands] per subtest, and no other")
    if suite.max_concurrency is not None and suite.max_concurrency < 1:
        raise BadInput(f"{path}: max_concurrency must be at least 1")
    return suite


def all_suites(directory: Path = SUITES_DIR) -> list[Suite]:
    return [load_suite(p) for p in sorted(directory.glob("*.toml"))]
