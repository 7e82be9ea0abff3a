"""A payload built into the cache, one way for every payload: test_progs, the kselftests, and what comes next.

<cache>/payloads/<key>/ is complete when its stamp file is in it. A build runs in
<key>.partial-<pid>/ under the key's lock, gets its stamp last and is renamed into place:
a killed build (its make dies with the harness) leaves a partial directory that the next
build of the key removes, and a failed one keeps its build.log there for the error to
name. An entry whose stamp cannot be read (a truncated file, a disk that filled), or whose
files no longer match the sizes, times and sha256s the stamp recorded (checked at each use by
size and mtime, every file's sha256 about one use in 20), is moved aside to
<key>.damaged-<time>/, said in one line, and built again: never used.
The build.log starts with a header: what is built, for which kernel, with which compilers.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harness import proc as procs
from harness.cache import damage, full_check_now, locked, manifest, move_aside, read_json, used, write_json

Say = Callable[[str], None]


@dataclass(frozen=True)
class Entry:
    directory: Path
    stamp: dict[str, Any]


def compiler_identity(tools: Sequence[str], cache_dir: Path | None = None) -> str:
    """Each tool's first --version line, joined by " | "; with cache_dir, asked only when a binary changed
    (~0.2 s a run saved). A tool is a name on $PATH or a path; cc is followed through Debian's alternatives."""
    binaries = [os.path.realpath(shutil.which(t) or t) for t in tools]
    stamp = repr([(b, os.stat(b).st_size, os.stat(b).st_mtime_ns) if os.path.exists(b) else b for b in binaries])
    known = read_json(cache_dir / "toolchain.json", {}) if cache_dir is not None else {}
    if isinstance(known, dict) and stamp in known:
        return str(known[stamp])
    versions = []
    for tool in tools:
        out = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout if shutil.which(tool) else ""
        versions.append(out.splitlines()[0] if out else f"{tool}: unknown")
    if cache_dir is not None:  # a few sets of tools (test_progs's, the kselftests' ...), not just the last one
        kept = list(known.items())[-7:] if isinstance(known, dict) else []
        write_json(cache_dir / "toolchain.json", {**dict(kept), stamp: " | ".join(versions)})
    return " | ".join(versions)


def cached(root: Path, key: str, stamp_name: str, build: Callable[[Path], dict[str, Any]], say: Say,
           checked: tuple[str, ...] = ()) -> Entry:
    """The entry `key` under root: found (no build), or made by build(partial_dir) into that new empty directory;
    build returns the stamp, which must hold an "identity". The files matching `checked` (globs) are recorded in the
    stamp (harness.cache.manifest) and checked at each use: an entry that no longer matches is moved aside and built
    again."""
    out = root / key
    found, _ = _complete(out, stamp_name, full_check_now())
    if found is not None:
        used(out)
        return found
    with locked(root, key):  # one build per key; the next one to come finds it done
        found, problem = _complete(out, stamp_name, True)
        if found is not None:
            return found
        for stale in [*root.glob(f"{key}.partial-*"), *root.glob(f"{key}.damaged-*")]:
            shutil.rmtree(stale, ignore_errors=True)  # what killed builds left, and the last damaged entry
        if out.exists():
            move_aside(out, problem, "building it again", say)
        partial = out.with_name(f"{key}.partial-{os.getpid()}")
        partial.mkdir(parents=True)
        stamp = build(partial)
        stamp["files"] = manifest(partial, checked)
        write_json(partial / stamp_name, stamp)
        partial.rename(out)
        return Entry(out, stamp)


def _complete(out: Path, stamp_name: str, full: bool) -> tuple[Entry | None, str]:
    """The entry when it is whole; else None and what is wrong with it."""
    stamp = read_json(out / stamp_name, None)
    if not isinstance(stamp, dict) or not stamp.get("identity"):
        return None, f"no readable {stamp_name} (damaged or cut short)"
    if (problem := damage(out, stamp.get("files", {}), full)) is not None:
        return None, problem
    return Entry(out, stamp), ""


def write_header(log: IO[str], what: str, **facts: str) -> None:
    """The build log's first lines: what is built, then one `# name: value` line per fact (kernel, compilers ...)."""
    log.write(f"# {what}, {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")
    for name, value in facts.items():
        log.write(f"# {name}: {value}\n")


def run_steps(steps: Sequence[list[str]], log: IO[str], env: dict[str, str]) -> int:
    """Each command into the log (its line, then its output), contained; the first failing one's status, else 0."""
    for argv in steps:
        log.write(" ".join(argv) + "\n")
        log.flush()
        returncode, _ = procs.run(argv, stdout=log, env=env)  # dies with the harness, even SIGKILLed
        if returncode != 0:
            return returncode
    return 0
