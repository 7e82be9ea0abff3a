"""The net/mptcp kselftests suite offline: sub-cases parsed from real captured script output (tests/data/kselftests),
statuses decided, and nested in every report. No guest here: tests/test_kselftests_e2e.py boots one."""
import dataclasses
import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.data import SUITES_DIR
from harness.night_summary import ModeNight
from harness.parse.kselftest import parse_subcases
from harness.parse.test_progs import parse_test_progs
from harness.payload.kselftests import missing_options, settings_timeout
from harness.report.json import from_json, to_json
from harness.report.junit import to_junit
from harness.report.ktap import to_ktap
from harness.results import Status, SubtestResult, SuiteRun, decide, flaky, run_from_plain, run_to_plain
from harness.suites import Runner, Selection, Suite, load_suite

DATA = Path(__file__).parent / "data" / "kselftests"


def decided(log: str, scripts: list[str]) -> dict[str, Any]:
    results = decide("net-mptcp", scripts, scripts, parse_test_progs((DATA / log).read_text()), True, nested=True)
    return {r.name: r for r in results}


def test_the_suite_file_lists_the_eleven_scripts_of_the_directory() -> None:
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    assert suite.runner is Runner.KSELFTEST and suite.directory == "net/mptcp" and suite.timeout_from_settings
    assert len(suite.subtests) == 11 and suite.full_name("mptcp_join") == "net-mptcp/mptcp_join"


def test_a_failing_script_fails_with_its_failing_sub_cases_and_their_own_lines() -> None:
    found = decided("diag-fails-pm_netlink-passes.log", ["diag", "pm_netlink"])
    diag, pm = found["net-mptcp/diag"], found["net-mptcp/pm_netlink"]
    assert diag.status is Status.FAILED and len(diag.subcases) == 32
    assert diag.reason == "2 of 32 sub-cases failed: many msk socket present, ....chk many cestab"
    cases = {c.name: c for c in diag.subcases}
    leak = cases["many msk socket present"]
    assert leak.status is Status.TIMEOUT and leak.duration_s == pytest.approx(113.303)
    assert leak.reason == "timeout while expecting 200 max 0 last 0"  # what its title line said
    assert leak.output[0] == "not ok 24 - diag: many msk socket present # timeout time=113303ms"
    assert leak.output[-1].startswith("24 many msk socket present") and "connect(): Connection refused" in leak.output
    assert len(leak.output) == 1 + 15 + 1  # its TAP line, the last 15 lines before its title, the title
    assert cases["....chk many cestab"].status is Status.FAILED
    assert cases["....chk many msk in use"].status is Status.SKIPPED
    assert cases["....chk many msk in use"].reason == "Feature probably not supported"
    assert diag.output[0] == "failing sub-case: many msk socket present"
    assert "diag.sh printed:" in diag.output  # then the whole output
    assert pm.status is Status.PASSED and len(pm.subcases) == 21 and all(c.status is Status.PASSED for c in pm.subcases)
    assert pm.subcases[17].name == "(nobackup)" and pm.subcases[7].duration_s == pytest.approx(63.323)


def test_a_result_word_glued_to_the_scripts_words_still_gives_the_sub_case_its_lines_and_reason() -> None:
    """simult_flows prints "transfer slower than expected! ... ms[FAIL] client exit code 1, server 1" on the title line,
    and titles that begin like another sub-case's ("balanced bwidth" / "balanced bwidth - reverse direction")."""
    flows = decided("simult_flows-slower-than-expected.log", ["simult_flows"])["net-mptcp/simult_flows"]
    cases = {c.name: c for c in flows.subcases}
    assert flows.status is Status.FAILED and len(cases) == 10
    first = cases["balanced bwidth"]
    assert first.reason.startswith("transfer slower than expected! runtime 10470 ms, expected 7906 ms")
    assert first.reason.endswith("client exit code 1, server 1")
    assert first.output[0] == "not ok 1 - simult_flows: balanced bwidth # time=25722ms"
    assert first.output[1].startswith("01 balanced bwidth ")  # its own title, not its neighbour's
    second = cases["balanced bwidth - reverse direction"].output
    assert any(line.startswith("02 balanced bwidth - reverse direction") for line in second)
    assert not any(line.startswith("01 ") for line in second)
    assert cases["unbalanced bwidth"].status is Status.FLAKY  # [IGNO] (flaky), "# IGNORE Flaky" in its TAP
    assert cases["balanced bwidth with unbalanced delay"].status is Status.PASSED


