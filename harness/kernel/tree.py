"""A kernel built from the developer's tree, in a build directory of its own (make O=), sources untouched.

The build directory is a subdirectory of the tree, `.mptcp-harness-build-<mode>-<key>` (key: mode,
fragments, recipe), ignored by git (kbuild's "*" .gitignore in it). There kbuild names every source
relative to the build directory ("../net/mptcp/protocol.c"), so the same sources compile to the same
command line in any checkout, and ccache (harness/kernel/ccache.py) hits across trees: bisect's worktree,
the nightly's clone and the developer's checkout share their compiles. A tree the harness may not write
to is built under the cache instead (`<cache>/builds/<tree>-<mode>-<key>`: no hits from other trees).
A stamp records the state it was built from (git HEAD plus uncommitted changes, or, without git, the
newest mtime and file count), the config and the toolchain. The same state again: no make at all.
tools/testing/selftests is left out of the kernel's state: a change there rebuilds only test_progs
(its own key, see selftests.py).
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

from harness import proc as procs
from harness.cache import locked, read_json, require_free_space, used, write_json
from harness.data import IMAGES_DIR
from harness.errors import BadInput, failed_step
from harness.kernel import BUILD_PREFIX, Kernel, ccache, coverage, git
from harness.kernel.kconfig import Fragment, configure

STAMP = "harness-build.json"
BUILDING = "harness-building.json"  # present while a build runs: found by the next run, it was interrupted
SELFTESTS = "tools/testing/selftests"
GENERATED = (".o", ".d", ".cmd", ".skel.h", ".lskel.h", ".subskel.h", ".a", ".so")
MAKE_ERROR = re.compile(r"error:|Error ")
BUILD_SPACE_GB = 8.0  # an x86_64 build with debug info and BTF
# The same sources give the same kernel: a fixed build timestamp keeps init/version.c (and ccache's hits) the same,
# and it is kbuild's documented switch (scripts/Makefile.btf) for BTF that does not depend on pahole's threads:
# pahole before 1.27 then runs without -j. So a rebuild that left the types alone has the same BTF, byte for
# byte, and test_progs (keyed by it, harness.payload.selftests_bpf) is reused instead of rebuilt. The build number
# too: kbuild counts the links in a build dir (.version, "#11" in the banner), and linux_banner's char[N] is in the
# BTF, so the tenth build of a dir changed the BTF with the sources the same (seen: nr_elems 157 -> 158).
REPRODUCIBLE = {"KBUILD_BUILD_TIMESTAMP": "2026-01-01 00:00:00 UTC", "KBUILD_BUILD_USER": "harness",
                "KBUILD_BUILD_HOST": "harness", "KBUILD_BUILD_VERSION": "1"}


def is_tree(path: Path) -> bool:
    """The top of a kernel source tree: its Makefile, Kconfig and arch/x86."""
    return (path / "Makefile").is_file() and (path / "Kconfig").is_file() and (path / "arch/x86").is_dir()


def check_tree(tree: Path) -> None:
    if not is_tree(tree):
        raise BadInput(f"{tree} is not a kernel source tree (no Makefile, Kconfig and arch/x86); give the top of a kernel checkout")


def tree_state(tree: Path, exclude: str = SELFTESTS, only: str | None = None) -> str:
    """What the tree holds now: git HEAD + uncommitted changes, or without git the newest mtime and file count."""
    if git.is_checkout(tree):
        return hashlib.sha256(git.state(tree, [only] if only else [".", f":(exclude){exclude}"])).hexdigest()
    newest, count = 0.0, 0
    root = tree / only if only else tree
    parent, leaf = os.path.split(exclude)
    for dirpath, dirnames, filenames in os.walk(root):
        if only is None and os.path.relpath(dirpath, tree) == parent and leaf in dirnames:
            dirnames.remove(leaf)
        if dirpath == str(tree):  # the harness's own build directories
            dirnames[:] = [d for d in dirnames if not d.startswith(BUILD_PREFIX)]
        for name in filenames:
            if name.endswith(GENERATED):
                continue  # what builds leave behind (the BPF selftests' sub-makes write some in place)
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except OSError:
                continue
            count += 1
    return f"mtime:{newest}:files:{count}"


# How objects are compiled, in the build dir's key: a change here starts a new build dir instead of mixing objects.
# 2: absolute source paths again (ccache's base_dir made __FILE__ relative, harness/kernel/ccache.py)
# 3: the build directory inside the tree: relative source paths, by kbuild itself
RECIPE = 3
GITIGNORE = "# the kernel build directory of mptcp-harness: ignore it\n*\n"


def build_dir_for(cache_dir: Path, tree: Path, mode: str, fragments: list[Fragment]) -> Path:
    """Where the tree is built: in the tree when the harness may write there (see above), else under the cache."""
    root = tree.resolve()
    recipe = f"{mode}|{','.join(f.name for f in fragments)}|{RECIPE}"
    if os.access(root, os.W_OK):
        return root / f"{BUILD_PREFIX}{mode}-{hashlib.sha256(recipe.encode()).hexdigest()[:8]}"
    return cache_dir / "builds" / f"{root.name}-{mode}-{hashlib.sha256(f'{root}|{recipe}'.encode()).hexdigest()[:12]}"


def move_builds(src: Path, dst: Path) -> None:
    """The build directories in src moved into dst (a tree, or a place where they wait for it): renames; one
    already in dst is replaced. A build directory works again once back at the path it was built at."""
    for build in sorted(src.glob(f"{BUILD_PREFIX}*")) if src.is_dir() else []:
        dst.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(dst / build.name, ignore_errors=True)
        build.rename(dst / build.name)


def _building(out: Path) -> contextlib.AbstractContextManager[None]:
    """The build directory made (ignored by git from the start), and its lock held: one writer per build directory.
    In a tree the lock is inside it (nothing else written beside the sources); under the cache, beside it
    (`harness cache prune` looks there)."""
    out.mkdir(parents=True, exist_ok=True)
    if not (out / ".gitignore").exists():
        (out / ".gitignore").write_text(GITIGNORE)
    return locked(out, "harness-build") if in_tree(out) else locked(out.parent, out.name)


def in_tree(out: Path) -> bool:
    """The build directory is inside its tree (not the cache's fallback)."""
    return out.name.startswith(BUILD_PREFIX)


def build_kernel(tree: Path, cache_dir: Path, mode: str, fragments: list[Fragment], base: str, jobs: int, toolchain: str,
                 env: dict[str, str], say: Callable[[str], None]) -> Kernel:
    """Configure, check and build; or, when nothing changed since the last build, only read the stamp."""
    check_tree(tree)
    out = build_dir_for(cache_dir, tree, mode, fragments)
    make_env = coverage.make_env([f.name for f in fragments])
    config_text = "".join(f"{f.name}:{f.path.read_text()}" for f in fragments) + "".join(
        f"{k}:{Path(v).read_text()}" for k, v in make_env.items())  # --coverage's makefile: its text is part of the build
    state = hashlib.sha256(f"{tree_state(tree)}|{config_text}|{toolchain}".encode()).hexdigest()
    known = read_json(out / STAMP, {})
    if known.get("state") == state:
        used(out)
        return _kernel(tree, out, known)
    with _building(out):
        return _build(tree, out, mode, fragments, base, jobs, {**env, **make_env}, say, state, cache_dir)


def _build(tree: Path, out: Path, mode: str, fragments: list[Fragment], base: str, jobs: int, env: dict[str, str],
           say: Callable[[str], None], state: str, cache_dir: Path) -> Kernel:
    stamp = out / STAMP
    known = read_json(stamp, {})
    if known.get("state") == state:  # another run built it while we waited for the lock
        return _kernel(tree, out, known)
    require_free_space(out, BUILD_SPACE_GB, f"building the kernel of {tree} in {out}",
                       "" if in_tree(out) else "point HARNESS_CACHE elsewhere")
    if (ended := procs.end_leftovers(out)):
        say(f"stopped {ended} process(es) an interrupted run left building in {out}")
    building = out / BUILDING
    if building.exists():
        say(f"resuming the interrupted build in {out}: make rebuilds only what it had not finished")
    stamp.unlink(missing_ok=True)  # a stamp only for what this build produces
    log = out / "build.log"
    out.mkdir(parents=True, exist_ok=True)
    building.write_text(json.dumps({"state": state, "pid": os.getpid()}))
    with open(log, "a") as f:
        f.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} build of state {state[:16]} ===\n")
    start = time.monotonic()
    say(f"configuring {tree} ({mode}: {base} base + {', '.join(f.name for f in fragments)}) in {out}")
    cc = ccache.for_mode(cache_dir, mode, env)
    env = {**(cc.env or env), **REPRODUCIBLE}
    try:
        configure(tree, out, fragments, env, log, base, cc.make_args)
    except BadInput:
        building.unlink()  # nothing was built: the next run is not "resuming"
        raise
    say(f"building the kernel (make -j{jobs}{', ccache' if cc.directory else ', no ccache on this host'}); log: {log}")
    before = cc.counters()
    _make(tree, out, [*cc.make_args, "-j", str(jobs), "bzImage", "modules"], env, log, say, start)
    hits, compiles = ccache.hit_rate(before, cc.counters())
    if cc.directory is not None:
        say(f"ccache: {hits} of {compiles} compiles from the cache" + (f" ({100 * hits // compiles} %)" if compiles else ""))
    mods = out / "modules-install"
    _make(tree, out, [*cc.make_args, "modules_install", f"INSTALL_MOD_PATH={mods}", "INSTALL_MOD_STRIP=1"], env, log,
          say, start)
    release = kernelrelease(tree, out, env)
    known = {"state": state, "release": release, "mode": mode, "tree": str(tree.resolve()),
             "build_seconds": round(time.monotonic() - start, 1), "ccache_hits": [hits, compiles]}
    write_json(stamp, known)
    building.unlink()
    say(f"built the kernel {release} in {time.monotonic() - start:.0f} s")
    return _kernel(tree, out, known)


