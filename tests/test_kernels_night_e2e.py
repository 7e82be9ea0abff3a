"""Issue 51 in ./run tests: a night of the newest selftests on an older kernel and on their own, a column each (real
guests, a cache of its own: the net/mptcp scripts' build is part of the test). A module of its own, so that the two
workers of `./run tests` can run it beside tests/test_kselftests_e2e.py (tests/conftest.py: a unit per module)."""
import json
from pathlib import Path

import kcidb_io
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from harness.data import SUITES_DIR
from tests.helpers import default_kernel, fresh_cache, run_harness

pytestmark = pytest.mark.guest


def test_a_kernels_night_runs_7_3s_selftests_on_6_12_and_7_3_a_column_each_skips_told_by_reason(
        tmp_path: Path, browser: WebDriver) -> None:
    """Issue 51: `nightly --kernels 6.12,7.3 --selftests-tree linux-source-7.3` builds net/mptcp from that tree (in
    this test's own cache: the build is part of it) and runs mptcp_join's laminar endpoint tests (the suite file's
    [args] "-L 1 2": the first two) on Debian's 6.12, fetched without its linux-source, and on 7.3. 6.12 has no laminar
    endpoints: the sub-cases skip, each with mptcp_join's own words ("Feature not supported"), where 7.3 passes them
    (all five, measured 2026-12-06: 38 s and 62 s). 7.3's config asks for CONFIG_NETFILTER_XTABLES_LEGACY, which 6.12's does not name at
    all (it came later): said once, not missing. A column per kernel in summary.txt, KCIDB and the dashboard."""
    source = default_kernel().source
    assert source is not None
    suite, out, kcidb = tmp_path / "net_mptcp.toml", tmp_path / "nights", tmp_path / "kcidb.json"
    suite.write_text((SUITES_DIR / "net_mptcp.toml").read_text().replace("[capture]", '[args]\nmptcp_join = "-L 1 2"\n\n'
                                                                          "[capture]"))
    run = run_harness("nightly", "--out", str(out), "--kernels", "6.12,7.3", "--selftests-tree", str(source),
                      "--suite", str(suite), "-k", "net-mptcp/mptcp_join", "--kcidb", str(kcidb), "--history", "off",
                      f"--harness-cache={fresh_cache(tmp_path)}", timeout=2400)
    said = run.stdout + run.stderr
    assert run.returncode == 0, said[-4000:]
    assert f"[6.12] building the net/mptcp selftests from {source}" in said
    assert "[6.12] net-mptcp: this kernel's config does not name CONFIG_NETFILTER_XTABLES_LEGACY" in said
    (night,) = [p for p in out.iterdir() if p.is_dir()]
    summary = (night / "summary.txt").read_text()
    assert "\n6.12: debian:6.12.117" in summary and "\n7.3: debian:7.3.4" in summary, summary
    assert "\n6.12: sub-cases skipped: 2 (2 Feature not supported)\n" in summary and "7.3: sub-cases skipped" not in summary
    for kernel, status in (("6.12", "skipped"), ("7.3", "passed")):
        (join,) = json.loads((night / kernel / "results.json").read_text())["tests"]
        assert join["kernel"].startswith(f"debian:{kernel}") and join["status"] == "passed", join
        cases = join["subtests"]
        assert len(cases) == 2 and {c["status"] for c in cases} == {status}, cases
        assert kernel == "7.3" or {c["reason"] for c in cases} == {"Feature not supported"}, cases
    data = json.loads(kcidb.read_text())
    kcidb_io.schema.LATEST.validate(data)
    assert [b["config_name"] for b in data["builds"]] == ["6.12", "7.3"]
    page = tmp_path / "index.html"
    assert run_harness("report", "--html", str(page), str(out)).returncode == 0
    browser.get(page.as_uri())
    heads = [h.text for h in browser.find_elements("css selector", "#matrix thead th")]
    assert any("6.12" in h for h in heads) and any("7.3" in h for h in heads), heads
    cells = browser.find_elements("css selector", "#matrix tbody tr[data-name='net-mptcp/mptcp_join'] td.s-passed")
    assert len(cells) == 2