def test_a_script_cut_off_by_its_timeout_has_the_sub_cases_its_titles_showed_and_is_a_timeout() -> None:
    found = decided("mptcp_connect_mmap-cut-off.log", ["mptcp_connect_mmap"])
    r = found["net-mptcp/mptcp_connect_mmap"]
    assert r.status is Status.TIMEOUT
    assert r.reason.startswith("cut off after 60 s, in sub-case ns1 MPTCP -> ns2 (dead:beef:1::2:10007) MPTCP")
    assert [c.status for c in r.subcases] == [Status.PASSED] * 9 + [Status.LOST]
    assert r.subcases[-1].reason == "the script stopped here"


def test_a_script_that_never_reported_is_lost_not_missing_from_the_build() -> None:
    found = decide("net-mptcp", ["diag", "pm_netlink"], ["diag", "pm_netlink"],
                   parse_test_progs("#1/1 net-mptcp/diag:OK\n#1 net-mptcp:OK\nSummary: 1/1 PASSED, 0 SKIPPED, 0/0 FAILED\n"),
                   True, nested=True)
    assert [r.status for r in found] == [Status.PASSED, Status.LOST]


def test_ignore_flaky_is_flaky_not_a_failure_and_a_retry_pass_makes_the_failed_sub_cases_flaky() -> None:
    cases = parse_subcases(("TAP version 13", "1..2", "ok 1 - mptcp_join: a # time=5ms",
                            "ok 2 - mptcp_join: b # IGNORE Flaky time=7ms"), "mptcp_join")
    assert [(c.name, c.flaky_ignored, c.duration_s) for c in cases] == [("a", False, 0.005), ("b", True, 0.007)]
    first = decided("diag-fails-pm_netlink-passes.log", ["diag"])["net-mptcp/diag"]
    again = decided("diag-fails-pm_netlink-passes.log", ["pm_netlink"])["net-mptcp/pm_netlink"]
    again = again.__class__(first.name, Status.PASSED, subcases=tuple(c.__class__(c.name, Status.PASSED)
                                                                     for c in first.subcases))
    merged = flaky(first, again, 1)
    assert merged.status is Status.FLAKY
    assert {c.name for c in merged.subcases if c.status is Status.FLAKY} == {"many msk socket present",
                                                                             "....chk many cestab"}


def test_sub_cases_are_nested_in_ktap_junit_and_json_and_survive_a_round_trip() -> None:
    found = decided("diag-fails-pm_netlink-passes.log", ["diag", "pm_netlink"])
    run = SuiteRun("net-mptcp", "debian:7.3.4", tuple(found.values()))
    ktap = to_ktap([run])
    assert "        # Subtest: diag" in ktap and "        1..32" in ktap
    assert "        not ok 24 many msk socket present # timeout: timeout while expecting 200 max 0 last 0" in ktap
    assert "    not ok 1 diag # failed: 2 of 32 sub-cases failed" in ktap
    cases = ET.fromstring(to_junit([run])).iter("testcase")
    names = [c.get("name") for c in cases]
    assert names.count("net-mptcp/diag") == 1 and len([n for n in names if (n or "").startswith("net-mptcp/diag/")]) == 32
    assert "net-mptcp/pm_netlink/defaults addr list" in names
    doc = json.loads(to_json([run]))
    subtests = doc["tests"][0]["subtests"]
    assert len(subtests) == 32 and subtests[23]["status"] == "timeout" and subtests[0]["duration_s"] == 3.734
    assert "output" in subtests[23] and "output" not in subtests[0]
    back = from_json(to_json([run]))[0]
    assert back.subtests[0].subcases[23].status is Status.TIMEOUT
    assert run_from_plain(run_to_plain(run)) == run  # what pytest-xdist sends back


def test_settings_timeout_and_config_options_missing_from_a_kernel(tmp_path: Path) -> None:
    (tmp_path / "settings").write_text("timeout=1800\n")
    assert settings_timeout(tmp_path / "settings") == 1800 and settings_timeout(tmp_path / "none") == 45
    (tmp_path / "config").write_text("CONFIG_MPTCP=y\nCONFIG_VETH=y\nCONFIG_NFT_SOCKET=m\nCONFIG_INET_DIAG=m\n")
    (tmp_path / ".config").write_text("CONFIG_MPTCP=y\nCONFIG_VETH=m\n# CONFIG_NFT_SOCKET is not set\nCONFIG_INET_DIAG=y\n")
    from harness.kernel import Kernel
    from harness.payload.kselftests import KselftestPayload
    kernel = Kernel(tmp_path / "bzImage", "r", None, tmp_path / "vmlinux", "k", build_dir=tmp_path)
    payload = KselftestPayload(tmp_path, "p", 1800, tmp_path / "config")
    assert missing_options(payload, kernel) == ["CONFIG_NFT_SOCKET=m"]  # m for y is enough, y for m too


