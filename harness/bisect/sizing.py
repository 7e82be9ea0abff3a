"""How many runs a step needs (pure): sized by the failure rate the bad end showed, so that a flaky regression cannot
make a bad commit look good by chance.

The bad end is run until it has failed MEASURE_FAILURES times the same way (or --max-runs): its Rate. A step is then
bad at its first failure of that kind, and good only after enough passing runs that a commit failing like the bad end
would have failed at least once, with --confidence (0.95 by default). The chance that such a commit passes n runs is
(1-p)^n for a known p; p is only estimated, so the chance used is its mean over what the bad end's runs say p can be
(Jeffreys' prior, Beta(1/2, 1/2), updated by the failures and passes seen): E[(1-p)^n]. It is larger than (1-p̂)^n
for few runs, so a rate seen on 3 runs asks more passes than one seen on 30. docs/history.md has the figures.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from harness.errors import BadInput
from harness.history import rate_text

MEASURE_FAILURES = 3  # the bad end's runs stop at this many failures
CONFIDENCE = 0.95
MAX_RUNS = 20


@dataclass(frozen=True)
class Rate:
    """What the bad end showed: `failures` of `runs` failed the same way; `source` says where the figures come from."""

    failures: int
    runs: int
    source: str = "measured on the bad end"

    def __str__(self) -> str:
        return f"{rate_text(self.failures, self.runs)}, {self.source}"

    def passing_chance(self, n: int) -> float:
        """The chance that a commit failing like the bad end passes n runs in a row: E[(1-p)^n], p ~ Beta(f+1/2, s+1/2)."""
        passes, chance = self.runs - self.failures, 1.0
        for k in range(n):
            chance *= (passes + 0.5 + k) / (self.runs + 1 + k)
        return chance


@dataclass(frozen=True)
class Sizing:
    """A good step's runs: as many as `confidence` asks of the bad end's rate, at most max_runs (no rate yet: max_runs)."""

    confidence: float = CONFIDENCE
    max_runs: int = MAX_RUNS
    rate: Rate | None = None

    def runs(self) -> int:
        if self.rate is None or self.rate.failures == 0:
            return self.max_runs
        n = 1
        while n < self.max_runs and self.rate.passing_chance(n) > 1 - self.confidence:
            n += 1
        return n

    def sure(self, passes: int) -> float | None:
        """How sure `passes` passing runs make a step good (1 - the chance a bad one passes them all); None: no rate."""
        if self.rate is None or self.rate.failures == 0:
            return None
        return 1 - self.rate.passing_chance(passes)

    def told(self) -> str:
        """The sizing in one line, for the terminal and bisect.md."""
        if self.rate is None:
            return f"no failure rate measured: each step runs up to {self.max_runs} time(s)"
        runs = self.runs()
        sure = self.sure(runs)
        capped = sure is not None and sure < self.confidence
        return (f"the bad end: {self.rate}; a step is good after {runs} passing run(s) "
                f"({percent_sure(sure)} sure{', the --max-runs cap' if capped else ''})")


def percent_sure(sure: float | None) -> str:
    """"97 %" (never rounded up to 100 % when it is not: "99.9 %"); "?" when unknown."""
    if sure is None:
        return "?"
    if sure >= 1.0:
        return "100 %"
    whole = math.floor(100 * sure)
    return f"{whole} %" if whole < 99 else f"{math.floor(1000 * sure) / 10:.1f} %"


def checked_confidence(value: float) -> float:
    """--confidence: strictly between 0 and 1; bad input in one line otherwise."""
    if not 0 < value < 1:
        raise BadInput(f"--confidence {value}: give a probability strictly between 0 and 1 (0.95, 0.99)")
    return value


def checked_max_runs(value: int) -> int:
    if value < 1:
        raise BadInput(f"--max-runs {value}: give a number of runs, at least 1 (default {MAX_RUNS})")
    return value
