"""Slow and real: `harness verify-fix` on the bisect test's history (tests/test_bisect_e2e.py) plus the revert of its
regression: the failure reproduces on the regression, the revert passes every round in one guest. ./run slow."""
import json

import pytest

from tests.helpers import git, replace_in, run_harness
from tests.test_bisect_e2e import REGRESSION, commit, history

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def test_verify_fix_reproduces_the_regression_and_finds_its_revert_clean(tmp_path):
    repo = tmp_path / "linux-bisect-e2e"  # the bisect test's name: its worktree's build dir is reused
    history(repo)
    regression = git(repo, "log", "-1", "--format=%H", f"--grep={REGRESSION}", "--fixed-strings").strip()
    replace_in(repo / "net/mptcp/bpf.c", "return NULL;", "return mptcp_sk(mptcp_subflow_ctx(sk)->conn);")
    commit(repo, f'Revert "{REGRESSION}"')
    out = tmp_path / "out"
    run = run_harness("verify-fix", "--kernel-tree", str(repo), "--base", regression, "--fix", "HEAD", "--reproduce", "2",
                      "--count", "5", "-k", "mptcp/base", "--out", str(out), timeout=3 * 3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    fix = git(repo, "rev-parse", "HEAD").strip()
    assert (f"reproduced on {regression[:12]}: 2 of 2 failed; with the fix {fix[:12]}: 0 failed of 5: fixed"
            in run.stdout), run.stdout[-3000:]
    report = json.loads((out / "verify-fix.json").read_text())
    assert report["fix"]["ran"] == 5 and any("mptcp/base" in line for line in report["base"]["first_failure"])
    assert run.stdout.count("booting") <= 4  # a guest per commit (and a replacement at most), not one per round
