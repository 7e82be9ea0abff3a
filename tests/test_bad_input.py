"""Bad input: one line saying what is wrong and what to do, no traceback; pytest's usage-error exit (4)."""
from pathlib import Path

import pytest
from pytest import MonkeyPatch, Pytester, RunResult

from harness.cache import require_free_space
from harness.data import SUITES_DIR
from harness.errors import BadInput

pytest_plugins = ["pytester"]
SUITE_FILE = str(SUITES_DIR / "mptcp_bpf.toml")


def run(pytester: Pytester, *args: str) -> RunResult:
    return pytester.runpytest_inprocess(SUITE_FILE, *args)


def one_line_error(result: RunResult, *words: str) -> str:
    text = "\n".join(result.outlines + result.errlines)
    assert "Traceback" not in text
    lines = [ln for ln in text.splitlines() if all(w in ln for w in words)]
    assert lines, text
    return lines[0]


def test_unknown_kernel_name(pytester: Pytester) -> None:
    result = run(pytester, "-k", "mptcp/base", "--kernel", "linux-9.9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "unknown Debian kernel 'linux-9.9'", "images/debian.toml")


@pytest.mark.parametrize("args,words", [
    (["--guest-cpus", "0"], ["--guest-cpus", "at least 1"]),
    (["--guest-cpus", "two"], ["--guest-cpus", "'two' is not an int"]),
    (["--kvm", "maybe"], ["--kvm", "invalid choice"]),
    (["--persistent-guest", "--concurrency", "2"], ["--concurrency", "--persistent-guest", "choose one"]),
    (["--persistent-guest", "--guests", "2"], ["--guests", "--persistent-guest", "choose one"]),
    (["--guests", "0"], ["--guests", "must be at least 1"]),
    (["--retries", "-1"], ["--retries", "at least 0"]),
])
def test_bad_or_conflicting_options(pytester: Pytester, args: list[str], words: list[str]) -> None:
    result = run(pytester, "--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, *words)


def test_bad_value_from_the_environment(pytester: Pytester, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_DEADLINE", "soon")
    result = run(pytester, "--collect-only")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "$HARNESS_DEADLINE", "'soon' is not a float")


def test_ini_file_with_an_unknown_harness_key(pytester: Pytester) -> None:
    ini = pytester.makefile(".ini", tox="[pytest]\nharness_guest_cpu = 4\n")
    result = run(pytester, "--collect-only", "-c", str(ini))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "tox.ini: unknown key(s) harness_guest_cpu", "harness_guest_cpus")


def test_ini_value_is_used(pytester: Pytester) -> None:
    ini = pytester.makefile(".ini", tox="[pytest]\nharness_guest_cpus = 0\n")
    result = run(pytester, "--collect-only", "-c", str(ini))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "tox.ini: harness_guest_cpus", "at least 1")


def test_unknown_subtest_named_explicitly(pytester: Pytester) -> None:
    result = pytester.runpytest_inprocess(f"{SUITE_FILE}::mptcp/nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "not found", "mptcp/nope")


def test_malformed_suite_file(pytester: Pytester) -> None:
    bad = pytester.path / "suites"
    bad.mkdir()
    (bad / "x.toml").write_text("name = 'x'\ntest = 'y'\n")
    from harness import pytest_plugin
    original = pytest_plugin.SUITES_DIR  # type: ignore[attr-defined]
    pytest_plugin.SUITES_DIR = bad  # type: ignore[attr-defined]
    try:
        result = pytester.runpytest_inprocess(str(bad / "x.toml"))
    finally:
        pytest_plugin.SUITES_DIR = original  # type: ignore[attr-defined]
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "x.toml", "missing or malformed key", "subtests")


