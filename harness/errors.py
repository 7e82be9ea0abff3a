"""The two kinds of error a run can end with, and the exit codes they map to."""


class BadInput(Exception):
    """The user asked for something that cannot work: say what and what to do (exit 2)."""

    exit_code = 2


class InfraError(Exception):
    """The machinery failed (guest died, download failed, build broke): exit 3."""

    exit_code = 3
