"""Slow and real: `python -m harness bisect --kernel-tree` finds an injected MPTCP regression in a git history made
on top of Debian's linux-source-7.3, skips a commit that does not build, verifies, and leaves the checkout alone.

The history (oldest first), eight commits; git bisect's first midpoint is c4:
  c1 the unpacked linux-source-7.3 (good)       c5 fixes the build
  c2 a documentation change                       c6 THE REGRESSION: bpf_skc_to_mptcp_sock() gives NULL (mptcp/base fails)
  c3 a comment in net/mptcp/options.c             c7 a documentation change
  c4 a syntax error in net/mptcp/ctrl.c           c8 a comment in net/mptcp/pm.c (bad)
The repository is a hard-linked copy of the source (files are replaced, never written in place). Its worktree's build
dir stays in the cache: the first run is a full kernel build, later runs are incremental. ./run slow.
"""
import json
from pathlib import Path

import pytest

from tests.helpers import CACHE, git, replace_in, run_harness, source_repo

pytestmark = [pytest.mark.guest, pytest.mark.slow]

REGRESSION = "mptcp: bpf: no msk for subflows from bpf_skc_to_mptcp_sock()"
GOOD_LINE = "return mptcp_sk(mptcp_subflow_ctx(sk)->conn);"
BROKEN = "return NULL;"  # every time
ONE_IN_THREE = "return get_random_u32_below(3) ? mptcp_sk(mptcp_subflow_ctx(sk)->conn) : NULL;"  # mptcp/base: 1 run in 3


def commit(repo: Path, subject: str) -> None:
    git(repo, "commit", "-q", "-a", "-m", subject)


def history(repo: Path, regression: str = BROKEN) -> None:
    source_repo(repo)
    doc, mptcp = repo / "Documentation/networking/mptcp.rst", repo / "net/mptcp"
    replace_in(doc, "Multipath TCP", "Multipath TCP (MPTCP)")
    commit(repo, "docs: mptcp: name the acronym")
    replace_in(mptcp / "options.c", "#include", "/* options: a harmless comment */\n#include")
    commit(repo, "mptcp: options: a comment")
    replace_in(mptcp / "ctrl.c", "#include", "this does not compile;\n#include")
    commit(repo, "mptcp: ctrl: a change that does not build")
    replace_in(mptcp / "ctrl.c", "this does not compile;\n", "")
    commit(repo, "mptcp: ctrl: fix the build")
    replace_in(mptcp / "bpf.c", GOOD_LINE, regression)
    if regression != BROKEN:
        replace_in(mptcp / "bpf.c", '#include "protocol.h"', '#include <linux/random.h>\n#include "protocol.h"')
    commit(repo, REGRESSION)
    replace_in(doc, "Multipath TCP (MPTCP)", "Multipath TCP (MPTCP, RFC 8684)")
    commit(repo, "docs: mptcp: cite the RFC")
    replace_in(mptcp / "pm.c", "#include", "/* pm: a harmless comment */\n#include")
    commit(repo, "mptcp: pm: a comment")


def test_bisect_finds_the_injected_regression_skips_the_unbuildable_commit_and_leaves_the_checkout(tmp_path: Path) -> None:
    repo = tmp_path / "linux-bisect-e2e"  # its worktree (and so its build dir) is named after it
    history(repo)
    replace_in(repo / "MAINTAINERS", "MPTCP", "MPTCP (my local edit)")  # a dirty file, and an untracked one
    (repo / "notes.txt").write_text("mine\n")
    before = (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"), (repo / "MAINTAINERS").read_bytes())
    out = tmp_path / "out"
    run = run_harness("bisect", "--kernel-tree", str(repo), "--good", "HEAD~7", "--bad", "HEAD",
                            "-k", "mptcp/base", "--out", str(out), timeout=5 * 3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads((out / "bisect.json").read_text())
    assert report["subject"] == REGRESSION and report["verified"], report
    unbuildable = git(repo, "rev-parse", "HEAD~4").strip()
    assert [s["kind"] for s in report["steps"] if s["commit"] == unbuildable] == ["untestable"]
    assert any("mptcp/base" in line for line in report["evidence"])
    assert f"first bad: {report['commit'][:12]} {REGRESSION}" in run.stdout
    assert (git(repo, "rev-parse", "HEAD"), git(repo, "status", "--porcelain"),
            (repo / "MAINTAINERS").read_bytes()) == before
    assert not (CACHE / "worktrees" / repo.name).exists()
    print((out / "bisect.md").read_text())


def test_bisect_measures_a_one_in_three_regression_sizes_its_steps_and_names_it(tmp_path: Path) -> None:
    """Issue 49: the same history, its regression failing mptcp/base about 1 run in 3 (the sockops program sees no msk
    when get_random_u32_below(3) is 0). The bad end is measured (3 failures), each good step runs until a commit
    failing like it would have failed with 99 % (3 runs a step would miss it 3 times in 10), and the report says how
    sure. Named right about 97 times in 100 at --confidence 0.99 (tests/test_sizing.py's simulation): a failure here
    is either that chance or a real fault; bisect.md printed below tells which."""
    repo = tmp_path / "linux-bisect-e2e"  # the test above's worktree build dir, reused
    history(repo, ONE_IN_THREE)
    out = tmp_path / "out"
    run = run_harness("bisect", "--kernel-tree", str(repo), "--good", "HEAD~7", "--bad", "HEAD", "--confidence", "0.99",
                      "--max-runs", "40", "-k", "mptcp/base", "--out", str(out), timeout=6 * 3600)
    print((out / "bisect.md").read_text() if (out / "bisect.md").exists() else run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    report = json.loads((out / "bisect.json").read_text())
    assert report["subject"] == REGRESSION and report["verified"], report
    end = report["steps"][0]
    assert end["kind"] == "bad" and end["runs"] >= 3 and "measured on the bad end" in end["why"]
    goods = [s for s in (*report["steps"], *report["verification"]) if s["kind"] == "good"]
    assert goods and all(s["runs"] > 3 and s["sure"] >= 0.99 for s in goods), goods
    assert report["sure"] >= 0.9  # each good step 99 % sure, the culprit their product
    assert "% confident" in run.stdout and "a step is good after" in report["sizing"]
