"""The two kinds of error a run can end with, and the exit codes they map to."""
from __future__ import annotations

import re
from pathlib import Path


class BadInput(Exception):
    """The user asked for something that cannot work: say what and what to do (exit 2)."""

    exit_code = 2


class InfraError(Exception):
    """The machinery failed (guest died, download failed, build broke): exit 3."""

    exit_code = 3


def failed_step(what: str, log: Path, error_line: re.Pattern[str] | None = None, keep: int = 8) -> InfraError:
    """A build step failed: its last error lines (else its last lines) and where its whole log is."""
    lines = log.read_text(errors="replace").splitlines()
    shown = [ln for ln in lines if error_line is not None and error_line.search(ln)][-keep:] or lines[-keep:]
    return InfraError(f"{what} failed:\n  " + "\n  ".join(shown) + f"\nfull log: {log}")
