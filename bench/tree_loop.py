"""P9 and P10: where a tree run's time goes, from a cold build to the edit-and-rerun loop.

In one run, on the tree given (a git checkout; the bench edits net/mptcp/protocol.c and puts it back):
  (a) a cold build with the lean base, through `pytest -k mptcp/base --kernel-tree T` to its result;
  (b) a one-line code change in net/mptcp/protocol.c, then the same pytest to its result (P10);
  (c) the change reverted, the same pytest again (ccache should find the compiles);
  (e) the same sources in another checkout (a hard-linked copy of the tree, where bisect's worktree
      or a second clone would be), the same pytest on it: its compiles come from ccache, across trees;
  (d) a cold build with vng's base (--kconfig-base vng), the same pytest (P9 = cold lean / cold vng).
Each cold build starts with the tree's build directories removed and a fresh cache directory of its
own (--cache-root), sharing the Debian downloads of the main cache; ccache starts empty too. Each pytest's phases are read from the
harness's own lines and the kernel's build log: config, compile, link + BTF, modules,
modules_install, payload, guest.
Usage: python bench/tree_loop.py --kernel-tree T [--mode normal] [--skip-vng] [--skip-cross-tree] [--cache-root DIR]
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.kernel import BUILD_PREFIX  # noqa: E402
from harness.settings import default_cache_dir  # noqa: E402
from tests.helpers import linked_copy  # noqa: E402

# kbuild's lines that end a phase, in the order they come (the first one seen marks the time)
MARKERS = (("compile", re.compile(r"^\s+LD\s+vmlinux\.o$")),
           ("link + BTF", re.compile(r"Kernel: arch/x86/boot/bzImage is ready")),
           ("modules", re.compile(r"^\s+LD \[M\]|^\s+MODPOST Module\.symvers")),
           ("modules_install", re.compile(r"^\s+INSTALL .*modules-install|^\s+DEPMOD")))
CHANGE = "\n/* bench/tree_loop.py: a one-line change */\nint mptcp_bench_tree_loop;\n"


def watch_log(tree: Path, seen: dict[str, float], start: float, stop: threading.Event) -> None:
    """The time (since start) each marker first appears in what this run appends to the build's log."""
    logs = f"{BUILD_PREFIX}*/build.log"
    before = {log: log.stat().st_size for log in tree.glob(logs)}
    while not stop.is_set():
        for log in tree.glob(logs):
            with open(log, errors="replace") as f:
                f.seek(before.get(log, 0))
                text = f.read()
            for name, pattern in MARKERS:
                if name not in seen and any(pattern.search(ln) for ln in text.splitlines()):
                    seen[name] = time.monotonic() - start
        stop.wait(1.0)


def run(tree: Path, cache: Path, mode: str, extra: list[str]) -> dict[str, float]:
    """pytest -k mptcp/base on the tree; each phase's end (seconds from the start) and the total."""
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", str(ROOT / "suites"), "-k", "mptcp/base",
            "--kernel-tree", str(tree), "--kernel-mode", mode, "--harness-cache", str(cache), *extra]
    seen: dict[str, float] = {}
    stop = threading.Event()
    start = time.monotonic()
    watcher = threading.Thread(target=watch_log, args=(tree, seen, start, stop), daemon=True)
    watcher.start()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.monotonic() - start
        if "configuring" in line and "config" not in seen:
            seen["config start"] = now
        elif "building the kernel" in line:
            seen.setdefault("config", now)
        elif "built the kernel" in line or "test_progs: reused" in line or "building test_progs" in line:
            seen.setdefault("kernel", now)
        elif "built test_progs" in line or "test_progs: reused" in line:
            seen.setdefault("payload", now)
        elif "ccache:" in line:
            seen["ccache"] = 0.0
            print("   ", line.strip())
        elif "mptcp/base" in line and ("PASSED" in line or "FAILED" in line):
            seen.setdefault("guest", now)
    proc.wait()
    stop.set()
    seen["total"] = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"pytest exited {proc.returncode}; see the run under {cache}")
    return seen


def show(label: str, seen: dict[str, float]) -> None:
    """Each phase's length, in the order the phases ended (kbuild builds modules beside the kernel's objects)."""
    order = ["config", "compile", "link + BTF", "modules", "modules_install", "kernel", "payload", "guest"]
    marks = sorted((seen[name], name) for name in order if name in seen)
    parts, last = [], 0.0
    for at, name in marks:
        parts.append(f"{name} {at - last:.0f} s")
        last = at
    print(f"{label}: {', '.join(parts)}; total {seen['total']:.0f} s", flush=True)


def without_builds(tree: Path) -> Path:
    """The tree with no build directory of the harness left in it: the next build is cold."""
    for build in tree.glob(f"{BUILD_PREFIX}*"):
        shutil.rmtree(build)
    return tree


def fresh_cache(root: Path, name: str) -> Path:
    """A cache of its own sharing the main one's Debian downloads (kernels, sources, apt state)."""
    cache = root / name
    shutil.rmtree(cache, ignore_errors=True)
    cache.mkdir(parents=True)
    for part in ("kernels", "sources", "debs", "apt"):
        if (default_cache_dir() / part).exists():
            (cache / part).symlink_to(default_cache_dir() / part)
    return cache


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kernel-tree", required=True, type=Path)
    ap.add_argument("--mode", default="normal")
    ap.add_argument("--skip-vng", action="store_true", help="no cold build with vng's base (no P9)")
    ap.add_argument("--skip-cross-tree", action="store_true", help="no build of the same sources in another checkout")
    ap.add_argument("--cache-root", type=Path, default=Path(tempfile.gettempdir()) / "harness-tree-loop")
    ap.add_argument("--loop-only", action="store_true", help="no cold build: (b) and (c) on the lean cache of an earlier run")
    args = ap.parse_args()
    tree = args.kernel_tree.resolve()
    changed = tree / "net/mptcp/protocol.c"
    original = changed.read_bytes()
    lean = args.cache_root / "lean" if args.loop_only else fresh_cache(args.cache_root, "lean")
    cold = run(tree if args.loop_only else without_builds(tree), lean, args.mode, [])
    show("(a) the tree as it is" if args.loop_only else "(a) cold, lean base", cold)
    try:
        changed.write_bytes(original + CHANGE.encode())
        edit = run(tree, lean, args.mode, [])
        show("(b) one-line change in net/mptcp/protocol.c", edit)
    finally:
        changed.write_bytes(original)
    back = run(tree, lean, args.mode, [])
    show("(c) the change reverted", back)
    if not args.skip_cross_tree:
        other = linked_copy(tree, args.cache_root / "other-checkout" / tree.name)  # its .git too, not its builds
        show("(e) the same sources in another checkout", run(other, lean, args.mode, []))
        shutil.rmtree(other.parent)
    if not args.skip_vng:
        vng = run(without_builds(tree), fresh_cache(args.cache_root, "vng"), args.mode, ["--kconfig-base", "vng"])
        show("(d) cold, vng's base", vng)
        if not args.loop_only:
            print(f"P9 cold lean/vng: {cold['total'] / vng['total']:.2f}")
    print(f"P10 edit to result: {edit['total']:.0f} s")


if __name__ == "__main__":
    main()
