"""Every program the harness or its guests run comes from a package the set-up installs.

The programs are found in the code (harness/host/__init__.py says how they are named there), not in a
hand list; each is looked up on this host and its owner asked of dpkg. Checked on any
machine, also one with more packages than the set-up installs: there a leftover would
otherwise hide a missing name.
"""
import ast
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from pytest import CaptureFixture, MonkeyPatch

from harness import guest, host
from harness.data import IMAGES_DIR, SUITES_DIR
from harness.host.setup import wanted_packages
from tests.helpers import REPO_ROOT

# programs the set-up cannot install for itself, with the reason
NOT_INSTALLED_BY_US = {"sudo": "only used when the set-up is not run as root, to install the rest"}
PROSE_CALLS = {"say", "print", "append", "UsageError", "add_argument", "add_parser", "addoption", "Option", "BadInput",
               "InfraError", "GuestDied", "_Stop", "write_line"}
SHELL_SEPARATORS = re.compile(r"\$\(|&&|\|\||[;|&(){}`\n]")
# builtins of dash and bash: no program runs for them
SHELL_BUILTINS = {"kill", "echo", "printf", "test", "[", "cd", "read", "wait", "true", "false", "trap", "set", "shift",
                  "type", "ulimit", "umask", "command", "getopts", "pwd", "hash", "times", "unset", "eval", "break",
                  "continue", ".", ":", "source", "readonly"}
SHELL_KEYWORDS = {"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case", "esac", "in",
                  "!", "exec", "export", "local", "return", "exit"}


def shell_commands(script: str) -> set[str]:
    """The command words of a piece of shell: the first word of each simple command."""
    words = set()
    script = re.sub(r"(^|\s)#[^\n]*", r"\1", script)  # comments
    for part in SHELL_SEPARATORS.split(script):
        tokens = [t for t in part.split() if not re.match(r"^\w+=", t)]  # VAR=value prefixes
        while tokens and tokens[0] in SHELL_KEYWORDS:
            tokens = tokens[1:]
        if tokens and re.fullmatch(r"[\w.+-]+", tokens[0]) and tokens[0] not in SHELL_BUILTINS:
            words.add(tokens[0])
    return words


def _called(call: ast.Call) -> str:
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def _looks_like_shell(text: str) -> bool:
    return "\n" in text or any(sep in text for sep in (" && ", " | ", "; ", "$("))


def programs_in_python(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef)) and n.body
                  and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    prose = {id(c) for n in ast.walk(tree) if isinstance(n, ast.Raise) or (isinstance(n, ast.Call) and _called(n) in PROSE_CALLS)
             for c in ast.walk(n)}  # messages to people, not commands
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            if _called(node) in ("require", "which", "find") and isinstance(node.args[0].value, str):
                found.add(node.args[0].value)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id.endswith("_PROGRAMS") for t in node.targets):
            found |= {e.value for e in getattr(node.value, "elts", []) if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        elif isinstance(node, ast.List):
            heads = [e for e in node.elts if not isinstance(e, ast.Starred)]
            if heads and isinstance(heads[0], ast.Constant) and isinstance(heads[0].value, str):
                found.add(heads[0].value)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings | prose:
            if _looks_like_shell(node.value):
                found |= shell_commands(node.value)
    return found


def scanned() -> set[str]:
    """Every word the code runs as a command (some are not programs: ./test_progs, shell builtins)."""
    found: set[str] = set()
    for path in sorted((REPO_ROOT / "harness").rglob("*.py")):
        found |= programs_in_python(path)
    for path in sorted((REPO_ROOT / "harness").rglob("*.sh")):
        found |= shell_commands(path.read_text())
    for path in sorted(SUITES_DIR.rglob("*.toml")):  # in-guest commands of shell suites
        for command in tomllib.loads(path.read_text()).get("commands", {}).values():
            found |= shell_commands(command)
    return found


def programs_in_code() -> set[str]:
    found = scanned()
    # on this host, and not one of the venv's own (vng, virtme-configkernel: pyproject's dependencies)
    venv_bin = Path(guest.vng_environment()["PATH"].split(":")[0])
    return {p for p in found if (where := host.find(p)) and Path(where).parent != venv_bin}


def owners(path: str) -> list[str]:
    """The packages owning each hop from `path` to the real file (alternatives and usrmerge links included)."""
    hops, seen = [], set()
    p = Path(path)
    while str(p) not in seen:
        seen.add(str(p))
        hops.append(p)
        if not p.is_symlink():
            break
        p = (p.parent / p.readlink()).resolve(strict=False) if not p.readlink().is_absolute() else p.readlink()
    found = []
    for hop in hops:
        for name in (str(hop), str(hop).removeprefix("/usr")):  # bookworm registers /bin/x as /bin/x
            out = subprocess.run(["dpkg", "-S", name], capture_output=True, text=True).stdout
            found += [line.split(":")[0] for line in out.splitlines() if line.endswith(f": {name}")]
    return found


def always_installed(package: str) -> bool:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Priority} ${Essential}", package], capture_output=True, text=True).stdout
    return out.startswith("required") or out.endswith(" yes")


