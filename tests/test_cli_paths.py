"""The plugin is a registered pytest plugin (pytest11): its options parse wherever their values point, from anywhere.

Each test runs the real `python -m pytest` in a fresh process, with real existing paths
outside the repository as option values (the way a user types them: `--kernel-image PATH`,
not `--kernel-image=PATH`), some from a working directory outside the repository.
"""
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from pytest import TempPathFactory

from harness.data import SUITES_DIR
from tests.helpers import REPO_ROOT, pytest_argv, pytest_env

SUITES = str(SUITES_DIR)


def pytest_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pytest_argv(*args), cwd=cwd, env=pytest_env(), capture_output=True, text=True, timeout=120)


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A directory tree outside the repository: a kernel 'tree' that is not one, a junk image, empty dirs."""
    (tmp_path / "tree").mkdir()
    (tmp_path / "modules").mkdir()
    (tmp_path / "progs").mkdir()
    (tmp_path / "reports").mkdir()
    (tmp_path / "vmlinuz").write_bytes(b"\0" * 4096)
    (tmp_path / "cwd").mkdir()
    return tmp_path


def test_kernel_tree_with_a_space_separated_real_path_reaches_the_harness(outside: Path) -> None:
    proc = pytest_in(outside / "cwd", SUITES, "-k", "mptcp/base", "--kernel-tree", str(outside / "tree"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, out
    assert "unrecognized arguments" not in out
    assert f"{outside / 'tree'} is not a kernel source tree" in out
    assert f"rootdir: {REPO_ROOT}" in out


def test_kernel_image_modules_test_progs_and_report_dir_outside_the_repo(outside: Path) -> None:
    proc = pytest_in(outside / "cwd", SUITES, "-k", "mptcp/base", "--kernel-image", str(outside / "vmlinuz"),
                     "--modules-dir", str(outside / "modules"), "--test-progs", str(outside / "progs"),
                     "--report-dir", str(outside / "reports"))
    out = proc.stdout + proc.stderr
    assert proc.returncode == pytest.ExitCode.USAGE_ERROR, out
    assert "unrecognized arguments" not in out and "Traceback" not in out
    assert f"{outside / 'vmlinuz'} is not an x86 bzImage" in out


def test_collection_from_the_repo_without_paths_takes_option_values_as_values(outside: Path) -> None:
    proc = pytest_in(REPO_ROOT, "--collect-only", "-q", "suites", "--kernel-tree", str(outside / "tree"),
                     "--report-dir", str(outside / "reports"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "32 tests collected" in proc.stdout  # 19 test_progs subtests, 11 net/mptcp scripts, 2 KUnit suites


def test_p_no_harness_turns_the_plugin_off(outside: Path) -> None:
    off = pytest_in(outside / "cwd", "-p", "no:harness", "--collect-only", "-q", SUITES)
    assert off.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, off.stdout + off.stderr
    unknown = pytest_in(outside / "cwd", "-p", "no:harness", "--collect-only", SUITES, "--kernel-tree", str(outside / "tree"))
    assert unknown.returncode == pytest.ExitCode.USAGE_ERROR
    assert "unrecognized arguments: --kernel-tree" in unknown.stderr


PROBE = '''
import sys
def pytest_collection_finish(session):
    names = (n for n, m in sys.modules.items() if n == "harness" or n.startswith("harness."))
    rewritten = [n for n in names if type(sys.modules[n].__spec__.loader).__name__ == "AssertionRewritingHook"]
    print("rewritten:", " ".join(sorted(rewritten)))
'''


@pytest.mark.parametrize("how", ["python -m pytest", "pytest"])
def test_pytest_rewrites_the_plugin_module_only_not_the_harness_library(tmp_path: Path, how: str) -> None:
    """pytest_harness.py, the entry point, keeps pytest's assertion rewriting off the harness's ~45 modules.

    Rewritten modules are parsed and compiled again at each start where pytest may not keep their
    bytecode (PYTHONDONTWRITEBYTECODE): ~0.25 s of every run here. From the repository's root, as
    ./run, bench/ and these tests start pytest; test_progs.py is rewritten for its name (test_*.py).
    """
    (tmp_path / "rewrite_probe.py").write_text(PROBE)
    argv = pytest_argv("-p", "rewrite_probe", "--collect-only", "-q", SUITES, "-k", "mptcp/base")
    if how == "pytest":
        argv[:3] = [str(Path(sys.executable).parent / "pytest")]
    env = pytest_env(PYTHONPATH=str(tmp_path), PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("rewritten:"))
    leftover = "" if not (REPO_ROOT / "mptcp_harness.egg-info").exists() else " (mptcp_harness.egg-info is in the "  \
        "repository's root: pip's editable install leaves it, ./run removes it; python -m pytest finds it there)"
    assert line.split()[1:] == ["harness.parse.test_progs", "harness.pytest_plugin"], line + leftover


def test_a_run_does_not_import_what_only_reports_and_ktap_need() -> None:
    """tap-py (with unittest) and junit-xml (with xml.dom and xml.etree) are imported where they are used: a
    test_progs run without --report-dir needs neither, and every pytest start paid ~20 ms for them here."""
    code = "import sys, pytest, harness.pytest_plugin; print(' '.join(m for m in ('tap', 'junit_xml') if m in sys.modules))"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
# a doc's placeholders, as words of a command: the tree and the files the test makes for them
PLACEHOLDERS = {"~/mptcp_net-next": "tree", "T": "tree", "bzImage": "bzImage", "lib/modules/7.3.0": "modules",
                "DIR": "dir", "N": None}
NOT_COMMANDS = {"pytest --shard", "pytest suites/... --kernel-tree /work/trees/linux-7.3"}  # an option named, an elision
WARNING = re.compile(r"warnings summary|\w+Warning\b|\d+ warnings?\b")


def doc_pytest_commands() -> list[str]:
    """Every pytest command of the README and docs/: the lines of their shell blocks, and those quoted in the text."""
    found: dict[str, None] = {}
    for doc in DOCS:
        text = doc.read_text()
        for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", text, re.S):
            for line in block.splitlines():
                found.update({c: None for c in [line.split("  #")[0].strip()] if c.startswith("pytest ")})
        found.update({c: None for c in re.findall(r"`(pytest [^`]*)`", text)})
    return [c for c in found if c not in NOT_COMMANDS]


@pytest.fixture(scope="module")
def given(tmp_path_factory: TempPathFactory) -> Path:
    """What the docs' placeholders name, outside the clone: a kernel tree (a git checkout), an image, a dir."""
    root = tmp_path_factory.mktemp("given")
    tree = root / "tree"
    (tree / "arch/x86").mkdir(parents=True)
    (tree / "Makefile").write_text("# a kernel tree's top, as harness.kernel.tree.is_tree knows one\n")
    (tree / "Kconfig").write_text("")
    (tree / "tools/testing/selftests/net/mptcp").mkdir(parents=True)  # for --selftests-tree
    (tree / "tools/testing/selftests/Makefile").write_text("")
    (tree / "tools/testing/selftests/net/mptcp/Makefile").write_text("")
    (tree / ".gitignore").write_text(".mptcp-harness-build-*/\n")
    subprocess.run(["git", "init", "-q"], cwd=tree, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tree, check=True)
    subprocess.run(["git", "-c", "user.name=A Developer", "-c", "user.email=dev@example.org", "commit", "-qm", "top"],
                   cwd=tree, check=True)
    (root / "bzImage").write_bytes(b"\0" * 4096)
    (root / "modules").mkdir()
    (root / "dir").mkdir()
    return root


