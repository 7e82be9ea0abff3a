"""The payload: test_progs and its BPF objects, built from a kernel's source against its BTF.

Always built in a shadow tree under the cache, never in the kernel's source: the shadow
links to everything of the source but tools/testing/selftests/bpf, which is copied (some
of its sub-makes write beside their sources). For a selection of tests ("mptcp") the copy
keeps only their prog_tests/<test>.c and the BPF programs those include as skeletons, and
make is told that the programs the Makefile builds into every test_progs
(images/selftests_bpf.toml) are only those the selection includes: four programs instead of
~1,000, under a minute of build instead of several. `full` copies and builds everything.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cache import file_sha256, read_json, require_free_space
from harness.data import IMAGES_DIR
from harness.errors import BadInput, failed_step
from harness.kernel import Kernel, config_file
from harness.kernel.vmlinux import btf_digest
from harness.payload.build import cached, compiler_identity, run_steps, write_header

BUILD_SPACE_GB = 1.0  # measured: 454 MB for the output of a full build of linux-source-7.3
STAMP = "payload.json"
COMPILER_ERROR = re.compile(r"(\berror\b|Error \d+|undefined reference|No rule to make target)")
KMOD_RULE = re.compile(r"^\$\(OUTPUT\)/(\w+\.ko):", re.MULTILINE)


@dataclass(frozen=True)
class Payload:
    directory: Path  # test_progs runs from here: its *.bpf.o sit beside it
    test_progs: Path
    identity: str

    @functools.cached_property
    def traffic_monitor(self) -> bool:
        """Whether this test_progs has its traffic monitor (-m, --pcap): built where libpcap was found (its binary read
        once per payload, not once per item of a persistent guest's run)."""
        return has_traffic_monitor(self.test_progs)


def has_traffic_monitor(test_progs: Path) -> bool:
    """test_progs.c names its option "traffic-monitor" only when built with TRAFFIC_MONITOR (libpcap found)."""
    try:
        return b"traffic-monitor" in test_progs.read_bytes()
    except OSError:
        return False


def libpcap_version() -> str:
    """libpcap's version as pkg-config tells test_progs' Makefile (with it: the traffic monitor), or "none"."""
    try:
        out = subprocess.run(["pkg-config", "--modversion", "libpcap"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "none"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "none"


def llvm_bin() -> Path:
    return Path(tomllib.loads((IMAGES_DIR / "toolchain.toml").read_text())["llvm_bin"])


def toolchain_identity(llvm: Path, cache_dir: Path | None = None) -> str:
    """clang's and cc's first --version lines (asked again only when either binary changed, with cache_dir)."""
    clang = llvm / "clang"
    if not clang.exists():
        raise BadInput(f"{clang} not found: the BPF programs need clang-22; run ./run once (it installs it)")
    return compiler_identity([str(clang), "cc"], cache_dir)


def built_against(kernel: Kernel) -> str:
    """What of the kernel test_progs is built against: its BTF (vmlinux.h is generated from it; bpf_testmod's split BTF
    refers to its type ids), its release (bpf_testmod's vermagic) and, for a kernel built here, its .config (what
    bpf_testmod.ko is compiled with). A kernel rebuilt after a change that left its types alone gives the same, in
    any checkout, and reuses the payload; without BTF, the kernel's identity."""
    btf = btf_digest(kernel.vmlinux)
    if not btf:
        return kernel.identity
    config = config_file(kernel) if kernel.build_dir else None
    return f"btf:{btf}|{kernel.release}|" + (f"config:{file_sha256(config)[:16]}" if config else "")


def payload_key(kernel: Kernel, toolchain: str, tests: tuple[str, ...] | None = None) -> str:
    if kernel.source is None:
        raise BadInput(f"kernel {kernel.identity} comes with no source tree to build test_progs from; pass --test-progs")
    source = kernel.source_identity or str(kernel.source.resolve())
    selection = "full" if tests is None else ",".join(sorted(tests))
    return hashlib.sha256(f"{source}\n{toolchain}\n{built_against(kernel)}\n{selection}".encode()).hexdigest()[:16]


SELFTESTS_BPF = ("tools", "testing", "selftests", "bpf")
SKELETON = re.compile(r'#include "(?:[\w/]*/)?(\w+)\.(?:skel|lskel|subskel)\.h"')
SELECTION_DATA = IMAGES_DIR / "selftests_bpf.toml"


def makefile_list(makefile: str, name: str) -> list[str] | None:
    """The words of `NAME := ...` (continued lines joined) in a Makefile; None when it has no such line."""
    found = re.search(rf"^{re.escape(name)}\s*:?=((?:[^\n]*\\\n)*[^\n]*)", makefile, re.MULTILINE)
    return None if found is None else found.group(1).replace("\\\n", " ").split()


def _stem(word: str) -> str:
    return Path(word).name.split(".")[0]  # progs/x.c, x.skel.h, x.lskel.h, libarena/x.skel.h -> x


def selected_programs(selftests: Path, makefile: str, tests: tuple[str, ...]) -> set[str]:
    """The BPF programs (progs/<name>.c) the tests' prog_tests/<test>.c include as skeletons, with what
    a linked skeleton among them is linked from."""
    programs: set[str] = set()
    for test in tests:
        test_file = selftests / "prog_tests" / f"{test}.c"
        if not test_file.is_file():
            raise BadInput(f"{selftests} has no prog_tests/{test}.c: test_progs there has no {test!r} test")
        programs |= set(SKELETON.findall(test_file.read_text()))
    for linked in makefile_list(makefile, "LINKED_SKELS") or ():
        if _stem(linked) in programs:
            programs |= {_stem(dep) for dep in makefile_list(makefile, f"{linked}-deps") or ()}
    return programs


def selection_make_args(makefile: str, programs: set[str]) -> list[str]:
    """make's command-line settings that narrow the Makefile's every-build program lists to `programs`."""
    names = tomllib.loads(SELECTION_DATA.read_text())["program_lists"]
    lists = {name: makefile_list(makefile, name) for name in names}
    return [f"{name}={' '.join(w for w in words if _stem(w) in programs)}" for name, words in lists.items()
            if words is not None]


def shadow_tree(source: Path, shadow: Path, tests: tuple[str, ...] | None) -> Path:
    """Make `shadow` a tree of links to `source` with a copy of selftests/bpf; returns the copy."""
    if shadow.exists():
        shutil.rmtree(shadow)
    shadow.mkdir(parents=True)
    src, dst = source, shadow
    for part in SELFTESTS_BPF:
        for entry in src.iterdir():
            if entry.name != part:
                (dst / entry.name).symlink_to(entry.resolve())
        src, dst = src / part, dst / part
        dst.mkdir()
    programs = selected_programs(src, (src / "Makefile").read_text(), tests) if tests is not None else set()

    def wanted(rel: Path) -> bool:
        if tests is None or rel.suffix != ".c" or len(rel.parts) != 2:
            return True
        if rel.parts[0] == "prog_tests":
            return rel.stem in tests
        if rel.parts[0] == "progs":  # its own skeletons (what they are linked from included)
            return rel.stem in programs
        return True

    for dirpath, _, files in os.walk(src):
        for name in files:
            rel = Path(dirpath, name).relative_to(src)
            if wanted(rel):
                (dst / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src / rel, dst / rel)
    return dst


def build_test_progs(
    kernel: Kernel, cache_dir: Path, jobs: int, say: Callable[[str], None] = print,
    tests: tuple[str, ...] | None = None,
) -> Payload:
    """Build (or find in the cache) test_progs for this kernel: only `tests` ("mptcp"), or all (None).

    A second call runs no make: the cache entry (payload/build.py) is complete or rebuilt.
    """
    llvm = llvm_bin()
    # libpcap (or none) is part of what it is built with: test_progs has its traffic monitor only with it
    toolchain = f"{toolchain_identity(llvm, cache_dir)} | libpcap {libpcap_version()}"
    key = payload_key(kernel, toolchain, tests)
    shadow = cache_dir / "shadow" / f"{key}-{os.getpid()}"

    def build(partial: Path) -> dict[str, Any]:
        for stale in (cache_dir / "shadow").glob(f"{key}*"):
            shutil.rmtree(stale, ignore_errors=True)  # what killed builds left (their make died with them)
        if (before := _built_before(cache_dir, kernel, toolchain, tests)) is not None:
            say(f"test_progs: rebuilding, the kernel's BTF changed since {before}")
        return _build(kernel, shadow, partial, jobs, say, tests, llvm, toolchain)
    entry = cached(cache_dir / "payloads", key, STAMP, build, say, checked=("test_progs", "*.bpf.o", "*.ko"))
    if entry.stamp.get("kernel") not in (None, kernel.identity):
        say(f"test_progs: reused, built for {entry.stamp['kernel']} (the kernel's BTF is the same)")
    return Payload(entry.directory, entry.directory / "test_progs", str(entry.stamp["identity"]))


def _built_before(cache_dir: Path, kernel: Kernel, toolchain: str, tests: tuple[str, ...] | None) -> str | None:
    """The kernel an earlier payload of the same sources, tools and selection was built for, if any: then this build
    is there because the kernel's BTF changed."""
    source = kernel.source_identity or str(kernel.source)
    for stamp_file in (cache_dir / "payloads").glob(f"*/{STAMP}"):
        stamp = read_json(stamp_file, {})
        if (stamp.get("source"), stamp.get("toolchain"), stamp.get("tests")) == (source, toolchain, list(tests or ()) or "all"):
            return str(stamp.get("kernel"))
    return None


def _build(kernel: Kernel, shadow: Path, out: Path, jobs: int, say: Callable[[str], None], tests: tuple[str, ...] | None,
           llvm: Path, toolchain: str) -> dict[str, Any]:
    """make test_progs into `out` (from a shadow tree); its stamp."""
    assert kernel.source is not None
    require_free_space(out.parent.parent, BUILD_SPACE_GB, "a test_progs build")
    if not (kernel.source / "tools/testing/selftests/bpf/Makefile").is_file():
        raise BadInput(f"{kernel.source} has no tools/testing/selftests/bpf: not a kernel source tree")
    selftests = shadow_tree(kernel.source, shadow, tests)
    log = out / "build.log"
    env = dict(os.environ, PATH=f"{llvm}:{os.environ.get('PATH', '/usr/bin:/bin')}")
    argv = ["make", "-C", str(selftests), f"-j{jobs}", "test_progs", f"OUTPUT={out}", f"VMLINUX_BTF={kernel.vmlinux}"]
    makefile = (selftests / "Makefile").read_text()
    if tests is not None:
        argv += selection_make_args(makefile, selected_programs(selftests, makefile, tests))
    if kernel.build_dir is not None:  # bpf_testmod.ko and friends, against the kernel we built
        argv.append(f"KBUILD_OUTPUT={kernel.build_dir}")
    else:  # a prebuilt kernel has no build dir for bpf_testmod.ko: build the rest regardless
        if "BPF_STRICT_BUILD" in makefile:
            argv.append("BPF_STRICT_BUILD=0")
        else:  # older trees (6.12) have no such switch: empty stand-ins that make must not remake
            for module in KMOD_RULE.findall(makefile):
                (out / module).touch()
                argv += ["-o", f"{out}/{module}"]
    what = "all of test_progs" if tests is None else f"test_progs with {', '.join(tests)} only"
    say(f"building {what} for {kernel.identity} ({toolchain.split(' | ')[0]}); log: {log}")
    start = time.monotonic()
    with open(log, "w") as f:
        write_header(f, f"{what} into {out.name.split('.')[0]}", kernel=kernel.identity, compilers=toolchain)
        returncode = run_steps([argv], f, env)
    for stand_in in out.rglob("*.ko"):
        if stand_in.stat().st_size == 0:
            stand_in.unlink()  # test_progs then says it has no bpf_testmod, and skips what needs it
    if returncode != 0 or not (out / "test_progs").is_file():
        raise failed_step("test_progs build", log, COMPILER_ERROR)
    shutil.rmtree(shadow, ignore_errors=True)
    identity = f"test_progs:{kernel.source_identity or kernel.source}:{out.name.split('.')[0]}"
    say(f"built test_progs in {time.monotonic() - start:.0f} s")
    return {
        "identity": identity, "kernel": kernel.identity, "toolchain": toolchain, "tests": tests or "all",
        "source": kernel.source_identity or str(kernel.source), "against": built_against(kernel),
        "image_sha256": file_sha256(kernel.image),  # the same kernel under another name (--kernel-image) matches
        "build_seconds": round(time.monotonic() - start, 1), "python": sys.version.split()[0],
    }


def given_test_progs(directory: Path, kernel: Kernel) -> Payload:
    """A test_progs built elsewhere (--test-progs); refused when it says it was built for another kernel."""
    binary = directory / "test_progs"
    if not binary.is_file():
        raise BadInput(f"no test_progs in {directory}: give the directory `make -C tools/testing/selftests/bpf` built it in")
    stamp = read_json(directory / STAMP, {})  # none: built outside the harness, nothing says which kernel; trust the user
    built_for = stamp.get("kernel")
    if "image_sha256" in stamp:  # the very image it was built for, whatever it is called now
        same = stamp["image_sha256"] == file_sha256(kernel.image)
    else:
        same = built_for is None or built_for == kernel.identity
    if not same:
        raise BadInput(f"test_progs in {directory} was built against the BTF of {built_for}, not {kernel.identity}: "
                       "its BPF programs would not load; rebuild it or pass the matching kernel")
    return Payload(directory, binary, f"given:{directory}")


def built_for_image(kernel: Kernel, cache_dir: Path, tests: tuple[str, ...] | None) -> Payload:
    """For a kernel without its source (--kernel-image): a test_progs the harness built earlier for this very
    image (same sha256, e.g. a Debian kernel's vmlinuz from the cache) that has the selected tests."""
    digest = file_sha256(kernel.image)
    for stamp in sorted((cache_dir / "payloads").glob(f"*/{STAMP}")):
        data = read_json(stamp, {})
        has = data.get("tests")
        if data.get("image_sha256") == digest and (has == "all" or (tests is not None and set(tests) <= set(has or ()))):
            return Payload(stamp.parent, stamp.parent / "test_progs", str(data["identity"]))
    raise BadInput(f"kernel {kernel.identity} comes with no source tree to build test_progs from, and the cache has "
                   "no test_progs built for this image; pass --test-progs DIR")
