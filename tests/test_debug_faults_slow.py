"""Slow and real: a debug kernel (linux-source-7.3, kernel-configs/debug.config: KASAN, lockdep, kmemleak, LKDTM) and
the canary's real faults (suites/canary/debug.toml): an LKDTM WARNING, a lockdep report, a hung task and a kmemleak
report each fail their subtest, with a fingerprint. The kernel is the nightly test's debug build of the same tree
(tests/test_nightly_slow.py) when it is there, else it is built. ./run slow."""
import json
import subprocess
from pathlib import Path

import pytest

from harness.nightly import night as nightly
from harness.results import DECODED
from tests.helpers import CACHE, git, run_pytest
from tests.test_nightly_slow import UPSTREAM, UPSTREAM_TOP, upstream

pytestmark = [pytest.mark.guest, pytest.mark.slow]
CLEAN = "harness-test-clean"


def debug_tree() -> Path:
    """The nightly test's tree as upstream() makes it, never the regression that test's second night leaves on main
    (mptcp/base and subflow would fail for it): a branch of its own at upstream()'s last commit."""
    if not (UPSTREAM / ".git").exists():
        upstream(UPSTREAM)
    clean = git(UPSTREAM, "log", "-1", "--format=%H", "--fixed-strings", f"--grep={UPSTREAM_TOP}", "main").strip()
    git(UPSTREAM, "branch", "-f", CLEAN, clean)
    tree, _ = nightly.fetch(f"file://{UPSTREAM}", CLEAN, CACHE, print)
    return tree


@pytest.mark.parametrize("select, kind", [("lkdtm_warning", "warning"), ("lockdep", "lockdep"),
                                          ("hung_task", "hung task"), ("kmemleak", "kmemleak")])
def test_a_real_debug_kernel_fault_fails_its_subtest_with_a_fingerprint(tmp_path: Path, select: str, kind: str) -> None:
    run = run_pytest("-v", "suites/canary/debug.toml", "-k", select, "--kernel-tree", str(debug_tree()),
                     "--kernel-mode", "debug", "--retries", "0", "--report-dir", str(tmp_path), timeout=4 * 3600)
    assert run.returncode == 1, run.stdout[-3000:] + run.stderr[-2000:]
    doc = json.loads((tmp_path / "results.json").read_text())
    (test,) = doc["tests"]
    # LKDTM's SPINLOCKUP makes two reports, lockdep's and "BUG: scheduling while atomic", in either order (both seen):
    # the first names the reason, the lockdep one must be there with its fingerprint (below)
    reasons = {f"kernel {kind} while it ran"} | ({"kernel bug while it ran"} if kind == "lockdep" else set())
    assert test["status"] == "failed" and test["reason"] in reasons, test
    headers = [e for e in doc["console_events"] if e.startswith(f"{kind} (running: canary/{select})")]
    assert headers and "[" in headers[0], doc["console_events"][:5]
    if select == "lkdtm_warning":  # a tree built with debug info: the trace decoded beside the raw one, file:line
        decoded = test["output"][test["output"].index(DECODED) + 1:]
        assert any("lkdtm_WARNING (drivers/misc/lkdtm/bugs.c:" in line for line in decoded), decoded[:20]
    subprocess.run(["cp", str(tmp_path / "results.json"), str(CACHE / f"debug-fault-{select}.json")], check=False)