def test_a_kernel_lacking_the_directorys_options_gets_its_scripts_skipped_with_them_named_without_a_boot(tmp_path: Path) -> None:
    from harness.kernel import Kernel
    from harness.payload.kselftests import KselftestPayload
    from harness.pipeline import Prepared, Session
    from harness.settings import Settings
    (tmp_path / "config").write_text("CONFIG_MPTCP=y\nCONFIG_MPTCP_IPV6=y\n")
    (tmp_path / ".config").write_text("CONFIG_MPTCP=y\n# CONFIG_MPTCP_IPV6 is not set\n")
    kernel = Kernel(tmp_path / "bzImage", "r", None, tmp_path / "vmlinux", "k", build_dir=tmp_path)
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    prepared = Prepared(kernel, None, False, {suite.name: KselftestPayload(tmp_path, "p", 1800, tmp_path / "config")})
    said: list[str] = []
    with Session(Settings(cache_dir=tmp_path / "cache"), prepared, said.append) as session:
        run = session.run(pipeline_selection(suite, ("diag", "pm_netlink")))
    assert [(r.name, r.status) for r in run.subtests] == [("net-mptcp/diag", Status.SKIPPED),
                                                          ("net-mptcp/pm_netlink", Status.SKIPPED)]
    assert run.subtests[0].reason == "the kernel lacks CONFIG_MPTCP_IPV6=y (net/mptcp/config)"
    assert said == ["net-mptcp: skipped, the kernel lacks CONFIG_MPTCP_IPV6=y (net/mptcp/config)"]


def test_the_timeout_is_the_settings_files_times_the_tcg_factor_and_kvm_runs_it_as_is(tmp_path: Path) -> None:
    from harness.kernel import Kernel
    from harness.payload.kselftests import KselftestPayload
    from harness.pipeline import Prepared, Session
    from harness.settings import TCG_TIMEOUT_FACTOR, Settings
    kernel = Kernel(tmp_path / "bzImage", "r", None, tmp_path / "vmlinux", "k")
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    for kvm, expected in ((False, 1800 * TCG_TIMEOUT_FACTOR), (True, 1800)):
        prepared = Prepared(kernel, None, kvm, {suite.name: KselftestPayload(tmp_path, "p", 1800, None)})
        with Session(Settings(cache_dir=tmp_path / "cache"), prepared, print) as session:
            assert session._timed(suite).timeout_s == expected


def pipeline_selection(suite: Suite, subtests: tuple[str, ...]) -> Selection:
    return Selection(suite, subtests)


def test_a_program_the_scripts_need_missing_on_the_host_is_one_line_before_anything_is_fetched(tmp_path: Path) -> None:
    import dataclasses

    from harness import pipeline
    from harness.errors import BadInput
    from harness.settings import Settings
    suite = load_suite(SUITES_DIR / "net_mptcp.toml")
    suite = dataclasses.replace(suite, programs=(*suite.programs, "no-such-tool"))
    with pytest.raises(BadInput) as e:
        pipeline.prepare(pipeline.PrepareRequest.of(Settings(cache_dir=tmp_path / "cache")), [suite], print)
    assert str(e.value).startswith("not on this host, and the selected suites' scripts run them in the guest: "
                                   "no-such-tool")
    assert not (tmp_path / "cache" / "kernels").exists()


def test_kcidb_has_a_test_per_sub_case_one_level_below_its_script_and_validates() -> None:
    from harness.expectations import Expectations
    from harness.night_summary import NightSummary
    from harness.nightly import summary as nights
    from harness.report.kcidb import to_kcidb
    found = decided("diag-fails-pm_netlink-passes.log", ["diag", "pm_netlink"])
    mode = ModeNight("normal", "k", 1.0, {"net-mptcp": 300.0}, [SuiteRun("net-mptcp", "k", tuple(found.values()))])
    summary = nights.summarize(NightSummary("n1", "2026-11-26T05:00:00+00:00"), [mode], None, Expectations(), [])
    tests = {t["path"]: t for t in to_kcidb(summary, [mode])["tests"]}  # validated inside
    assert len(tests) == 2 + 32 + 21
    assert tests["net-mptcp.diag"]["status"] == "FAIL"
    leak = tests["net-mptcp.diag.many_msk_socket_present"]
    assert leak["status"] == "FAIL" and leak["duration"] == 113.303 and leak["misc"]["harness_status"] == "timeout"


