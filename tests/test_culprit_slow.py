"""Slow and real: the nightly names the culprit (issue 38's done criteria), on a git repository made from
linux-source-7.3 as --git file://..., mode normal, -k mptcp/base.

Night 1 at A passes. Then six commits: two harmless, a commit that panics at boot (a step that fails differently:
cannot tell, never bad) and the one that takes the panic out again, the real one-line regression in net/mptcp
(bpf_skc_to_mptcp_sock() gives NULL), one harmless. Night 2 bisects between A and its commit, names the regression
verified in its first lines, exits 1, and its KCIDB (an issue, an incident per failing test) validates. One more
harmless commit: night 3 says "still failing since <night 2>, culprit <hash>" and does not bisect. The dashboard over
the three nights, opened in Debian's chromium, names the culprit in the night's header and in the failing cell's
tooltip (a screenshot in reports/dashboard-culprit.png). ./run slow (each step an incremental build of the clone, bisected in place; the
first night's a full one).
"""
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kcidb_io
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers import CACHE, REPO_ROOT, git, replace_in, run_harness, source_repo

pytestmark = [pytest.mark.guest, pytest.mark.slow]

UPSTREAM = CACHE / "test-repos" / "linux-culprit-e2e"
REGRESSION = "mptcp: bpf: no msk for subflows from bpf_skc_to_mptcp_sock()"
PANIC = "init: a commit that panics at boot"
SHOT = REPO_ROOT / "reports" / "dashboard-culprit.png"


def commit(repo: Path, subject: str) -> None:
    git(repo, "commit", "-q", "-am", subject)


def night(out: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, Any]]:
    before = set(out.iterdir()) if out.exists() else set()
    run = run_harness("nightly", "--out", str(out), "--git", f"file://{UPSTREAM}", "--branch", "main", "--modes", "normal",
                      "-k", "mptcp/base", *extra, timeout=8 * 3600)
    (made,) = {p for p in out.iterdir() if p.is_dir()} - before
    return run, made, json.loads((made / "summary.json").read_text())


def test_night_two_names_the_regression_night_three_does_not_bisect_again(tmp_path: Path, browser: WebDriver) -> None:
    source_repo(UPSTREAM)
    out = tmp_path / "nights"
    first, _, _ = night(out)
    assert first.returncode == 0, first.stdout[-3000:]
    doc, mptcp = UPSTREAM / "Documentation/networking/mptcp.rst", UPSTREAM / "net/mptcp"
    replace_in(doc, "Multipath TCP", "Multipath TCP (MPTCP)")
    commit(UPSTREAM, "docs: mptcp: name the acronym")
    replace_in(mptcp / "options.c", "#include", "/* options: a harmless comment */\n#include")
    commit(UPSTREAM, "mptcp: options: a comment")
    replace_in(UPSTREAM / "init/main.c", "static int __ref kernel_init(void *unused)\n{",
               'static int __ref kernel_init(void *unused)\n{\n\tpanic("harness: a commit that panics at boot");')
    commit(UPSTREAM, PANIC)  # git bisect's first midpoint: it must be "cannot tell", never bad
    replace_in(UPSTREAM / "init/main.c", '\n\tpanic("harness: a commit that panics at boot");', "")
    commit(UPSTREAM, "init: no panic at boot")  # the regression's parent boots: the culprit can be verified
    replace_in(mptcp / "bpf.c", "return mptcp_sk(mptcp_subflow_ctx(sk)->conn);", "return NULL;")
    commit(UPSTREAM, REGRESSION)
    replace_in(mptcp / "pm.c", "#include", "/* pm: a harmless comment */\n#include")
    commit(UPSTREAM, "mptcp: pm: a comment")
    culprit = git(UPSTREAM, "log", "-1", "--format=%H", "HEAD~1").strip()
    kcidb = tmp_path / "kcidb.json"
    second, two, told = night(out, "--kcidb", str(kcidb))
    assert second.returncode == 1, second.stdout[-4000:]
    lines = (two / "summary.txt").read_text().splitlines()
    assert lines[1].startswith(f"normal: culprit: {culprit[:12]} {REGRESSION} (") and \
        re.search(r"\), verified, 9\d(\.\d)? % confident$", lines[1]), lines[:4]  # the nightly's steps: 99 % each
    (found,) = told["culprits"]["normal"]
    assert found["culprit"] == culprit and found["failures"] == ["mptcp/base"]
    steps = json.loads((two / "normal" / "bisect.json").read_text())["steps"]
    panics = git(UPSTREAM, "log", "-1", "--format=%H", "HEAD~3").strip()
    assert all(s["kind"] != "bad" for s in steps if s["commit"] == panics), steps  # cannot tell (or never visited)
    data = json.loads(kcidb.read_text())
    kcidb_io.schema.LATEST.validate(data)
    assert data["issues"][0]["misc"]["commit"] == culprit and data["incidents"][0]["test_id"].endswith(":mptcp/base")
    replace_in(mptcp / "ctrl.c", "#include", "/* ctrl: a harmless comment */\n#include")
    commit(UPSTREAM, "mptcp: ctrl: a comment")
    third, _, told3 = night(out)
    assert third.returncode == 1 and "[bisect] bisect:" not in third.stdout  # no bisection
    assert told3["culprits"]["normal"][0]["line"].startswith(f"still failing since {two.name}, culprit {culprit[:12]}")
    page = tmp_path / "nights.html"
    assert run_harness("report", "--html", str(page), str(out)).returncode == 0
    browser.get(page.as_uri())
    headers = [th.text for th in browser.find_elements("css selector", "#matrix th.culprit")]
    assert culprit[:12] in headers, headers  # night 2's column (night 3 carries it)
    failing = browser.find_elements("css selector", "#matrix tbody tr[data-name='mptcp/base'] td.s-failed a")
    assert any(f"culprit: {culprit[:12]}" in (a.get_attribute("title") or "") for a in failing), [a.get_attribute("title")
                                                                                           for a in failing]
    SHOT.parent.mkdir(exist_ok=True)
    browser.save_screenshot(str(SHOT))
