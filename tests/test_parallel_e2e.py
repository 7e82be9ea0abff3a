"""Real guests: isolation lets copies of a subtest run side by side; guests side by side; persistent guests; xdist."""
import json
import re
import shlex
import subprocess
import time
from pathlib import Path

import pytest

from harness import guest
from harness.kernel import debian
from harness.payload.selftests_bpf import build_test_progs
from harness.settings import Settings, default_cache_dir
from tests.helpers import REPO_ROOT, boots, harness_qemus, isolated, pytest_argv, pytest_env, run_pytest

pytestmark = pytest.mark.guest


def test_four_copies_of_a_subtest_pass_side_by_side_only_when_isolated(tmp_path: Path) -> None:
    settings = Settings(cache_dir=default_cache_dir())
    kernel = debian.fetch(debian.spec_for(None), settings.cache_dir)
    payload = build_test_progs(kernel, settings.cache_dir, settings.build_jobs, say=lambda _: None, tests=("mptcp",))
    usable, _ = guest.probe_kvm(kernel, settings.cache_dir)
    argv = ["./test_progs", "-a", "mptcp/base"]
    lines = [f"cd {shlex.quote(str(payload.directory))} || exit 1"]
    for kind in ("isolated", "plain"):
        for n in range(4):
            command = isolated(argv, str(tmp_path / f"scratch-{n}")) if kind == "isolated" else shlex.join(argv)
            lines.append(f"{command} > {tmp_path}/{kind}-{n}.log 2>&1 &")
        lines.append("wait")
    script = tmp_path / "run.sh"
    script.write_text("\n".join(lines) + "\nsync\n")
    exit_ = guest.run_once(guest.GuestConfig(kernel, 2, "2G", usable), tmp_path, script, 600)
    assert not exit_.timed_out

    def summary(kind: str, n: int) -> str:
        text = (tmp_path / f"{kind}-{n}.log").read_text()
        return next((ln for ln in text.splitlines() if ln.startswith("Summary:")), text[-500:])

    assert [summary("isolated", n) for n in range(4)] == ["Summary: 1/1 PASSED, 0 SKIPPED, 0/0 FAILED"] * 4
    # the same four without isolation collide on /run/netns/mptcp_ns: the isolation is what makes them pass
    assert any("FAILED" in summary("plain", n) and "1/1 FAILED" in summary("plain", n) for n in range(4))


def test_persistent_guest_runs_two_subtests_over_ssh_with_one_boot() -> None:
    before = len(boots())
    proc = run_pytest("-v", "suites", "--persistent-guest", "-k", "mptcp/base or mptcp/mptcpify")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout and "commands over ssh" in proc.stdout
    assert len(boots()) == before + 1
    assert harness_qemus() == []


def test_xdist_two_workers_each_subtest_once_no_qemu_left(tmp_path: Path) -> None:
    before = len(boots())
    selection = "mptcp/base or mptcp/mptcpify or mptcp/subflow or mptcp/rr"
    proc = run_pytest("suites", "-n", "2", "-k", selection, "--report-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "3 passed, 1 skipped" in proc.stdout
    per_worker = {d.name: json.loads((d / "results.json").read_text())["tests"] for d in tmp_path.iterdir() if d.is_dir()}
    assert set(per_worker) == {"gw0", "gw1"}  # both workers ran something
    names = [t["name"] for tests in per_worker.values() for t in tests]
    assert sorted(names) == ["mptcp/base", "mptcp/mptcpify", "mptcp/rr", "mptcp/subflow"]  # each once
    merged = json.loads((tmp_path / "results.json").read_text())["tests"]  # one report for the whole run
    assert sorted((t["name"], t["status"]) for t in merged) == [
        ("mptcp/base", "passed"), ("mptcp/mptcpify", "passed"), ("mptcp/rr", "skipped"), ("mptcp/subflow", "passed")]
    assert (tmp_path / "junit.xml").read_text().count("<testcase ") == 4
    ktap = re.findall(r"^    (ok|not ok) \d+ (\S+)(.*)$", (tmp_path / "results.ktap").read_text(), re.MULTILINE)
    assert sorted(ktap) == [("ok", "base", ""), ("ok", "mptcpify", ""), ("ok", "rr", " # SKIP not in this build"),
                            ("ok", "subflow", "")]
    assert all(t["duration_s"] > 0 for t in merged if t["status"] == "passed")  # timed as they ran
    assert len(boots()) == before + 2  # one guest per worker
    assert harness_qemus() == []


def qemus_at_most_while(proc: subprocess.Popen[str]) -> int:
    """The most harness QEMUs of the default cache seen running at once while proc runs (polled)."""
    most = 0
    while proc.poll() is None:
        most = max(most, sum("qemu-system" in line.split()[1] for line in harness_qemus()))  # (not their unshare)
        time.sleep(0.3)
    return most


def test_two_guests_side_by_side_each_run_a_share_of_the_batches_and_report_as_one_run(tmp_path: Path) -> None:
    argv = pytest_argv("-v", "suites", "-k", "mptcp/base or mptcp/mptcpify or mptcp/subflow", "--guests", "2",
                       "--report-dir", str(tmp_path / "reports"))
    proc = subprocess.Popen(argv, cwd=REPO_ROOT, env=pytest_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    at_once = qemus_at_most_while(proc)
    out = proc.stdout.read() if proc.stdout else ""
    assert proc.returncode == 0, out[-4000:]
    assert at_once == 2, out[-4000:]  # both guests ran at the same time
    assert "booting up to 2 guests" in out and "3 passed" in out
    doc = json.loads((tmp_path / "reports" / "results.json").read_text())
    assert {t["name"]: t["status"] for t in doc["tests"]} == {
        "mptcp/base": "passed", "mptcp/mptcpify": "passed", "mptcp/subflow": "passed"}
    run_dir = Path(re.findall(r"logs: (\S+)", out)[0])
    consoles = sorted(run_dir.glob("round-1/guest-*/console.log"))
    starts = [re.findall(r"harness: batch (\d+) start", c.read_text()) for c in consoles]
    assert sorted(starts) == [["0"], ["1"]], consoles  # a batch each, each guest its own console and markers
    assert harness_qemus() == []


def test_a_panic_in_one_of_two_guests_is_blamed_in_that_round_and_the_other_guest_passes(tmp_path: Path) -> None:
    proc = run_pytest("suites/canary/side_by_side.toml", "-v", "--guests", "2", "--report-dir", str(tmp_path))
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]  # a test failed
    doc = json.loads((tmp_path / "results.json").read_text())
    tests = {t["name"]: t for t in doc["tests"]}
    assert {n: t["status"] for n, t in tests.items()} == {"canary/crash": "failed", "canary/slow_pass": "passed"}, \
        proc.stdout[-4000:]
    assert tests["canary/crash"]["reason"] == "kernel panic: the guest died"
    assert any("sysrq triggered crash" in line for line in tests["canary/crash"]["output"])
    run_dir = Path(re.findall(r"logs: (\S+)", proc.stdout)[0])
    assert sorted(p.name for p in run_dir.iterdir() if p.is_dir()) == ["round-1"], proc.stdout[-3000:]  # no re-run alone
    assert harness_qemus() == []
