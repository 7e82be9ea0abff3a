"""--pcap's reading of a capture (harness/parse/pcap.py), on real captures (tests/data/README.md, pcap/)."""
import dataclasses
import os
import shutil
from pathlib import Path

from pytest import MonkeyPatch

from harness.data import SUITES_DIR
from harness.guest.commands import Batch, kselftest_argv, progs_argv, script
from harness.parse import pcap
from harness.parse.test_progs import Word, parse_test_progs
from harness.payload.selftests_bpf import Payload
from harness.results import Status, Subcase, SubtestResult, decide
from harness.run import pcaps
from harness.suites import load_suite

DATA = Path(__file__).parent / "data" / "pcap"
SUITE = load_suite(SUITES_DIR / "net_mptcp.toml")


def test_a_capture_is_read_with_its_mptcp_options_counted_and_its_last_packets_kept() -> None:
    c = pcap.read(DATA / "mptcp-lo-6.18.pcap")
    assert c.packets == 42 and c.error == ""
    assert c.options["capable"] == 3 and c.options["join"] == 3 and c.options["add-addr"] == 4
    assert c.options["dss"] > 20
    assert len(c.last) == pcap.LAST and "mptcp" in c.last[-1] and c.last[0].split()[0].replace(".", "").isdigit()
    assert c.summary().startswith("mptcp-lo-6.18.pcap: 42 packets; MPTCP options: dss ")


def test_a_capture_cut_short_gives_what_it_holds_and_says_why_it_ends() -> None:
    c = pcap.read(DATA / "mptcp-lo-6.18-cut.pcap")
    assert 0 < c.packets < 42 and c.options["capable"] == 3
    assert "truncated dump file" in c.error


def test_the_excerpt_shows_each_captures_last_packets_and_the_command_for_all_of_them() -> None:
    whole, cut = pcap.read(DATA / "mptcp-lo-6.18.pcap"), pcap.read(DATA / "mptcp-lo-6.18-cut.pcap", last=100)
    lines = pcap.excerpt([whole, cut])
    assert lines[0] == f"[pcap] {whole.summary()}" and len([x for x in lines if x.startswith("[pcap]   ")]) == 12 + 1 + cut.packets
    assert f"[pcap]   ... all 42: tcpdump -r {DATA / 'mptcp-lo-6.18.pcap'} -nn -v" in lines
    assert any("(tcpdump: pcap_loop: truncated dump file" in x for x in lines)


def guest_dir_with(tmp_path: Path, script: str, *names: str) -> Path:
    where = tmp_path / "pcap" / script
    where.mkdir(parents=True)
    for name in names:
        shutil.copy(DATA / "mptcp-lo-6.18.pcap", where / name)
    return tmp_path


def test_a_failed_script_keeps_its_pcaps_named_and_excerpted_a_passed_ones_are_deleted(tmp_path: Path) -> None:
    failed = guest_dir_with(tmp_path / "a", "mptcp_join", "mp_join-01-ns1.pcap", "mp_join-02-ns1.pcap")
    result = pcaps.kept(SubtestResult("net-mptcp/mptcp_join", Status.TIMEOUT, ("cut off",)), failed, SUITE)
    assert [Path(p).name for p in result.pcaps] == ["mp_join-01-ns1.pcap", "mp_join-02-ns1.pcap"]
    assert result.output[0] == "cut off" and result.output[1].startswith("[pcap] 2 capture(s) kept in ")
    assert any("mptcp" in line and "join" in line for line in result.output)
    passed = guest_dir_with(tmp_path / "b", "mptcp_connect", "x.pcap")
    assert pcaps.kept(SubtestResult("net-mptcp/mptcp_connect", Status.PASSED), passed, SUITE).pcaps == ()
    assert not (passed / "pcap" / "mptcp_connect").exists()
    nothing = SubtestResult("net-mptcp/diag", Status.FAILED)
    assert pcaps.kept(nothing, tmp_path / "c", SUITE) is nothing


