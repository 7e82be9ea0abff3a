"""The README is kept true: short, undated, every file and option it names exists, and its commands that need no
guest run as written (a saved log and a nights dir from tests/data standing in for the user's own)."""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from harness.settings import OPTIONS
from tests.helpers import REPO_ROOT, pytest_env

README = REPO_ROOT / "README.md"
DOCS = sorted((REPO_ROOT / "docs").glob("*.md"))
COMMANDS = ("parse", "merge", "guests", "cache", "shell", "bisect", "bisect-step", "verify-fix", "nightly", "report",
            "flakes")
PATH = re.compile(r"(?<![\w~/.-])((?:harness|suites|images|kernel-configs|expectations|docs|tests|bench|\.github)/[\w./{},*-]*\w)")
FLAG = re.compile(r"(?<![\w-])(--[a-z][a-z0-9-]+)")
DATED = re.compile(r"\b20\d\d-\d\d-\d\d\b|\b(?:at|commit) [0-9a-f]{7,}\b")


def code_lines(text: str) -> list[str]:
    """The shell lines of the ```sh blocks, comments dropped."""
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    return [ln.split("  #")[0].strip() for b in blocks for ln in b.splitlines() if ln.strip()]


def help_text(*argv: str) -> str:
    run = subprocess.run([sys.executable, *argv, "--help"], cwd=REPO_ROOT, env=pytest_env(), capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return run.stdout


def test_the_readme_is_a_guide_of_at_most_250_lines_with_no_dated_run() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= 250
    assert [ln for ln in lines if DATED.search(ln)] == []


@pytest.mark.parametrize("doc", [README, *DOCS], ids=lambda p: p.name)
def test_every_file_a_doc_names_exists(doc: Path) -> None:
    text = doc.read_text()
    named = set(PATH.findall(text)) | {f"docs/{m}" for m in re.findall(r"\]\((?:docs/)?([\w-]+\.(?:md|png))\)", text)}
    missing = []
    for name in sorted(named):
        expanded = re.sub(r"\{([^}]*)\}", lambda m: m.group(1).split(",")[0], name)  # a{b,c}.py: the first
        if "*" in expanded or "<" in expanded:
            continue
        if not (REPO_ROOT / expanded).exists() and not (REPO_ROOT / "harness/guest/scripts" / expanded).exists():
            missing.append(name)
    assert missing == [], f"{doc.name} names files that do not exist: {missing}"


def test_every_option_the_readme_names_is_one_a_command_takes() -> None:
    """Renaming an option (in OPTIONS, a command's parser or pytest) without the README fails here."""
    known = set(FLAG.findall(help_text("-m", "pytest", "-p", "no:cacheprovider")))
    for command in COMMANDS:
        known |= set(FLAG.findall(help_text("-m", "harness", command)))
    named = set(FLAG.findall(README.read_text()))
    assert named - known == set()
    documented = (REPO_ROOT / "docs" / "options.md").read_text()
    for o in OPTIONS:
        assert o.flag in documented and f"harness_{o.key}" in documented and f"$HARNESS_{o.key.upper()}" in documented


def runnable(line: str, tmp_path: Path) -> list[str] | None:
    """The README's command as it runs here without a guest, or None: a saved log and nights from tests/data."""
    argv = shlex.split(line)
    if argv[:1] == ["pytest"] and "--collect-only" in argv:
        return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *argv[1:]]
    if argv[:4] == ["python", "-m", "harness", "parse"]:
        capture = str(REPO_ROOT / "tests/data/test_progs/full-mptcp-7.3-ok.log")
        argv = [capture if a == "saved.log" else str(tmp_path / a) if a.endswith(".json") else a for a in argv]
    elif argv[:4] == ["python", "-m", "harness", "report"]:
        argv = [str(REPO_ROOT / "tests/data/nights") if a == "~/nights" else str(tmp_path / a) if a.endswith(".html")
                else a for a in argv]
    elif argv[:4] == ["python", "-m", "harness", "guests"]:
        argv = [*argv, "--cache", str(tmp_path / "cache")]
    else:
        return None
    return [sys.executable, *argv[1:]]


def test_the_readmes_commands_that_need_no_guest_run_as_written(tmp_path: Path) -> None:
    ran = []
    for line in code_lines(README.read_text()):
        argv = runnable(line, tmp_path)
        if argv is None:
            continue
        run = subprocess.run(argv, cwd=REPO_ROOT, env=pytest_env(), capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, f"{line}: exit {run.returncode}\n{run.stdout[-2000:]}\n{run.stderr[-2000:]}"
        ran.append(line)
    assert len(ran) >= 5, ran  # collect-only, parse, report, guests, guests stop
    assert (tmp_path / "nights.html").stat().st_size > 1000
    assert '"mptcp/base"' in (tmp_path / "out.json").read_text()


def test_every_command_has_a_complete_help_with_an_example() -> None:
    """Found at 1191709: `nightly --help` said "[harness options]" and listed none."""
    for command in COMMANDS:
        text = help_text("-m", "harness", command)
        assert "\nexample:\n  " in text, f"{command} --help has no example"
        if "harness options" in text:
            assert [o.flag for o in OPTIONS if o.flag not in text] == [], f"{command} --help lacks harness options"
