"""./run's fetch of the default kernel beside apt, on a machine that has no kmod yet (kmod comes with that apt).

Seen on a new machine (2026-11-27): the fetch ran depmod, which was not installed yet, gave up, and
the run fetched the kernel again after apt instead of finding it done.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import pipeline
from harness.data import SUITES_DIR
from harness.settings import Settings
from harness.suites import load_suite
from tests.helpers import CACHE, REPO_ROOT, default_kernel


def path_without(program: str, tmp: Path) -> str:
    """A PATH of links to every program on this one but `program`."""
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(":"):
        if not os.path.isdir(directory):
            continue
        for entry in os.scandir(directory):
            link = bin_dir / entry.name
            if entry.name != program and not link.exists() and os.access(entry.path, os.X_OK):
                link.symlink_to(entry.path)
    return f"{os.path.dirname(sys.executable)}:{bin_dir}"


def test_prefetch_without_depmod_fetches_all_and_the_run_indexes_the_modules(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "debs").mkdir(parents=True)
    for deb in (default_kernel().vmlinux.parents[2] / "debs").glob("*.deb"):  # the packages, not their unpacking
        os.link(deb, cache / "debs" / deb.name)
    env = dict(os.environ, HARNESS_CACHE=str(cache), PATH=path_without("depmod", tmp_path))
    done = subprocess.run([sys.executable, "-m", "harness.host.prefetch"], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0 and "did not finish" not in done.stderr, done.stderr
    (tree,) = (cache / "kernels").glob("debian-*/tree")
    assert not list(tree.rglob("modules.dep"))  # left to the run: no depmod here
    assert list((cache / "sources").glob("*/Makefile"))  # the source is unpacked all the same
    # the run's preparation (pipeline.prepare, as `pytest suites` does it, up to the boot): it indexes the modules
    # beside the test_progs build (shared with the main cache as the guest tests share it: built there if need be)
    (cache / "payloads").symlink_to(CACHE / "payloads")  # (for the kernel default_kernel() fetched above)
    prepared = pipeline.prepare(pipeline.PrepareRequest.of(Settings(cache_dir=cache)), [load_suite(SUITES_DIR / "mptcp_bpf.toml")], print)
    assert prepared.kernel.modules_dir is not None and (prepared.kernel.modules_dir / "modules.dep").is_file()
    assert len(list(tree.rglob("modules.dep"))) == 1 and prepared.payload is not None
