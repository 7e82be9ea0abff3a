"""The two kinds of error a run can end with, and the exit codes they map to."""
from __future__ import annotations

import enum
import re
from pathlib import Path


class Exit(enum.IntEnum):
    """The harness's own commands' exit codes (which one a run ends with: harness.results)."""

    PASSED = 0  # all passed (skips, xfail and flaky allowed)
    FAILED = 1  # a test failed
    BAD_INPUT = 2  # bad input or usage
    INFRA = 3  # infrastructure: a build, a guest, a lost result


class BadInput(Exception):
    """The user asked for something that cannot work: say what and what to do (exit 2)."""

    exit_code = Exit.BAD_INPUT


class InfraError(Exception):
    """The machinery failed (guest died, download failed, build broke): exit 3."""

    exit_code = Exit.INFRA


class BuildFailed(InfraError):
    """The kernel or a payload did not build (configure, make): a fact about the source, which a night or a
    bisection records and goes on from; other InfraErrors say the machinery failed."""


def failed_step(what: str, log: Path, error_line: re.Pattern[str] | None = None, keep: int = 8) -> BuildFailed:
    """A build step failed: its last error lines (else its last lines) and where its whole log is."""
    lines = log.read_text(errors="replace").splitlines()
    shown = [ln for ln in lines if error_line is not None and error_line.search(ln)][-keep:] or lines[-keep:]
    return BuildFailed(f"{what} failed:\n  " + "\n  ".join(shown) + f"\nfull log: {log}")
