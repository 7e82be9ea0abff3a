"""--pcap in a real guest (issue 52): mptcp_join.sh captures with its own -c, tcpdump in each test's namespace, and
is cut off by --subtest-timeout (a failure: timeout) a few tests in. Its pcaps are kept beside its log, named in
results.json, and its output ends with the newest capture's MPTCP options as tcpdump decodes them. The suite file is
net_mptcp.toml with one more script, which this build lacks and which has no capture option: said once, and "not in
this build" as without --pcap (a script that runs to its end takes a minute or more here).

A cache of its own (its guests apart, so it runs beside the default cache's tests) sharing the default cache's
kernels and payloads: the net/mptcp scripts are built there once if need be."""
import json
import re
from pathlib import Path

import pytest

from harness.data import SUITES_DIR
from tests.helpers import CACHE, harness_qemus, run_pytest, sharing_downloads

pytestmark = pytest.mark.guest


def test_a_cut_off_mptcp_join_keeps_its_pcaps_with_their_mptcp_options_decoded(tmp_path: Path) -> None:
    cache = sharing_downloads(tmp_path / "cache")
    (CACHE / "payloads").mkdir(parents=True, exist_ok=True)
    (cache / "payloads").symlink_to(CACHE / "payloads")
    suite = tmp_path / "net_mptcp.toml"
    suite.write_text((SUITES_DIR / "net_mptcp.toml").read_text().replace('"userspace_pm",', '"userspace_pm", "nosuch",'))
    report = tmp_path / "report"
    run = run_pytest("-v", str(suite), "-k", "net-mptcp/mptcp_join or net-mptcp/nosuch", "--pcap",
                     "--subtest-timeout", "45", "--retries", "0", "--history", "off", "--report-dir", str(report),
                     timeout=1200, HARNESS_CACHE=str(cache))
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-4000:]
    said = "--pcap: net-mptcp/nosuch capture no packets (its scripts' capture options are in its suite file's [capture])"
    assert out.count(said) == 1, out[-3000:]
    tests = {t["name"]: t for t in json.loads((report / "results.json").read_text())["tests"]}
    join, nosuch = tests["net-mptcp/mptcp_join"], tests["net-mptcp/nosuch"]
    assert join["status"] == "timeout" and nosuch["status"] == "skipped" and "pcaps" not in nosuch, (join, nosuch)
    kept = [Path(p) for p in join["pcaps"]]
    assert kept and all(p.is_file() and re.match(r"mp_join-\d+-ns\d", p.name) for p in kept), join["pcaps"]
    assert kept[0].parent.name == "mptcp_join" and not (kept[0].parent / "tree").exists()  # the links are gone
    excerpt = [line for line in join["output"] if line.startswith("[pcap]")]
    assert excerpt[0] == f"[pcap] {len(kept)} capture(s) kept in {kept[0].parent}", excerpt[:3]
    assert re.search(r"MPTCP options: .*\bcapable \d+", excerpt[1]), excerpt[:3]
    assert any(re.search(r"mptcp \d+ (capable|join|dss|add-addr)", line) for line in excerpt[2:]), excerpt
    assert any(line.startswith("[pcap]   ") and "tcpdump -r " in line for line in excerpt) or len(excerpt) <= 14
    assert "[pcap]" in run.stdout  # shown where the failure is
    assert harness_qemus(cache) == []