ROOT_PROBE = '''
def pytest_collection_finish(session):
    print("probe rootdir:", session.config.rootpath, "inifile:", session.config.inipath)
    for item in session.items:
        print("probe item:", item.nodeid)
'''


@pytest.mark.parametrize("command", doc_pytest_commands())
def test_each_pytest_command_of_the_docs_collects_suites_only_rooted_at_the_clone(command: str, given: Path) -> None:
    """Found as a new user: `pytest -k mptcp` collected 11 of tests/ (slow kernel builds among them), and
    `--kernel-tree PATH` with a space made PATH pytest's rootdir (its ini unread, its markers unknown, a
    .pytest_cache in the user's tree). Each command as written (the harness's own tests only where it names
    them), with --collect-only (it boots nothing) and a probe plugin that prints the rootdir, the ini file and the
    items, whatever -q hides."""
    words = [str(given / (PLACEHOLDERS[w] or "")) if PLACEHOLDERS.get(w) else "2" if w in PLACEHOLDERS else w
             for w in shlex.split(command)]
    argv = [str(Path(sys.executable).parent / "pytest"), "-p", "root_probe", *words[1:]]
    if "--help" not in argv and "--co" not in argv and "--collect-only" not in argv:
        argv.append("--collect-only")
    (given / "probe").mkdir(exist_ok=True)
    (given / "probe/root_probe.py").write_text(ROOT_PROBE)
    env = pytest_env(PYTHONPATH=str(given / "probe"))
    proc = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    tree = given / "tree"
    assert subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=tree, capture_output=True, text=True,
                          check=True).stdout == ""
    if "--help" in argv:
        return
    assert not WARNING.search(out), out
    assert f"probe rootdir: {REPO_ROOT} inifile: {REPO_ROOT / 'pyproject.toml'}\n" in out, out
    items = re.findall(r"^probe item: (.*)$", out, re.M)
    own = any(w == "tests" or w.startswith("tests/") for w in words)  # `pytest tests`: the harness's own, named
    assert items and [i for i in items if not i.startswith("tests/" if own else "suites/")] == [], out
