"""--pcap in a real guest (issue 52): mptcp_join.sh captures with its own -c, tcpdump in each test's namespace, and
is cut off by --subtest-timeout (a failure: timeout) a few tests in. Its pcaps are kept beside its log, named in
results.json, and its output ends with the newest capture's MPTCP options as tcpdump decodes them. The suite file is
net_mptcp.toml with one more script, which this build lacks and which has no capture option: said once, and "not in
this build" as without --pcap (a script that runs to its end takes a minute or more here).

A cache of its own (its guests apart, so it runs beside the default cache's tests) sharing the default cache's
kernels and payloads: the net/mptcp scripts are built there once if need be."""
import json
import os
import re
from pathlib import Path

import pytest

from harness.data import SUITES_DIR
from tests.helpers import CACHE, harness_qemus, run_pytest, sharing_downloads

pytestmark = pytest.mark.guest


def test_a_cut_off_mptcp_join_keeps_its_pcaps_with_their_mptcp_options_decoded(tmp_path: Path) -> None:
    cache = own_cache(tmp_path)
    suite = tmp_path / "net_mptcp.toml"
    suite.write_text((SUITES_DIR / "net_mptcp.toml").read_text().replace('"userspace_pm",', '"userspace_pm", "nosuch",'))
    report = tmp_path / "report"
    run = run_pytest("-v", str(suite), "-k", "net-mptcp/mptcp_join or net-mptcp/nosuch", "--pcap",
                     "--subtest-timeout", "45", "--retries", "0", "--history", "off", "--report-dir", str(report),
                     timeout=1200, HARNESS_CACHE=str(cache))
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-4000:]
    said = ("--pcap: net-mptcp/nosuch capture no packets (their scripts have no capture option; the suite file's "
            "[capture] names those that do)")
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


def own_cache(tmp_path: Path) -> Path:
    """A cache of its own sharing the default cache's downloads and payloads (test_progs built there once)."""
    cache = sharing_downloads(tmp_path / "cache")
    (CACHE / "payloads").mkdir(parents=True, exist_ok=True)
    (cache / "payloads").symlink_to(CACHE / "payloads")
    return cache


def test_test_progs_runs_with_its_traffic_monitor_and_a_passing_subtest_keeps_no_pcap(tmp_path: Path) -> None:
    """The payload is built with libpcap (the set-up installs libpcap-dev): -m on, a pcap per netns the subtest makes
    (test_progs prints its name), deleted with the subtest's pass."""
    cache, report = own_cache(tmp_path), tmp_path / "report"
    run = run_pytest("-v", "suites", "-k", "mptcp/base", "--pcap", "--history", "off", "--report-dir", str(report),
                     timeout=1200, HARNESS_CACHE=str(cache))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-4000:]
    assert "--pcap:" not in out, out[-3000:]  # it can capture: nothing to say
    (base,) = [t for t in json.loads((report / "results.json").read_text())["tests"] if t["name"] == "mptcp/base"]
    files = [line.split(": ", 1)[1] for line in base["output"] if line.startswith("Packet file: ")]
    assert files and all(re.fullmatch(r"packets-\d+-\d+-mptcp__base-mptcp_ns\.log", f) for f in files), base["output"]
    assert any(re.search(r"^lo +In +IPv4 127\.0\.0\.1:\d+ > 127\.0\.0\.1:\d+: TCP", line) for line in base["output"])
    assert "pcaps" not in base and not list((cache / "runs").rglob("packets-*.log"))
    assert harness_qemus(cache) == []


THIRD_FAILS = """name = "{name}"
runner = "shell"
test = "{name}"
timeout = 30
subtests = ["third_fails", "no_capture"]

[commands]
# pings lo; its third round fails (a counter in the persistent guest's /tmp, an overlay: the host's is not written)
third_fails = '''
n=$(cat /tmp/{name} 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /tmp/{name}
ping -c 3 -i 0.2 127.0.0.1 > /dev/null
if [ $n -eq 3 ]; then echo round $n fails; exit 1; fi
'''
no_capture = "true"

[capture]
# --immediate-mode: each packet to tcpdump as it comes (else a block of them a second later: stopped sooner, none)
third_fails = "tcpdump -i lo -s 128 -U --immediate-mode -w lo.pcap"
"""


def test_count_five_keeps_the_pcap_of_its_one_failing_round_only(tmp_path: Path) -> None:
    """A shell suite's capture command (its suite file's [capture]) beside a subtest that fails in round 3 of 5:
    that round's pcap is kept, named and excerpted (ping's ICMP as tcpdump decodes it); the others' are gone."""
    cache, report, name = own_cache(tmp_path), tmp_path / "report", f"third{os.getpid()}"
    suite = tmp_path / "third.toml"
    suite.write_text(THIRD_FAILS.format(name=name))
    run = run_pytest("-v", str(suite), "--count", "5", "--pcap", "--retries", "0", "--history", "off",
                     "--report-dir", str(report), timeout=900, HARNESS_CACHE=str(cache))
    out = run.stdout + run.stderr
    assert run.returncode == 1, out[-4000:]
    assert out.count(f"--pcap: {name}/no_capture capture no packets (the suite file's [capture] names no capture "
                     "command for them)") == 1, out[-3000:]
    tests = json.loads((report / "results.json").read_text())["tests"]
    failed = [t for t in tests if t["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["name"] == f"{name}/third_fails[3-5]", [(t["name"], t["status"]) for t in tests]
    (kept,) = [Path(p) for p in failed[0]["pcaps"]]
    assert kept.name == "lo.pcap" and kept.is_file(), failed[0]
    assert not [t for t in tests if "pcaps" in t and t is not failed[0]]
    assert sorted(cache.rglob("*.pcap")) == [kept]  # the passing rounds' are gone
    excerpt = [line for line in failed[0]["output"] if line.startswith("[pcap]")]
    assert re.search(r"lo.pcap: \d+ packets", excerpt[1]) and any("ICMP echo request" in x for x in excerpt), excerpt
    assert harness_qemus(cache) == []