def _make(tree: Path, out: Path, args: list[str], env: dict[str, str], log: Path, say: Callable[[str], None],
          start: float) -> None:
    argv = ["make", "-C", str(tree), f"O={out}", *args]
    with open(log, "a") as f:
        f.write(" ".join(argv) + "\n")
        f.flush()
        proc = procs.spawn(argv, f, env=env)  # dies with the harness, even SIGKILLed
        try:
            last = time.monotonic()
            while proc.poll() is None:
                time.sleep(1)
                if time.monotonic() - last >= 60:
                    last = time.monotonic()
                    say(f"  still building, {time.monotonic() - start:.0f} s so far")
        finally:
            procs.stop(proc)
    if proc.returncode != 0:
        raise failed_step("kernel build", log, MAKE_ERROR)


def kernelrelease(tree: Path, out: Path, env: dict[str, str]) -> str:
    """`uname -r` of the kernel built in `out`."""
    _, printed = procs.run(["make", "-s", "-C", str(tree), f"O={out}", "kernelrelease"], env=env)
    lines = printed.decode(errors="replace").split()  # stderr comes along: the release is the last word printed
    return lines[-1] if lines else ""


def payload_sources(tree: Path) -> str:
    """What test_progs is built from in this tree (images/selftests_bpf.toml `sources`): in a git checkout their
    content, the same in any checkout and at any commit that left them alone; else the tree's path and the newest
    mtime under tools/testing/selftests."""
    if git.is_checkout(tree):
        paths = tomllib.loads((IMAGES_DIR / "selftests_bpf.toml").read_text())["sources"]
        return f"tree-content:{hashlib.sha256(git.content(tree, paths)).hexdigest()}"
    return f"tree:{tree.resolve()}:{tree_state(tree, only=SELFTESTS)}"


def _kernel(tree: Path, out: Path, known: dict[str, str]) -> Kernel:
    release = known["release"]
    modules = out / "modules-install" / "lib" / "modules" / release
    return Kernel(
        image=out / "arch/x86/boot/bzImage",
        release=release,
        modules_dir=modules if modules.is_dir() else None,
        vmlinux=out / "vmlinux",
        identity=f"tree:{tree.resolve()}:{known['mode']}:{known['state'][:16]}",
        source=tree,
        source_identity=payload_sources(tree),
        build_dir=out,
    )
