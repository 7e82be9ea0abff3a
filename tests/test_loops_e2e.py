"""Loops in one guest (real guests): --count N runs the selection N times with one boot, every round kept; --until-fail
stops at the first failing round and names where its output and the guest's console are."""
import json

import pytest

from tests.helpers import harness_qemus, run_pytest

pytestmark = pytest.mark.guest


def test_count_five_is_five_rounds_with_one_boot_each_kept_and_counted(tmp_path):
    run = run_pytest("-v", "suites", "-k", "mptcp/base", "--count", "5", "--report-dir", str(tmp_path / "r"))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert [f"mptcp/base[{n}-5] PASSED" in run.stdout for n in range(1, 6)] == [True] * 5
    assert run.stdout.count("guest up in") == 1  # one boot for the five rounds
    assert "mptcp/base: 0 failed of 5" in run.stdout
    names = [t["name"] for t in json.loads((tmp_path / "r" / "results.json").read_text())["tests"]]
    assert names == [f"mptcp/base[{n}-5]" for n in range(1, 6)]
    assert (tmp_path / "r" / "junit.xml").read_text().count("<testcase") == 5
    assert harness_qemus() == []


def test_until_fail_stops_at_the_first_failing_round_and_names_its_logs():
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
