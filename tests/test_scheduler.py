"""What the scheduler asks the guest to run."""
from pathlib import Path

from harness import guest
from harness.kernel import Kernel
from harness.scheduler import RunRequest, allow_pattern, guest_script
from harness.selftests import Payload
from harness.settings import SUITES_DIR
from harness.suites import load_suite

SUITE = load_suite(SUITES_DIR / "mptcp_bpf.toml")
KERNEL = Kernel(Path("/k/vmlinuz"), "7.3.4+deb13-amd64", Path("/k/mods"), Path("/k/vmlinux"), "debian:test")


def test_selection_is_exact_names_not_substrings():
    assert allow_pattern(SUITE, ("subflow",)) == "mptcp/subflow"
    assert allow_pattern(SUITE, ("base", "rr")) == "mptcp/base,mptcp/rr"


def test_whole_suite_runs_the_whole_test_so_extra_subtests_show():
    assert allow_pattern(SUITE, SUITE.subtests) == "mptcp"


def test_guest_script_runs_from_the_payload_and_records_exit_status(tmp_path):
    req = RunRequest(SUITE, ("base",), Payload(Path("/p"), Path("/p/test_progs"), "x"),
                     guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, 60)
    script = guest_script(req)
    assert "cd /p " in script
    assert f"./test_progs -a mptcp/base > {tmp_path}/test_progs.log 2>&1" in script
    assert f"echo $? > {tmp_path}/test_progs.rc" in script


def test_vng_command_line_gives_modules_and_chooses_accelerator(tmp_path):
    argv = guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", False), tmp_path, "sh run.sh")
    assert argv[:3] == ["vng", "--run", "/k/vmlinuz"]
    assert "--rodir" in argv and argv[argv.index("--rodir") + 1] == "/lib/modules/7.3.4+deb13-amd64=/k/mods"
    assert argv[argv.index("--rwdir") + 1] == str(tmp_path)
    assert "--disable-kvm" in argv
    assert "--disable-kvm" not in guest.vng_argv(guest.GuestConfig(KERNEL, 2, "2G", True), tmp_path, "x")
