"""A SIGKILLed run leaves no build running, and the next run builds afresh and right (real make, real guest)."""
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness import proc
from tests.helpers import (
    REPO_ROOT,
    default_kernel,
    harness_qemus,
    pytest_argv,
    pytest_env,
    run_pytest,
    seeded_kernel,
    seeded_payload,
    sharing_downloads,
)

pytestmark = pytest.mark.guest


@pytest.fixture
def cache_with_the_kernel(tmp_path: Path) -> Path:
    """A cache of its own (its payloads start empty) sharing the default kernel and its source with the main one."""
    default_kernel()  # fetched through the harness when the main cache lacks it
    return sharing_downloads(tmp_path / "cache")


def builders(cache: Path) -> list[int]:
    return proc.leftovers(cache / "payloads") + [p for d in (cache / "payloads").glob("*") for p in proc.leftovers(d)]


def test_sigkill_during_the_payload_build_leaves_no_make_and_the_next_run_is_right(cache_with_the_kernel: Path) -> None:
    """A run SIGKILLed mid-build leaves no make and an unstamped partial entry; one of its objects is then corrupted.
    Before the next run, a complete entry of the same key appears with its payload.json cut short (a copy of the main
    cache's: a disk that filled mid-write, or a copy cut short, leaves it so). Found trying main at 1191709: a
    truncated payload.json read as "no payload", and the rebuild's rename onto the existing directory raised OSError.
    The next run moves the damaged entry aside and says so, trusts nothing of the partial one, builds once, passes."""
    cache = cache_with_the_kernel
    run = subprocess.Popen(pytest_argv("-q", "suites", "-k", "mptcp/base", "--harness-cache", str(cache)), cwd=REPO_ROOT,
                           env=pytest_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and run.poll() is None:
            partial = list((cache / "payloads").glob("*.partial-*"))
            if partial and len(list(partial[0].glob("*.o"))) >= 3:  # make is well into it
                break
            time.sleep(0.5)
        assert partial and run.poll() is None, "the payload build never got going"
    finally:
        run.send_signal(signal.SIGKILL)  # no handler of ours runs
        run.wait()
    time.sleep(3)
    assert builders(cache) == []  # the build died with the harness
    unfinished = partial[0]
    assert not (unfinished / "payload.json").exists()  # never stamped
    victim = next(unfinished.glob("*.o"))
    victim.write_bytes(victim.read_bytes()[:100])  # a corrupt object the next run must not trust
    damaged = seeded_payload(cache)
    assert damaged.name == unfinished.name.split(".partial-")[0]  # the same key
    stamp = damaged / "payload.json"
    stamp.write_bytes(stamp.read_bytes()[:20])

    again = run_pytest("-v", "suites", "-k", "mptcp/base", "--harness-cache", str(cache))
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    out = again.stdout + again.stderr
    assert "mptcp/base PASSED" in again.stdout and out.count("built test_progs in") == 1, out[-3000:]
    assert f"cache: {damaged}: no readable payload.json" in out, out[-3000:]
    assert len(list((cache / "payloads").glob(f"{damaged.name}.damaged-*"))) == 1  # kept to look at
    assert (damaged / "payload.json").is_file() and not unfinished.exists()
    assert harness_qemus(cache) == []


def test_a_shell_only_suite_builds_no_test_progs(cache_with_the_kernel: Path) -> None:
    cache = cache_with_the_kernel
    proc = run_pytest("-v", "suites/canary/canary.toml", "-k", "pass", "--harness-cache", str(cache))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "canary/pass PASSED" in proc.stdout and "building test_progs" not in proc.stdout
    assert not (cache / "payloads").exists() and not (cache / "shadow").exists()


def test_a_truncated_vmlinuz_and_a_flipped_byte_in_test_progs_are_healed_and_said(tmp_path: Path) -> None:
    """A cache of its own (copies of the main cache's unpacked kernel and test_progs; its .debs and source shared): the
    kernel's vmlinuz is cut short and one byte of test_progs flipped. The next run says both, unpacks and builds them
    again, and passes."""
    from tests.helpers import CACHE, default_kernel

    default_kernel()  # the main cache has the .debs and the source
    cache = tmp_path / "cache"
    cache.mkdir()
    for part in ("sources", "debs", "apt"):
        (cache / part).symlink_to(CACHE / part)
    seeded_kernel(cache)
    seeded_payload(cache)
    (vmlinuz,) = cache.glob("kernels/debian-*/tree/**/vmlinuz")
    vmlinuz.write_bytes(vmlinuz.read_bytes()[: vmlinuz.stat().st_size // 2])
    (test_progs,) = cache.glob("payloads/*/test_progs")
    data = bytearray(test_progs.read_bytes())
    data[len(data) // 2] ^= 0x01
    test_progs.write_bytes(bytes(data))
    again = run_pytest("-v", "suites", "-k", "mptcp/base", "--harness-cache", str(cache))
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-4000:]
    assert "vmlinuz changed since it was made (its sha256 differs): moved aside" in out  # the kernel, unpacked again
    assert "test_progs changed since it was made (its sha256 differs): moved aside" in out and "built test_progs in" in out
    assert "mptcp/base PASSED" in again.stdout and harness_qemus(cache) == []
