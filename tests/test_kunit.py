"""net/mptcp's KUnit suites (suites/kunit_mptcp.toml): the suite file, what the guest's kunit.sh printed, read as any
runner's output, and a kernel without the modules told without a boot. Real output from tests/data/kunit (README)."""
from pathlib import Path
from typing import Any

import pytest

from harness.crashes import fingerprint
from harness.data import SUITES_DIR
from harness.errors import BadInput
from harness.kernel import Kernel, has_module
from harness.parse.console import IncidentKind, find_incidents, separate
from harness.parse.tap import parse_tap
from harness.parse.test_progs import parse_test_progs
from harness.report.ktap import to_ktap
from harness.results import NOT_IN_BUILD, Status, SuiteRun, decide
from harness.suites import Runner, load_suite

DATA = Path(__file__).parent / "data" / "kunit"
SUITE = load_suite(SUITES_DIR / "kunit_mptcp.toml")


def decided(log: str, subtest: str) -> dict[str, Any]:
    results = decide(SUITE.test, [subtest], list(SUITE.subtests), parse_test_progs((DATA / log).read_text()), True,
                     nested=SUITE.runner.nested, printed_by=SUITE.printed_by)
    return {r.name: r for r in results}


def test_the_suite_file_names_each_kunit_suite_of_net_mptcp_with_its_module() -> None:
    assert SUITE.runner is Runner.KUNIT and SUITE.runner.nested
    assert SUITE.modules == {"mptcp-crypto": "mptcp_crypto_test", "mptcp-token": "mptcp_token_test"}
    assert SUITE.full_name("mptcp-token") == "kunit-mptcp/mptcp-token"


def test_a_kunit_suite_file_without_a_module_per_suite_is_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text((SUITES_DIR / "kunit_mptcp.toml").read_text().replace('mptcp-token = "mptcp_token_test"\n', ""))
    with pytest.raises(BadInput, match=r"runner 'kunit' needs one entry in \[modules\] per subtest"):
        load_suite(bad)


def test_each_suites_test_cases_are_its_sub_cases_and_nest_in_ktap() -> None:
    token = decided("token-ok.log", "mptcp-token")["kunit-mptcp/mptcp-token"]
    crypto = decided("crypto-ok.log", "mptcp-crypto")["kunit-mptcp/mptcp-crypto"]
    assert token.status is Status.PASSED and crypto.status is Status.PASSED
    assert [c.name for c in token.subcases] == ["mptcp_token_test_req_basic", "mptcp_token_test_msk_basic",
                                               "mptcp_token_test_accept", "mptcp_token_test_destroyed"]
    assert [(c.name, c.status) for c in crypto.subcases] == [("mptcp_crypto_test_basic", Status.PASSED)]
    ktap = to_ktap([SuiteRun("kunit-mptcp", "tree", (crypto, token))])
    assert "        ok 4 mptcp_token_test_destroyed\n    ok 2 mptcp-token\n" in ktap


def test_a_failing_case_fails_its_suite_with_the_case_named_and_its_own_lines() -> None:
    crypto = decided("crypto-expectation-failed.log", "mptcp-crypto")["kunit-mptcp/mptcp-crypto"]
    assert crypto.status is Status.FAILED and crypto.reason == "1 of 1 sub-cases failed: mptcp_crypto_test_basic"
    (case,) = crypto.subcases
    assert case.status is Status.FAILED
    assert case.output[0] == "not ok 1 mptcp_crypto_test_basic"
    assert case.output[1] == "# mptcp_crypto_test_basic: EXPECTATION FAILED at net/mptcp/crypto_test.c:56"
    assert "KTAP version 1" not in case.output and "1..1" not in case.output
    assert crypto.output[0] == "failing sub-case: mptcp_crypto_test_basic" and "KUnit suite mptcp-crypto printed:" in crypto.output


def test_what_kunit_sh_reads_from_debugfs_is_the_suite_one_level_in() -> None:
    """The layer kunit.sh strips (sed '1,2d;$d', then 4 spaces): a KTAP of one result, the suite, with 4 children."""
    text = (DATA / "token-debugfs-results.ktap").read_text()
    lines = text.splitlines()
    assert lines[:2] == ["KTAP version 1", "1..1"] and lines[-1] == "ok 1 mptcp-token"
    log = parse_tap(separate(text)[0])
    assert [(r.name, r.depth) for r in log.results if r.depth == 0] == [("mptcp-token", 0)]
    assert len([r for r in log.results if r.depth == 1]) == 4
    inner = [ln.removeprefix("    ") for ln in lines[2:-1]]
    assert inner == (DATA / "token-ok.log").read_text().splitlines()[:len(inner)]


def test_the_bad_token_crash_is_a_warning_then_a_bug_an_oops_and_a_panic_with_their_frames() -> None:
    _, events = separate((DATA / "token-bad-token-console.log").read_text())
    incidents = find_incidents(events)
    assert [i.kind for i in incidents] == [IncidentKind.WARNING, IncidentKind.BUG, IncidentKind.OOPS, IncidentKind.PANIC]
    warning = incidents[0]
    assert "WARNING: net/mptcp/token.c:444 at mptcp_token_destroy" in warning.excerpt[0]
    assert fingerprint(warning.excerpt).startswith("mptcp_token_destroy")
    assert "mptcp_token_test_destroyed" in fingerprint(incidents[2].excerpt)


def test_has_module_reads_modules_dep_and_modules_builtin(tmp_path: Path) -> None:
    modules = tmp_path / "modules"
    modules.mkdir()
    (modules / "modules.dep").write_text((DATA / "lean-7.3-modules.dep").read_text())
    kernel = Kernel(tmp_path / "bzImage", "7.3.4+", modules, tmp_path / "vmlinux", "k")
    assert has_module(kernel, "mptcp_crypto_test") and has_module(kernel, "kunit")
    assert not has_module(kernel, "mptcp_crypto") and not has_module(kernel, "mptcp_test")
    (modules / "modules.dep").write_text("kernel/net/ipv4/tcp_bbr.ko:\n")
    (modules / "modules.builtin").write_text("kernel/net/mptcp/mptcp_token_test.ko\n")
    assert has_module(kernel, "mptcp_token_test") and not has_module(kernel, "mptcp_crypto_test")


def test_debians_kernel_has_the_suites_not_in_this_build_without_a_boot(tmp_path: Path) -> None:
    """Debian's 7.3 has no KUnit: both suites skipped, "not in this build", from its modules.dep; no guest."""
    from harness.pipeline import Prepared, Session
    from harness.settings import Settings
    from harness.suites import Selection
    from tests.helpers import default_kernel

    kernel = default_kernel()
    said: list[str] = []
    with Session(Settings(cache_dir=tmp_path / "cache"), Prepared(kernel, None, False, {}), said.append) as session:
        run = session.run(Selection(SUITE, SUITE.subtests))
    assert [(r.name, r.status, r.reason) for r in run.subtests] == [
        ("kunit-mptcp/mptcp-crypto", Status.NOT_IN_BUILD, NOT_IN_BUILD),
        ("kunit-mptcp/mptcp-token", Status.NOT_IN_BUILD, NOT_IN_BUILD)]
    assert said == ["kunit-mptcp: skipped, not in this build (the kernel has none of its modules: mptcp_crypto_test, "
                    "mptcp_token_test)"]
    assert not (tmp_path / "cache" / "runs").exists()
