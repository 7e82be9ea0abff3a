"""ccache for tree builds: one size-limited cache per mode under the harness cache, and a build's hit rate.

A bisection goes back and forth over the same files, a night rebuilds what the night before
built, a reverted change is the state before it: the compiler's work is found again instead
of done again. Paths: the build directory is not hashed (CCACHE_NOHASHDIR), and it is a subdirectory
of the tree (harness/kernel/tree.py), where kbuild itself names sources relative to it ("../net/...",
-fmacro-prefix-map=../= keeps __FILE__ "net/..."): the same sources give the same command line in any
checkout, and another tree (bisect's worktree, the nightly's clone) hits. (ccache's base_dir, tried
before, made paths relative too, but behind kbuild's back: a WARNING named
"../../../../trees/linux/net/mptcp/token.c:444", seen here.) What a hit from another tree carries:
its DWARF's compilation directory names the build dir it was compiled in.
Depend mode (CCACHE_DEPEND): on a miss, ccache's default runs the preprocessor once for its key and the
compiler preprocesses again; on kernel sources that made a cold build's compiles 42 % slower than plain
gcc (60 compiles of the lean build, one after another: 67.8 s against 47.7 s). In depend mode the key
comes from the compiler's own dependency list (kbuild's -Wp,-MMD): the same 60 cold 43.8 s against
44.0 s, and again all 60 from the cache in 1.0 s. What it gives up: the preprocessed mode's hits after
a config change, for files whose preprocessed text did not change (182 of 1684 once, measured here).
Without ccache on the host the build runs as before, and says so once.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SIZE = "5G"  # per mode: a lean build's objects are ~1 GB, a debug one's ~2 GB
COUNTERS = ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss")


@dataclass(frozen=True)
class Compiler:
    make_args: list[str] = field(default_factory=list)  # what make is given: CC=ccache gcc, or nothing
    env: dict[str, str] = field(default_factory=dict)
    directory: Path | None = None  # the ccache dir; None without ccache

    def counters(self) -> dict[str, int]:
        """ccache's hit and miss counters for this directory (all zero without ccache)."""
        if self.directory is None:
            return dict.fromkeys(COUNTERS, 0)
        out = subprocess.run(["ccache", "--print-stats"], env=self.env, capture_output=True, text=True).stdout
        found = dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)
        return {name: int(found.get(name, "0")) for name in COUNTERS}


def for_mode(cache_dir: Path, mode: str, env: dict[str, str]) -> Compiler:
    if shutil.which("ccache") is None:
        return Compiler()
    directory = cache_dir / "ccache" / mode
    return Compiler(["CC=ccache gcc"], {**env, "CCACHE_DIR": str(directory), "CCACHE_MAXSIZE": SIZE,
                                        "CCACHE_NOHASHDIR": "true", "CCACHE_DEPEND": "true"}, directory)


def hit_rate(before: dict[str, int], after: dict[str, int]) -> tuple[int, int]:
    """(compiles found in the cache, compiles in all) between two readings of the counters."""
    hits = sum(after[n] - before[n] for n in ("direct_cache_hit", "preprocessed_cache_hit"))
    return hits, hits + after["cache_miss"] - before["cache_miss"]
