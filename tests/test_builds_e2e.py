"""A SIGKILLed run leaves no build running, and the next run builds afresh and right (real make, real guest)."""
import signal
import subprocess
import time

import pytest

from harness import proc
from harness.settings import REPO_ROOT
from tests.helpers import CACHE, default_kernel, harness_qemus, pytest_argv, pytest_env, run_pytest

pytestmark = pytest.mark.guest


@pytest.fixture
def cache_with_the_kernel(tmp_path):
    """A cache of its own (its payloads start empty) sharing the default kernel and its source with the main one."""
    default_kernel()  # fetched through the harness when the main cache lacks it
    cache = tmp_path / "cache"
    cache.mkdir()
    for part in ("kernels", "sources", "debs", "apt"):
        (cache / part).symlink_to(CACHE / part)
    return cache


def builders(cache):
    return proc.leftovers(cache / "payloads") + [p for d in (cache / "payloads").glob("*") for p in proc.leftovers(d)]


def test_sigkill_during_the_payload_build_leaves_no_make_and_the_next_run_is_right(cache_with_the_kernel):
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

    again = run_pytest("-v", "suites", "-k", "mptcp/base", "--harness-cache", str(cache))
    assert again.returncode == 0, again.stdout[-4000:] + again.stderr[-2000:]
    assert "mptcp/base PASSED" in again.stdout and "built test_progs in" in again.stdout
    (built,) = [d for d in (cache / "payloads").iterdir() if d.is_dir()]
    assert (built / "payload.json").is_file() and ".partial" not in built.name
    assert not unfinished.exists()
    assert harness_qemus(cache) == []


def test_a_shell_only_suite_builds_no_test_progs(cache_with_the_kernel):
    cache = cache_with_the_kernel
    proc = run_pytest("-v", "suites/canary/canary.toml", "-k", "pass", "--harness-cache", str(cache))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "canary/pass PASSED" in proc.stdout and "building test_progs" not in proc.stdout
    assert not (cache / "payloads").exists() and not (cache / "shadow").exists()