def test_qemu_missing_is_said_before_any_download(pytester: Pytester, monkeypatch: MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    result = run(pytester, "-k", "mptcp/base", "--harness-cache", str(tmp_path / "cache"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "not on this host", "qemu-system-x86_64 (qemu-system-x86)", "busybox (busybox-static)")
    assert not (tmp_path / "cache").exists()


def test_not_enough_disk(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"not enough disk for a test_progs build: .* GB free under .*HARNESS_CACHE"):
        require_free_space(tmp_path / "cache", 1e9, "a test_progs build")


def test_kernel_image_missing_or_not_a_bzimage(pytester: Pytester, tmp_path: Path) -> None:
    result = run(pytester, "-k", "mptcp/base", "--kernel-image", str(tmp_path / "bzImage"), "--test-progs", str(tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "cannot read kernel image", "bzImage")
    junk = tmp_path / "junk"
    junk.write_bytes(b"\0" * 4096)
    result = run(pytester, "-k", "mptcp/base", "--kernel-image", str(junk), "--test-progs", str(tmp_path))
    one_line_error(result, "is not an x86 bzImage")


def test_kernel_tree_that_is_not_a_tree(pytester: Pytester, tmp_path: Path) -> None:
    result = run(pytester, "-k", "mptcp/base", "--kernel-tree", str(tmp_path))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "is not a kernel source tree")


@pytest.mark.parametrize("args,words", [
    (["--kernel", "x", "--kernel-tree", "/t"], ["--kernel and --kernel-tree", "give one"]),
    (["--kernel-mode", "debug"], ["--kernel-mode only goes with --kernel-tree"]),
    (["--modules-dir", "/m"], ["--modules-dir only goes with --kernel-image"]),
])
def test_conflicting_kernel_choices(pytester: Pytester, args: list[str], words: list[str]) -> None:
    result = run(pytester, "--collect-only", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, *words)


def test_test_progs_dir_without_test_progs_or_built_for_another_kernel(tmp_path: Path) -> None:
    import json

    from harness.kernel import Kernel
    from harness.payload.selftests_bpf import given_test_progs

    kernel = Kernel(tmp_path / "bzImage", "7.3.4", None, tmp_path / "vmlinux", "debian:7.3.4")
    with pytest.raises(BadInput, match=r"no test_progs in"):
        given_test_progs(tmp_path, kernel)
    (tmp_path / "test_progs").write_text("")
    (tmp_path / "payload.json").write_text(json.dumps({"kernel": "debian:6.12.57"}))
    with pytest.raises(BadInput, match=r"built against the BTF of debian:6.12.57, not debian:7.3.4"):
        given_test_progs(tmp_path, kernel)


def test_test_progs_of_the_same_image_under_another_name_is_accepted(tmp_path: Path) -> None:
    import hashlib
    import json

    from harness.kernel import Kernel
    from harness.payload.selftests_bpf import given_test_progs

    image = tmp_path / "vmlinuz"
    image.write_bytes(b"kernel bytes")
    (tmp_path / "test_progs").write_text("")
    (tmp_path / "payload.json").write_text(json.dumps(
        {"kernel": "debian:7.3.4", "image_sha256": hashlib.sha256(b"kernel bytes").hexdigest()}))
    kernel = Kernel(image, "7.3.4", None, tmp_path / "vmlinux", "image:7.3.4:abc")
    assert given_test_progs(tmp_path, kernel).test_progs == tmp_path / "test_progs"
    image.write_bytes(b"another kernel")
    with pytest.raises(BadInput, match=r"built against the BTF of debian:7.3.4"):
        given_test_progs(tmp_path, kernel)


def test_keep_guest_without_sshd_is_one_line_before_any_download(pytester: Pytester, monkeypatch: MonkeyPatch, tmp_path: Path) -> None:
    from harness import host

    real_find = host.find
    monkeypatch.setattr(host, "find", lambda program, path=None: None if program == "sshd" else real_find(program, path))
    result = run(pytester, "-k", "mptcp/base", "--keep-guest", "--harness-cache", str(tmp_path / "cache"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    one_line_error(result, "--keep-guest", "over SSH", "no sshd (openssh-server) on this host")
    assert not (tmp_path / "cache" / "kernels").exists()
