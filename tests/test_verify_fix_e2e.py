"""Slow and real: `harness verify-fix` on the bisect test's history (tests/test_bisect_e2e.py) plus the revert of its
regression: the failure reproduces on the regression, the revert passes every round in one guest. ./run slow."""
import json
from pathlib import Path

import pytest

from harness.bisect.sizing import Rate, Sizing
from harness.history import rate_text
from tests.helpers import git, replace_in, run_harness
from tests.test_bisect_e2e import GOOD_LINE, ONE_IN_THREE, REGRESSION, commit, history

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def test_verify_fix_reproduces_the_regression_and_finds_its_revert_clean(tmp_path: Path) -> None:
    repo = tmp_path / "linux-bisect-e2e"  # the bisect test's name: its worktree's build dir is reused
    history(repo)
    regression = git(repo, "log", "-1", "--format=%H", f"--grep={REGRESSION}", "--fixed-strings").strip()
    replace_in(repo / "net/mptcp/bpf.c", "return NULL;", GOOD_LINE)
    commit(repo, f'Revert "{REGRESSION}"')
    out = tmp_path / "out"
    run = run_harness("verify-fix", "--kernel-tree", str(repo), "--base", regression, "--fix", "HEAD", "--reproduce", "2",
                      "--count", "5", "-k", "mptcp/base", "--out", str(out), timeout=3 * 3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    fix = git(repo, "rev-parse", "HEAD").strip()
    # 2 of 2 failed: 3 clean rounds of the fix make a commit failing like it 96 % sure to have failed (of 5 asked)
    assert (f"reproduced on {regression[:12]}: 2 failed of 2 (100 %, 95 %: 34-100 %); with the fix {fix[:12]}: 0 failed "
            "of 3 (0 %, 95 %: 0-56 %): fixed, 96 % confident" in run.stdout), run.stdout[-3000:]
    report = json.loads((out / "verify-fix.json").read_text())
    assert report["fix"]["ran"] == 3 and any("mptcp/base" in line for line in report["base"]["first_failure"])
    assert run.stdout.count("booting") <= 4  # a guest per commit (and a replacement at most), not one per round


def test_verify_fix_of_an_intermittent_failure_gives_both_rates_and_its_confidence(tmp_path: Path) -> None:
    """Issue 49: the regression fails mptcp/base about 1 run in 3 (tests/test_bisect_e2e.py's ONE_IN_THREE). The base
    runs until its third failure (its rate), the revert until a commit failing like it would have failed (95 %)."""
    repo = tmp_path / "linux-bisect-e2e"
    history(repo, ONE_IN_THREE)
    regression = git(repo, "log", "-1", "--format=%H", f"--grep={REGRESSION}", "--fixed-strings").strip()
    replace_in(repo / "net/mptcp/bpf.c", ONE_IN_THREE, GOOD_LINE)
    commit(repo, f'Revert "{REGRESSION}"')
    out = tmp_path / "out"
    run = run_harness("verify-fix", "--kernel-tree", str(repo), "--base", regression, "--fix", "HEAD", "-k",
                      "mptcp/base", "--out", str(out), timeout=3 * 3600)
    print(run.stdout[-3000:])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads((out / "verify-fix.json").read_text())
    base, fix = report["base"], report["fix"]
    assert base["failed"] == 3 and base["ran"] >= 3 and fix["failed"] == 0, report
    rate = Rate(base["failed"], base["ran"])
    assert fix["ran"] == Sizing(rate=rate).runs()  # as many as the base's rate asks, no more
    assert report["verdict"].startswith(f"reproduced on {regression[:12]}: {rate_text(3, base['ran'])}; with the fix ")
    assert report["verdict"].endswith("fixed, 95 % confident") or report["verdict"].endswith("fixed, 96 % confident")