def test_the_scan_finds_what_the_guests_and_builds_run() -> None:
    assert {"sshd", "ssh-keygen", "busybox", "qemu-system-x86_64", "make", "unshare", "stdbuf", "ip", "git", "awk"} <= scanned()


def test_every_program_named_for_its_package_or_required_by_vng_is_installed() -> None:
    """What the set-up installs is here (programs that are not found are not checked by the next test)."""
    wanted = set(host.packages_of()) | set(guest.VNG_PROGRAMS) | set(guest.SSH_PROGRAMS)
    assert [p for p in sorted(wanted) if host.find(p) is None] == []


def test_every_program_the_code_runs_is_named_with_the_package_that_has_it() -> None:
    named = set(wanted_packages())
    table = host.packages_of()
    problems = []
    for program in sorted(programs_in_code() - set(NOT_INSTALLED_BY_US)):
        packages = owners(str(host.find(program)))
        if not packages:
            problems.append(f"{program}: no package owns {host.find(program)}")
        elif any(always_installed(p) for p in packages):
            continue
        elif table.get(program) not in packages:
            problems.append(f"{program}: images/toolchain.toml [programs] says {table.get(program)!r}, dpkg -S says {packages}")
        elif table[program] not in named:
            problems.append(f"{program}: its package {table[program]} is not in images/toolchain.toml [packages]")
    assert problems == []


def test_the_programs_table_names_only_installed_packages() -> None:
    assert set(host.packages_of().values()) <= set(wanted_packages())
    assert (IMAGES_DIR / "toolchain.toml").is_file()


def test_a_missing_program_is_one_line_naming_its_package(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setattr(host, "find", lambda program, path=None: None)
    with pytest.raises(Exception) as e:
        host.require("sshd", "vng --ssh")
    assert str(e.value) == "sshd not found on this host (vng --ssh): install Debian's openssh-server (./run does)"
    assert guest.ssh_unavailable() == "no ssh-keygen (openssh-client), sshd (openssh-server) on this host"


def test_a_command_installs_only_its_groups_and_an_unknown_group_is_bad_input(capsys: CaptureFixture[str]) -> None:
    """./run mptcp needs no browser nor linter on a fresh machine: it names its groups."""
    from harness.host import setup as hostsetup

    assert wanted_packages(only=["python"]) == ["libsqlite3-0", "python3-venv"]
    mptcp = set(wanted_packages(only=["guest", "bpf_build", "python", "pcap"]))
    assert "clang-22" in mptcp and "libpcap-dev" in mptcp and "qemu-system-x86" in mptcp and not {"chromium", "shellcheck"} & mptcp
    assert hostsetup.main(["gpu"]) == 2
    assert "no package group gpu" in capsys.readouterr().err