def test_beyond_the_cap_the_oldest_captures_go_and_that_is_said(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    guest_dir = guest_dir_with(tmp_path, "simult_flows", "old.pcap", "new.pcap")
    os.utime(guest_dir / "pcap/simult_flows/old.pcap", (1, 1))
    monkeypatch.setattr(pcaps, "CAP_BYTES", (DATA / "mptcp-lo-6.18.pcap").stat().st_size)
    result = pcaps.kept(SubtestResult("net-mptcp/simult_flows", Status.FAILED), guest_dir, SUITE)
    assert [Path(p).name for p in result.pcaps] == ["new.pcap"] and "1 older one(s) deleted at the" in result.output[0]
    assert not (guest_dir / "pcap/simult_flows/old.pcap").exists()


def test_with_pcap_a_capturing_script_gets_its_suite_files_arguments_the_others_none() -> None:
    argv = kselftest_argv(SUITE, Batch(0, ("diag", "mptcp_join")), Path("/k"), capture=True)
    assert argv[-2:] == ["diag", "mptcp_join:-c"]
    assert kselftest_argv(SUITE, Batch(0, ("diag", "mptcp_join")), Path("/k"))[-2:] == ["diag", "mptcp_join"]
    unable, why = pcaps.unable(SUITE, ("diag", "mptcp_join", "pm_netlink"), None, "y")
    assert unable == ["net-mptcp/diag", "net-mptcp/pm_netlink"] and "[capture]" in why
    unable, why = pcaps.unable(SUITE, ("mptcp_join",), None, "n")
    assert unable == ["net-mptcp/mptcp_join"] and "CONFIG_PACKET is not set" in why


def test_a_failing_mptcp_join_keeps_the_pcaps_of_its_failing_sub_cases_only(tmp_path: Path) -> None:
    guest_dir = guest_dir_with(tmp_path, "mptcp_join", "mp_join-01-ns1-abc.pcap", "mp_join-02-ns1-abc.pcap",
                               "mp_join-03-ns2-abc.pcap")
    cases = (Subcase("001 no JOIN", Status.PASSED), Subcase("002 single subflow", Status.FAILED),
             Subcase("003 multiple subflows", Status.PASSED))
    result = pcaps.kept(SubtestResult("net-mptcp/mptcp_join", Status.FAILED, subcases=cases), guest_dir, SUITE)
    assert [Path(p).name for p in result.pcaps] == ["mp_join-02-ns1-abc.pcap"]
    assert sorted(f.name for f in (guest_dir / "pcap/mptcp_join").iterdir()) == ["mp_join-02-ns1-abc.pcap"]


def test_a_lost_scripts_pcaps_left_among_its_links_are_kept_and_the_links_removed(tmp_path: Path) -> None:
    """The guest died mid-script: kselftest.sh never moved the pcaps out of the directory of links it ran in."""
    installed = tmp_path / "install" / "mptcp_join.sh"
    installed.parent.mkdir()
    installed.write_text("#!/bin/sh\n")
    ran_in = tmp_path / "guest" / "pcap" / "mptcp_join" / "tree" / "mptcp"
    ran_in.mkdir(parents=True)
    (ran_in / "mptcp_join.sh").symlink_to(installed)
    shutil.copy(DATA / "mptcp-lo-6.18.pcap", ran_in / "mp_join-07-ns1-x.pcap")
    result = pcaps.kept(SubtestResult("net-mptcp/mptcp_join", Status.LOST), tmp_path / "guest", SUITE)
    assert [Path(p).name for p in result.pcaps] == ["mp_join-07-ns1-x.pcap"]
    assert not (tmp_path / "guest/pcap/mptcp_join/tree").exists() and installed.is_file()


def test_the_excerpt_is_of_the_newest_capture_that_holds_packets(tmp_path: Path) -> None:
    guest_dir = guest_dir_with(tmp_path, "mptcp_join", "mp_join-01-ns1-x.pcap")
    empty = guest_dir / "pcap/mptcp_join/mp_join-02-ns1-x.pcap"  # a pcap header only: cut off as tcpdump started
    empty.write_bytes((DATA / "mptcp-lo-6.18.pcap").read_bytes()[:24])
    result = pcaps.kept(SubtestResult("net-mptcp/mptcp_join", Status.TIMEOUT), guest_dir, SUITE)
    assert len(result.pcaps) == 2 and result.output[1].startswith("[pcap] mp_join-01-ns1-x.pcap: 42 packets"), result.output[:2]


def test_the_excerpt_passes_over_a_newest_capture_without_mptcp_for_the_one_before_it(tmp_path: Path) -> None:
    """Seen in ./run tests: mptcp_join cut off as its test 2 began, whose capture held only IPv6 chatter (real)."""
    guest_dir = guest_dir_with(tmp_path, "mptcp_join", "mp_join-01-ns1-x.pcap")
    chatter = guest_dir / "pcap/mptcp_join/mp_join-02-ns1-x.pcap"
    shutil.copy(DATA / "mptcp_join" / "no-mptcp-yet-mp_join-02.pcap", chatter)
    assert pcap.read(chatter).packets == 7 and not pcap.read(chatter).options
    os.utime(guest_dir / "pcap/mptcp_join/mp_join-01-ns1-x.pcap", (1, 1))  # the older one
    result = pcaps.kept(SubtestResult("net-mptcp/mptcp_join", Status.TIMEOUT), guest_dir, SUITE)
    assert len(result.pcaps) == 2 and result.output[1].startswith("[pcap] mp_join-01-ns1-x.pcap: 42 packets; MPTCP "
                                                                  "options: "), result.output[:2]


BPF_SUITE = load_suite(SUITES_DIR / "mptcp_bpf.toml")
MONITOR = DATA / "test_progs"


def monitor_dir(tmp_path: Path, *names: str) -> Path:
    """A guest dir whose test_progs ran with its traffic monitor: its real pcaps where tmon.sh binds them."""
    found = tmp_path / "guest" / pcaps.DIR / "test_progs"
    found.mkdir(parents=True)
    for name in names:  # kept as NAME.pcap: tests/data's *.log are text logs
        shutil.copy(MONITOR / f"{name}.pcap", found / name)
    return tmp_path / "guest"


def test_a_failing_test_progs_subtest_keeps_its_own_monitor_pcap_and_a_passing_ones_is_deleted(tmp_path: Path) -> None:
    base, subflow = "packets-78-0-mptcp__base-mptcp_ns.log", "packets-78-0-mptcp__subflow-mptcp_ns.log"
    guest_dir = monitor_dir(tmp_path, base, subflow)
    failed = pcaps.kept(SubtestResult("mptcp/base", Status.FAILED), guest_dir, BPF_SUITE)
    assert [Path(p).name for p in failed.pcaps] == [base]
    assert failed.output[0] == f"[pcap] 1 capture(s) kept in {guest_dir / 'pcap/test_progs'}"
    assert failed.output[1].startswith(f"[pcap] {base}: 12 packets; MPTCP options: ") and "capable" in failed.output[1]
    passed = pcaps.kept(SubtestResult("mptcp/subflow", Status.PASSED), guest_dir, BPF_SUITE)
    assert passed.pcaps == () and sorted(f.name for f in (guest_dir / "pcap/test_progs").iterdir()) == [base]


def test_a_monitor_pcap_is_its_subtests_by_the_whole_name_and_a_subtest_without_one_says_so(tmp_path: Path) -> None:
    guest_dir = monitor_dir(tmp_path, "packets-78-0-mptcp__subflow-mptcp_ns.log")
    found = guest_dir / "pcap/test_progs"
    assert pcaps.monitor_files(SubtestResult("mptcp/iters_subflow", Status.FAILED), found) == []
    assert len(pcaps.monitor_files(SubtestResult("mptcp/subflow", Status.FAILED), found)) == 1
    none = pcaps.kept(SubtestResult("mptcp/mptcpify", Status.FAILED), guest_dir, BPF_SUITE)
    assert none.pcaps == () and none.output == (f"[pcap] no capture of it in {found}",)


def test_the_monitors_lines_stay_in_the_subtests_output_and_its_result_is_read() -> None:
    parsed = parse_test_progs((MONITOR / "mptcp-base-failed.log").read_text())
    base = parsed.subtests["mptcp/base"]
    assert base.result is Word.FAIL
    assert "Packet file: packets-78-0-mptcp__base-mptcp_ns.log" in base.output
    assert any(line.startswith("lo      In  IPv4 127.0.0.1:") for line in base.output)


def test_test_progs_captures_only_when_built_with_its_traffic_monitor(tmp_path: Path) -> None:
    """The option's name is in test_progs only when its Makefile found libpcap; the run says so once otherwise."""
    (tmp_path / "test_progs").write_bytes(b"\x7fELF ... --verbose ... no monitor here")
    without = Payload(tmp_path, tmp_path / "test_progs", "t")
    unable, why = pcaps.unable(BPF_SUITE, ("base", "rr"), without, "y")
    assert unable == ["mptcp/base", "mptcp/rr"] and "built without libpcap" in why and str(tmp_path) in why
    (tmp_path / "test_progs").write_bytes(b"\x7fELF ... traffic-monitor ...")  # another build: another payload
    assert pcaps.unable(BPF_SUITE, ("base", "rr"), Payload(tmp_path, tmp_path / "test_progs", "t2"), "y") == ([], "")
    argv = progs_argv(BPF_SUITE, Batch(0, ("base",)), [Batch(0, ("base",))], tmp_path / "pcap")
    assert argv[:3] == ["sh", script("tmon.sh"), str(tmp_path / "pcap/test_progs")]
    assert argv[3:] == ["./test_progs", "-v", "-m", "mptcp", "-a", "mptcp/base"]


def test_mptcp_joins_tap_numbers_are_its_pcaps_numbers_in_a_real_run_with_two_failing_sub_cases(tmp_path: Path) -> None:
    """Its TAP said not ok 3 and 6; the pcaps of the five that passed are deleted, 03 and 06 kept (as they were)."""
    real = DATA / "mptcp_join"
    parsed = parse_test_progs((real / "mptcp_join-f-3-and-6-fail.log").read_text())
    (result,) = decide("net-mptcp", ["mptcp_join"], list(SUITE.subtests), parsed, True, nested=True, printed_by="{}.sh")
    assert [c.status for c in result.subcases].count(Status.FAILED) == 2
    names = [f"mp_join-0{n}-ns1-guJ075.pcap" for n in range(1, 8)]
    guest_dir = tmp_path / "guest"
    (guest_dir / "pcap/mptcp_join").mkdir(parents=True)
    for name in names:  # the five deleted in that run were named the same way
        shutil.copy(real / ("mp_join-06-ns1-guJ075.pcap" if name[9] == "6" else "mp_join-03-ns1-guJ075.pcap"),
                    guest_dir / "pcap/mptcp_join" / name)
    kept = pcaps.kept(result, guest_dir, SUITE)
    assert [Path(p).name for p in kept.pcaps] == ["mp_join-03-ns1-guJ075.pcap", "mp_join-06-ns1-guJ075.pcap"]


def test_a_scripts_capture_option_comes_first_then_its_own_arguments(tmp_path: Path) -> None:
    """[args] (mptcp_join = "-L": its laminar endpoint tests only) with and without --pcap; a script with [args] and
    no capture option keeps no pcap directory."""
    suite = dataclasses.replace(SUITE, args={"mptcp_join": "-L", "diag": "-x"})
    batch = Batch(0, ("diag", "mptcp_join", "pm_netlink"))
    assert kselftest_argv(suite, batch, Path("/k"))[-3:] == ["diag:-x", "mptcp_join:-L", "pm_netlink"]
    assert kselftest_argv(suite, batch, Path("/k"), capture=True)[-3:] == ["diag:-x", "mptcp_join:-c -L", "pm_netlink"]
    ran_in = tmp_path / "guest" / pcaps.DIR / "diag"
    ran_in.mkdir(parents=True)
    failed = SubtestResult("net-mptcp/diag", Status.FAILED)
    assert pcaps.kept(failed, tmp_path / "guest", suite) is failed and not ran_in.exists()


def test_junit_attaches_a_failures_pcaps_and_results_json_names_them(tmp_path: Path) -> None:
    import json
    import xml.etree.ElementTree as ET

    from harness.report.json import to_json
    from harness.report.junit import to_junit
    from harness.results import SuiteRun

    guest_dir = monitor_dir(tmp_path, "packets-78-0-mptcp__base-mptcp_ns.log")
    failed = pcaps.kept(SubtestResult("mptcp/base", Status.FAILED), guest_dir, BPF_SUITE)
    run = SuiteRun("mptcp", "k", (failed,))
    (pcap_file,) = failed.pcaps
    out = ET.fromstring(to_junit([run])).find(".//testcase[@name='mptcp/base']/system-out")
    assert out is not None and f"[[ATTACHMENT|{pcap_file}]]" in (out.text or "")
    assert json.loads(to_json([run]))["tests"][0]["pcaps"] == [pcap_file]
