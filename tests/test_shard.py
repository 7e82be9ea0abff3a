"""--shard i/n and `python -m harness merge`: parts that cover the selection once, merged back to a single run's reports."""
import json
from pathlib import Path

import pytest
from pytest import CaptureFixture, MonkeyPatch, Pytester

from harness.cli import main
from harness.data import SUITES_DIR
from harness.errors import BadInput
from harness.run.shard import assign
from harness.settings import parse_shard

pytest_plugins = ["pytester"]
REPORTS = Path(__file__).parent / "data" / "reports"
SUITE_FILE = str(SUITES_DIR / "mptcp_bpf.toml")


def test_parts_are_balanced_by_duration_and_deterministic() -> None:
    durations = {"a": 10.0, "b": 6.0, "c": 5.0, "d": 1.0}
    placed = assign(list(durations), durations, 2)
    assert placed == {"a": 1, "b": 2, "c": 2, "d": 1}  # 11 s and 11 s
    assert assign(list(durations), durations, 2) == placed
    assert set(assign(["x", "y", "z"], {}, 3).values()) == {1, 2, 3}  # no durations yet: one each
    assert parse_shard("2/3") == (2, 3)
    for bad in ("0/2", "3/2", "1-2", "x"):
        with pytest.raises(BadInput, match="is not i/n"):
            parse_shard(bad)


def collected(pytester: Pytester, *args: str) -> list[str]:
    result = pytester.runpytest_inprocess(SUITE_FILE, "--collect-only", "-q", *args)
    assert result.ret == 0, result.outlines
    return [ln.split("::")[1] for ln in result.outlines if "::" in ln]


def test_two_shards_of_the_selection_are_disjoint_and_cover_it(pytester: Pytester, monkeypatch: MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    everything = collected(pytester, "-k", "not iters")
    one, two = collected(pytester, "-k", "not iters", "--shard", "1/2"), collected(pytester, "-k", "not iters", "--shard", "2/2")
    assert one and two and not set(one) & set(two) and sorted(one + two) == sorted(everything)
    assert abs(len(one) - len(two)) <= 1
    # each job of a matrix has its own cache, and a job records its durations before the next part starts: the split
    # must not follow them (the slow nightly test's two shards both ran mptcp/subflow when it did)
    caches = [("a", {"base": 1.0, "mptcpify": 1.0, "subflow": 50.0, "sockopt": 50.0}),  # each would split otherwise
              ("b", {"subflow": 50.0, "default": 50.0, "base": 1.0, "stale": 1.0})]
    for n, (cache, weights) in enumerate(caches):
        (tmp_path / cache).mkdir()
        (tmp_path / cache / "durations.json").write_text(json.dumps({"mptcp": weights}))
        monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / cache))
        assert collected(pytester, "-k", "not iters", "--shard", f"{n + 1}/2") == [one, two][n]
    bad = pytester.runpytest_inprocess(SUITE_FILE, "--collect-only", "--shard", "3/2")
    assert bad.ret == pytest.ExitCode.USAGE_ERROR


def test_merged_parts_of_a_real_report_equal_it(tmp_path: Path, capsys: CaptureFixture[str]) -> None:
    """A real results.json cut in two (as two sharded jobs would write), merged: the same tests, statuses, order."""
    whole = json.loads((REPORTS / "mptcp-7.3-results.json").read_text())
    tests = whole["tests"]
    for n, part in enumerate((tests[1::2], tests[0::2]), start=1):  # out of order on purpose
        (tmp_path / f"job{n}").mkdir()
        (tmp_path / f"job{n}" / "results.json").write_text(json.dumps({**whole, "tests": part}))
    code = main(["merge", str(tmp_path / "job1"), str(tmp_path / "job2"), "--out", str(tmp_path / "merged")])
    merged = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert [(t["name"], t["status"]) for t in merged["tests"]] == [(t["name"], t["status"]) for t in tests]
    assert code == 0 and capsys.readouterr().out.rstrip().endswith("4 passed, 16 skipped (16 not in this build)")
    assert (tmp_path / "merged" / "junit.xml").read_text().count("<testcase ") == len(tests)
    assert main(["merge", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