def test_skips_are_counted_by_their_reason_the_scripts_own_words_for_its_sub_cases() -> None:
    """diag's four "[SKIP] Feature probably not supported" (mptcp_lib's words, in its real log), in the terminal's
    totals and in a night's summary; a subtest skipped without a word of why is counted as such."""
    from harness.expectations import Expectations
    from harness.night_summary import NightSummary
    from harness.nightly import summary as nights
    from harness.report.console import totals_line
    from harness.results import skips_by_reason

    found = list(decided("diag-fails-pm_netlink-passes.log", ["diag", "pm_netlink"]).values())
    assert totals_line(found) == "1 passed, 1 failed; sub-cases skipped: 4 (4 Feature probably not supported)"
    found.append(SubtestResult("net-mptcp/userspace_pm", Status.SKIPPED))
    found.append(SubtestResult("net-mptcp/nosuch", Status.NOT_IN_BUILD))
    assert skips_by_reason(found) == ({"no reason given": 1, "not in this build": 1}, {"Feature probably not supported": 4})
    mode = ModeNight("6.12", "k", 1.0, {"net-mptcp": 300.0}, [SuiteRun("net-mptcp", "k", tuple(found))])
    text = nights.text(nights.summarize(NightSummary("n1", "2026-12-06T05:00:00+00:00"), [mode], None, Expectations(), []))
    assert "6.12: skipped: 2 (1 no reason given, 1 not in this build)" in text
    assert "6.12: sub-cases skipped: 4 (4 Feature probably not supported)" in text


def join_run(log: str, kernel: str) -> SuiteRun:
    parsed = parse_test_progs((DATA.parent / "pcap" / "mptcp_join" / log).read_text())
    return SuiteRun("net-mptcp", kernel, tuple(decide("net-mptcp", ["mptcp_join"], ["mptcp_join"], parsed, True, nested=True)))


def test_a_kernels_night_lists_what_an_older_kernel_fails_and_the_newest_passes_with_its_checkout_in_kcidb() -> None:
    """Two real runs of mptcp_join -f (tests/data/pcap/mptcp_join: sub-cases 3 and 6 failing in one) as the columns of
    a kernels night, oldest first: the older one's two failing sub-cases are listed by name, and KCIDB has a build per
    kernel under one checkout, the selftests' commit."""
    from harness.expectations import Expectations
    from harness.night_summary import NightSummary, from_json, to_json
    from harness.nightly import summary as nights
    from harness.report.kcidb import to_kcidb

    modes = [ModeNight("6.12", "debian:6.12", 0.0, {}, [join_run("mptcp_join-f-3-and-6-fail.log", "debian:6.12")]),
             ModeNight("7.3", "debian:7.3", 0.0, {}, [join_run("mptcp_join-f-passes.log", "debian:7.3")])]
    header = NightSummary("2026-12-06-abc", "2026-12-06T01:00:00+00:00", source="/src/linux", commit="c" * 40)
    told = dataclasses.replace(nights.summarize(header, modes, None, Expectations(), []),
                               older_failures=nights.older_failures(modes))
    assert told.older_failures == {"6.12": ("net-mptcp/mptcp_join/multiple subflows, limited by server",
                                            "net-mptcp/mptcp_join/single subflow, limited by server")}
    text = "\n".join(nights.text(told))
    assert "failed on an older kernel, passed on 7.3 (a feature check the selftest may lack): 2\n" \
           "  6.12:net-mptcp/mptcp_join/multiple subflows, limited by server\n" in text
    assert from_json(to_json(told)).older_failures == told.older_failures
    assert nights.older_failures(modes[::-1]) == {}  # the newest failing is not an older kernel's missing check
    data = to_kcidb(told, modes)
    (checkout,) = data["checkouts"]
    assert checkout["git_commit_hash"] == "c" * 40 and checkout["misc"] == {"source": "/src/linux"}
    assert [(b["config_name"], b["comment"], b["checkout_id"]) for b in data["builds"]] == [
        ("6.12", "debian:6.12", checkout["id"]), ("7.3", "debian:7.3", checkout["id"])]


def test_mptcp_joins_skips_keep_the_words_it_printed_below_their_titles() -> None:
    """7.3's laminar endpoint tests on 6.12 (a real run): five "Feature not supported [SKIP]", each on the line after
    its title; and a failing check's own words as its sub-case's reason (the lean 7.3 run with 3 and 6 failing)."""
    from harness.report.console import totals_line

    (script,) = decided("mptcp_join-L-7.3-on-6.12-skips.log", ["mptcp_join"]).values()
    assert script.status is Status.PASSED and len(script.subcases) == 5
    assert {(c.status, c.reason) for c in script.subcases} == {(Status.SKIPPED, "Feature not supported")}
    assert totals_line([script]) == "1 passed; sub-cases skipped: 5 (5 Feature not supported)"
    failed = [c for c in join_run("mptcp_join-f-3-and-6-fail.log", "k").subtests[0].subcases if c.status is Status.FAILED]
    assert [c.reason for c in failed] == ["syn rejected: got 0 JOIN[s] syn rejected expected 1"] * 2
