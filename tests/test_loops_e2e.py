"""Loops in one guest (real guests): --count N runs the selection N times with one boot, every round kept; --until-fail
stops at the first failing round and names where its output and the guest's console are."""
import json
import os
from pathlib import Path

import pytest

from tests.helpers import harness_qemus, run_harness, run_pytest

pytestmark = pytest.mark.guest


def test_count_five_is_five_rounds_with_one_boot_each_kept_and_counted(tmp_path: Path) -> None:
    run = run_pytest("-v", "suites", "-k", "mptcp/base", "--count", "5", "--report-dir", str(tmp_path / "r"))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert [f"mptcp/base[{n}-5] PASSED" in run.stdout for n in range(1, 6)] == [True] * 5
    assert run.stdout.count("guest up in") == 1  # one boot for the five rounds
    assert "mptcp/base: 0 failed of 5" in run.stdout
    names = [t["name"] for t in json.loads((tmp_path / "r" / "results.json").read_text())["tests"]]
    assert names == [f"mptcp/base[{n}-5]" for n in range(1, 6)]
    assert (tmp_path / "r" / "junit.xml").read_text().count("<testcase") == 5
    assert harness_qemus() == []


def test_until_fail_stops_at_the_first_failing_round_and_names_its_logs() -> None:
    run = run_pytest("-v", "suites/canary/canary.toml", "-k", "pass or flaky", "--until-fail", "--count", "20",
                     "--retries", "0")
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-4000:]
    assert "canary/flaky[1-20] FAILED" in run.stdout and "canary/pass[2-20]" not in run.stdout  # stopped there
    assert "--until-fail: canary/flaky[1-20] failed; its output: " in out and "the guest's console: " in out
    logs = out.split("its output: ", 1)[1].split(";", 1)[0]
    console = out.split("the guest's console: ", 1)[1].split()[0]
    assert "failing on the first try" in open(logs).read() and "Linux version" in open(console).read()
    assert "canary/flaky: 1 failed of 1" in run.stdout and "canary/pass: 0 failed of 1" in run.stdout
    assert harness_qemus() == []


QUARTER = """name = "{name}"
runner = "shell"
test = "{name}"
timeout = 10
subtests = ["one_in_four"]

[commands]
# fails every fourth round: a counter in the persistent guest's own /tmp (an overlay: the host's is not written)
one_in_four = '''
n=$(cat /tmp/{name} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /tmp/{name}
if [ $((n % 4)) -eq 0 ]; then echo round $n fails; exit 1; fi
'''
"""


def test_count_says_the_rate_with_its_interval_and_the_history_keeps_every_round(tmp_path: Path) -> None:
    """A subtest failing one round in four: --count 20 says 5 of 20 with an interval holding 0.25, and `flakes`
    reads the same 20 rounds back from the history; --history off records nothing."""
    name = f"quarter{os.getpid()}"
    suite = tmp_path / "quarter.toml"
    suite.write_text(QUARTER.format(name=name))
    run = run_pytest(str(suite), "--count", "20", "--retries", "0")
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-3000:]
    assert f"{name}/one_in_four: 5 failed of 20 (25 %, 95 %: 11-47 %)" in run.stdout, out[-3000:]
    flakes = run_harness("flakes", "--json", "-k", name)
    (row,) = json.loads(flakes.stdout)
    assert (row["runs"], row["failures"], row["class"]) == (20, 5, "flaky")
    assert row["low"] < 0.25 < row["high"] and row["signatures"] == {"failed": 5}, row
    off = f"off{os.getpid()}"
    (tmp_path / "off.toml").write_text(QUARTER.format(name=off))
    assert run_pytest(str(tmp_path / "off.toml"), "--count", "2", "--history", "off").returncode == 0
    assert "no outcomes recorded" in run_harness("flakes", "-k", off).stdout
