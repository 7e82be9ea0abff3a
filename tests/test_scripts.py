"""The shell the harness runs, in its guests and beside them, is in files (harness/guest/scripts) and passes shellcheck."""
import subprocess
from pathlib import Path

from harness.guest.commands import SCRIPTS
from harness.settings import REPO_ROOT


def shell_files() -> list[Path]:
    return sorted([*SCRIPTS.glob("*.sh"), *(REPO_ROOT / "tests" / "data" / "capture").glob("*.sh")])


def test_every_script_passes_shellcheck():
    files = shell_files()
    assert {p.name for p in files} >= {"agent.sh", "batch.sh", "health.sh", "isolated.sh", "shell-suite.sh", "watchdog.sh"}
    proc = subprocess.run(["shellcheck", "--severity=style", *map(str, files)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_python_module_writes_shell_of_its_own():
    """Python only calls the scripts: no shebang, loop or pipeline in a Python string of harness/."""
    offenders = []
    for path in sorted((REPO_ROOT / "harness").rglob("*.py")):
        text = path.read_text()
        for marker in ("#!/bin/", "; do\n", "\ndone\n", "while [ "):
            if marker in text:
                offenders.append(f"{path.name}: {marker.strip()}")
    assert offenders == []
