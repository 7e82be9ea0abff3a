"""The shell the harness runs, in its guests and beside them, is in files (harness/guest/scripts) and passes shellcheck."""
import subprocess
from pathlib import Path

from harness.guest.commands import SCRIPTS
from tests.helpers import REPO_ROOT


def shell_files() -> list[Path]:
    return sorted([*SCRIPTS.glob("*.sh"), *(REPO_ROOT / "tests" / "data" / "capture").glob("*.sh")])


def test_every_script_passes_shellcheck() -> None:
    files = shell_files()
    assert {p.name for p in files} >= {"agent.sh", "batch.sh", "health.sh", "isolated.sh", "shell-suite.sh", "watchdog.sh",
                                       "kselftest.sh", "init.sh", "qemu.sh", "sshd.sh"}
    proc = subprocess.run(["shellcheck", "--severity=style", *map(str, files)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_python_module_writes_shell_of_its_own() -> None:
    """Python only calls the scripts: no shebang, loop or pipeline in a Python string of harness/."""
    offenders = []
    for path in sorted((REPO_ROOT / "harness").rglob("*.py")):
        text = path.read_text()
        for marker in ("#!/bin/", "; do\n", "\ndone\n", "while [ "):
            if marker in text:
                offenders.append(f"{path.name}: {marker.strip()}")
    assert offenders == []


def test_the_kselftest_runner_reports_pass_skip_failure_cut_off_and_missing_scripts_as_results(tmp_path: Path) -> None:
    """kselftest.sh run here on the host (it is plain sh): each script's exit status becomes a result line in test_progs'
    format, marked first in the "kernel log" (a file here), the cut-off one on a line of its own."""
    from harness.parse.test_progs import parse_test_progs
    from harness.results import Status, decide
    scripts = {"ok": "echo fine", "skips": "exit 4", "fails": "echo broken; exit 1", "hangs": "printf 'half a line'; sleep 30"}
    for name, body in scripts.items():
        (tmp_path / f"{name}.sh").write_text(f"#!/bin/sh\n{body}\n")
        (tmp_path / f"{name}.sh").chmod(0o755)
    kmsg = tmp_path / "kmsg"
    proc = subprocess.run(["sh", str(SCRIPTS / "kselftest.sh"), "0", "net-mptcp", str(tmp_path), "2",
                           "ok", "skips", "fails", "hangs", "gone"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "HARNESS_KMSG": str(kmsg)})
    assert proc.returncode == 1
    names = ["ok", "skips", "fails", "hangs", "gone"]
    got = {r.name: (r.status, r.reason) for r in decide("net-mptcp", names, names, parse_test_progs(proc.stdout), True,
                                                       nested=True)}
    assert got == {"net-mptcp/ok": (Status.PASSED, ""), "net-mptcp/skips": (Status.SKIPPED, ""),
                   "net-mptcp/fails": (Status.FAILED, "exit 1"), "net-mptcp/hangs": (Status.TIMEOUT, "cut off after 2 s"),
                   "net-mptcp/gone": (Status.NOT_IN_BUILD, "not in this build")}
    assert "half a line\n#1/4 net-mptcp/hangs:TIMEOUT" in proc.stdout
    assert kmsg.read_text().splitlines()[-1] == "<4>harness: batch 0 done #1/5 net-mptcp/gone:SKIP (not in this build)"
