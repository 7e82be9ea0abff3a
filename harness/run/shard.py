"""Splitting the selected subtests between n jobs of a CI matrix (--shard i/n), and their reports merged back.

The split is deterministic: longest first (the durations in the checkout's
suites/durations.json, the mean for a subtest it lacks), each to the part with the least so
far, ties to the lowest part and in the order given; so n jobs of one commit agree on who runs
what. Not the cache's durations: each job has its own cache, and a job records its own run's
durations as it ends, before the next part starts (found by the slow nightly test: shards 1/2
and 2/2 both ran mptcp/subflow, nobody ran mptcp/base).
"""
from __future__ import annotations

from collections.abc import Sequence

from harness.results import SuiteRun
from harness.run import durations
from harness.run.plan import guessed, longest_first
from harness.suites import Suite


def assign(names: list[str], durations: dict[str, float], parts: int) -> dict[str, int]:
    """name -> part (1-based), by harness.run.plan's longest-first."""
    members = longest_first(guessed(names, durations), parts)
    return {name: i + 1 for i, part in enumerate(members) for name in part}


def part_of(subtests: Sequence[tuple[Suite, str]], part: int, parts: int) -> set[str]:
    """--shard part/parts: the full names (mptcp/rr) of the selected (suite, subtest)s that this job runs.
    pytest's items and the nightly's selections both come here: the same selection splits the same way."""
    suites = {suite.name: suite for suite, _ in subtests}.values()
    weights = {s.full_name(n): t for s in suites for n, t in durations.for_sharding(s).items()}  # the checkout's
    placed = assign([suite.full_name(name) for suite, name in subtests], weights, parts)
    return {name for name, p in placed.items() if p == part}


def merged_in_order(runs: list[SuiteRun], order: dict[str, list[str]]) -> list[SuiteRun]:
    """Runs of the same suite and kernel from several jobs as one, each in its suite file's order (extras last)."""
    from harness.results import merge_runs

    found = []
    for run in merge_runs(runs):
        rank = {name: i for i, name in enumerate(order.get(run.suite, []))}
        subtests = tuple(sorted(run.subtests, key=lambda r: rank.get(r.name, len(rank))))
        found.append(SuiteRun(run.suite, run.kernel, subtests, run.log, run.infra_errors, run.elapsed_s,
                              run.incidents, run.interrupted))
    return found
