"""The tree test's cold build (tests/test_tree_loop_e2e.py), started beside the other tests.

On a fresh machine, a lean tree build of linux-source-7.3 is most of a quarter of an hour on 2 cores: one after the
other with the rest of `./run tests`, the whole would pass 30 min. So tests/conftest.py starts it when the test is
selected, at nice 19 (the guests of the tests before it keep their CPU), and runs the test last; the test waits
for it, then boots. What it builds is what the test's first run would: the kernel (kernel/tree.build_kernel through
pipeline.get_kernel) and test_progs, on a hard-linked copy of the default kernel's linux-source, in a cache of its
own (TREE_CACHE: its guests are told apart from the default cache's, its ccache starts empty on a new machine).

`python -m tests.tree_build` is the build itself; its lines go to TREE_CACHE/build-beside.log.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from harness.kernel import BUILD_PREFIX
from tests.helpers import CACHE, REPO_ROOT, linked_copy, linux_source, sharing_downloads

TREE_CACHE = CACHE.with_name(f"{CACHE.name}-tree-test")
TREE = TREE_CACHE / "linux"
LOG = TREE_CACHE / "build-beside.log"
MODULE = "tests/test_tree_loop_e2e.py"
_started: subprocess.Popen[bytes] | None = None


def tree() -> Path:
    """A hard-linked copy of the default kernel's linux-source (an edit replaces a file, never the shared inode),
    built from scratch whenever kernel-configs/ changed since its last build. A config change on an existing build
    dir rebuilds only the files that depend on the changed options (kbuild's include/config/), but ccache then holds
    almost none of the others under the new autoconf.h: another checkout, which builds everything, would miss
    (seen: 44 of 1693 hits after guest.config gained VIRTIO_MMIO). The test's other checkout needs a full build."""
    if not (TREE / "Makefile").is_file():
        linked_copy(linux_source(), TREE.with_name("linux.partial")).rename(TREE)
    configs = "".join(f"{f.name}:{f.read_text()}" for f in sorted((REPO_ROOT / "kernel-configs").iterdir()))
    seen = TREE_CACHE / "kernel-configs.sha256"
    digest = hashlib.sha256(configs.encode()).hexdigest()
    if not seen.is_file() or seen.read_text() != digest:
        for build in TREE.glob(f"{BUILD_PREFIX}*"):
            shutil.rmtree(build)
        seen.write_text(digest)
    return TREE


def start() -> None:
    """The build, in the background at nice 19; once per process."""
    global _started
    if _started is None:
        sharing_downloads(TREE_CACHE)
        with open(LOG, "wb") as log:
            _started = subprocess.Popen(["nice", "-n", "19", sys.executable, "-m", "tests.tree_build"], cwd=REPO_ROOT,
                                        stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait() -> tuple[int, str, float]:
    """The build's exit code, its log, and how long the test waited for it."""
    start()
    assert _started is not None
    begin = time.monotonic()
    code = _started.wait()
    return code, LOG.read_text(errors="replace"), time.monotonic() - begin


def stop() -> None:
    """At the session's end: a build still running (the test deselected, or the session interrupted) is stopped."""
    if _started is not None and _started.poll() is None:
        os.killpg(_started.pid, 15)
        _started.wait()


def main() -> None:
    from harness import pipeline, settings

    began = time.monotonic()
    source = tree()
    options = ["--kernel-tree", str(source), "--harness-cache", str(sharing_downloads(TREE_CACHE))]
    chosen, _ = settings.for_command(options, "tree-test")
    request = pipeline.PrepareRequest.of(chosen)
    kernel = pipeline.get_kernel(request, lambda line: print(line, flush=True))
    pipeline.get_payload(request, kernel, ["mptcp"], lambda line: print(line, flush=True))
    print(f"built beside the other tests in {time.monotonic() - began:.0f} s", flush=True)


if __name__ == "__main__":
    main()
