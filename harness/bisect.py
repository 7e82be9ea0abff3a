"""Bisecting a regression: one verdict per kernel, across a list of builds or under `git bisect run`.

A step runs the selected subtests on one kernel through pytest (the plugin does all the
work: kernel, payload, guest, parse) and reduces its JSON report to a verdict: good (every
selected subtest passed), bad (one failed or timed out, or the kernel died under it), or
untestable (a subtest is not in this build, a result was lost, nothing ran).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BadInput, InfraError
from harness.results import NOT_IN_BUILD, Status
from harness.settings import REPO_ROOT, SUITES_DIR

# git bisect run's protocol: 0 good, 1 bad, 125 skip this commit, 128+ abort the bisection
GIT_GOOD, GIT_BAD, GIT_SKIP, GIT_ABORT = 0, 1, 125, 128


@dataclass(frozen=True)
class Verdict:
    kind: str  # "good" | "bad" | "untestable"
    why: str  # a few words: which subtest decided it

    @property
    def git_code(self) -> int:
        return {"good": GIT_GOOD, "bad": GIT_BAD}.get(self.kind, GIT_SKIP)


def verdict(report: dict[str, Any]) -> Verdict:
    """The verdict of one run, from its results.json (subtests beyond the suite file do not count)."""
    tests = [t for t in report.get("tests", []) if t.get("in_suite", True)]
    if not tests:
        return Verdict("untestable", "no subtest ran")
    for t in tests:
        if t["status"] in (Status.FAILED.value, Status.TIMEOUT.value):
            return Verdict("bad", f"{t['name']} {t['status']}: {t['reason'] or 'see its output'}")
    for t in tests:
        if t["status"] in (Status.LOST.value, Status.NOT_RUN.value, Status.SKIPPED.value):
            why = NOT_IN_BUILD if t["reason"] == NOT_IN_BUILD else t["reason"] or t["status"]
            return Verdict("untestable", f"{t['name']} {t['status']} ({why})")
    flaky = [t["name"] for t in tests if t["status"] == Status.FLAKY.value]
    return Verdict("good", f"{len(tests)} passed" + (f" ({', '.join(flaky)} only on retry)" if flaky else ""))


def run_step(pytest_args: list[str]) -> Verdict:
    """Run pytest on the suites with `pytest_args` (a kernel choice, -k ...); usage errors are BadInput."""
    with tempfile.TemporaryDirectory(prefix="harness-bisect-") as tmp:
        # from the caller's directory (git bisect runs in the tree: --kernel-tree .), with the harness's config
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(REPO_ROOT),
                "-c", str(REPO_ROOT / "pyproject.toml"), str(SUITES_DIR), "--report-dir", tmp, *pytest_args]
        output: list[str] = []
        with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc:
            assert proc.stdout is not None
            for line in proc.stdout:  # shown as it comes (a kernel build takes minutes), on stderr: stdout is the verdict
                output.append(line.rstrip("\n"))
                print(line, end="", file=sys.stderr, flush=True)
        if proc.returncode == 4:  # pytest's usage error: the harness said what is wrong in one line
            raise BadInput(_usage_line(output))
        report = Path(tmp) / "results.json"
        if not report.exists():  # the kernel or payload did not build, or nothing was collected
            return Verdict("untestable", f"no results (pytest exit {proc.returncode}: {' | '.join(output[-3:])})")
        return verdict(json.loads(report.read_text()))


def _usage_line(lines: list[str]) -> str:
    """The one line saying what is wrong, from pytest's output on a usage error."""
    for marker in (": error: ", "_pytest.outcomes.Exit: ", "ERROR: "):
        for line in lines:
            if marker in line:
                return line.split(marker, 1)[1].strip(" !")
    return " | ".join(lines[-3:])


def first_bad(kernels: list[str], test: Callable[[str], Verdict], say: Callable[[str], object]) -> tuple[int, int]:
    """Binary search over `kernels` (oldest first): the indices of the last good and the first bad.

    Both ends are tested first: the first must be good and the last bad. An untestable kernel
    in between is stepped over, like `git bisect skip` (the answer then spans it).
    """
    if len(kernels) < 2:
        raise BadInput("bisect needs at least two kernels, oldest first: --kernels OLD,...,NEW")
    verdicts: dict[int, Verdict] = {}

    def judged(i: int) -> Verdict:
        if i not in verdicts:
            verdicts[i] = test(kernels[i])
            say(f"{kernels[i]}: {verdicts[i].kind} ({verdicts[i].why})")
        return verdicts[i]

    last = len(kernels) - 1
    for end, wanted in ((0, "good"), (last, "bad")):
        found = judged(end)
        if found.kind == "untestable" and NOT_IN_BUILD not in found.why:
            raise InfraError(f"{kernels[end]} could not be tested ({found.why})")
        if found.kind != wanted:
            raise BadInput(f"{kernels[end]} is {found.kind} ({found.why}), the {'oldest' if end == 0 else 'newest'} "
                           f"kernel must be {wanted}: choose another range")
    good, bad = 0, last
    untestable: set[int] = set()
    while True:
        middle = [i for i in range(good + 1, bad) if i not in untestable]
        if not middle:
            return good, bad
        i = middle[len(middle) // 2]
        kind = judged(i).kind
        if kind == "good":
            good = i
        elif kind == "bad":
            bad = i
        else:
            untestable.add(i)
