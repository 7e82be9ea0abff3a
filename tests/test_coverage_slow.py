"""Slow and real: `--coverage` on Debian's linux-source-7.3 as a tree: a gcov kernel, net/mptcp's coverage after
mptcp/base above 0, higher with mptcp/subflow added, and its HTML report opened in chromium. ./run slow."""
import json
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from tests.helpers import linux_source, run_pytest

pytestmark = [pytest.mark.guest, pytest.mark.slow]


def covered(tmp_path: Path, name: str, keyword: str) -> dict[str, Any]:
    out = tmp_path / name
    run = run_pytest("-v", "suites/mptcp_bpf.toml", "-k", keyword, "--kernel-tree", str(linux_source()), "--coverage",
                     "--report-dir", str(out), timeout=4 * 3600)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    found: dict[str, Any] = json.loads((out / "results.json").read_text())["coverage"]
    assert f"net/mptcp coverage: {found['lines_percent']} % lines, {found['functions_percent']} % functions" in run.stdout
    assert (out / "coverage.info").is_file() and (out / "coverage-html" / "index.html").is_file()
    return found


def test_coverage_of_net_mptcp_grows_with_the_subtests_and_its_html_opens(tmp_path: Path, browser: WebDriver) -> None:
    base = covered(tmp_path, "base", "mptcp/base")
    both = covered(tmp_path, "both", "mptcp/base or mptcp/subflow")
    assert 0 < base["lines_hit"] < both["lines_hit"] and base["lines"] == both["lines"] > 1000
    assert both["copies"] >= 1
    browser.get(f"file://{tmp_path / 'both' / 'coverage-html' / 'index.html'}")
    shown = browser.find_element("css selector", "td.headerCovTableEntryLo, td.headerCovTableEntryMed, "
                                 "td.headerCovTableEntryHi").text  # the page's own line coverage, in its header
    assert shown.replace(" ", "").startswith(f"{both['lines_percent']:.1f}")
    browser.find_element("link text", "net/mptcp").click()  # the directory's page: one line per source file
    assert "protocol.c" in browser.page_source and "subflow.c" in browser.page_source
