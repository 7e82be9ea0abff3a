"""Which subtests `-k EXPR` selects, outside pytest (bisect, nightly): pytest's own -k grammar and matching."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from _pytest.mark.expression import Expression  # pytest's own -k grammar (pytest is pinned)

from harness.data import SUITES_DIR
from harness.errors import BadInput
from harness.suites import Selection, all_suites, load_suite


class _Names:
    """pytest's -k matcher: a term matches when it is part of the item's name or of a parent's, in any case."""

    def __init__(self, *names: str) -> None:
        self.names = [n.lower() for n in names]

    def __call__(self, term: str, /, **kwargs: str | int | bool | None) -> bool:
        return any(term.lower() in n for n in self.names)


def matcher(keyword: str | None) -> Callable[[str], bool]:
    """Whether `-k keyword` selects a subtest by its full name ("mptcp/rr"), as pytest would; bad input when the
    expression is not one."""
    try:
        expression = Expression.compile(keyword) if keyword else None
    except SyntaxError as e:
        raise BadInput(f"-k {keyword!r}: {e}") from None
    return lambda name: expression is None or expression.evaluate(_Names(name))


def selections(keyword: str | None, files: list[Path] | None = None) -> list[Selection]:
    """The suites/*.toml (or the given suite files') subtests that `-k keyword` selects, as pytest would."""
    try:
        expression = Expression.compile(keyword) if keyword else None
    except SyntaxError as e:
        raise BadInput(f"-k {keyword!r}: {e}") from None
    found = []
    for suite in [load_suite(f) for f in files] if files else all_suites(SUITES_DIR):
        subtests = tuple(s for s in suite.subtests if expression is None or expression.evaluate(
            _Names(suite.full_name(s), suite.path.name, suite.path.parent.name)))
        if subtests:
            found.append(Selection(suite, subtests))
    if not found:
        where = ", ".join(map(str, files)) if files else SUITES_DIR
        raise BadInput(f"-k {keyword!r} selects no subtest of {where}; try pytest --collect-only -q -k ...")
    return found
