"""How a one-shot guest starts: QEMU itself, on the command line vng made for the same guest once.

Every vng boot spends ~0.4 s on the host before QEMU starts (0.37 s, a dry run): vng (Python) runs virtme-run (Python again),
which asks modprobe for each of its initramfs's modules and builds the initramfs, then QEMU's command line.
For one guest (kernel, CPUs, memory, accelerator, console, the host's vng, busybox and QEMU) all of it comes
out the same each time but four things: the shared directory, the script (virtme.exec=), the file the guest's
exit status goes to and the working directory. So vng runs once per such guest with qemu.sh recording what it
would boot (QEMU_SH_RECORD: its final argv and a copy of the initramfs), and later guests start QEMU straight
away with those four put in: the same command line, initramfs and init, without vng's start-up.
images/guest.toml's [boot] launcher = "vng" starts every guest through vng instead.
"""
from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.metadata
import json
import lzma
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from harness import proc as procs
from harness.cache import locked, read_json, write_json
from harness.guest.commands import SCRIPTS

SHARED, EXEC, RET, INITRD, CHDIR = "@SHARED@", "@EXEC@", "@RET@", "@INITRD@", "@CHDIR@"
RET_CHARDEV = re.compile(r"^(file,id=ret,path=).*$")
EXEC_ARG = re.compile(r"virtme\.exec=`[^`]*`")
CHDIR_ARG = re.compile(r"virtme_chdir=\S*")
FAILED = "failed"  # what a recording that could not be made leaves, so that the next guests do not retry it at once
RETRY_FAILED_S = 3600.0  # ... but an hour later (a vng killed while recording is no reason to go without for good)
RECORDING_FORMAT = 2  # what record() keeps: 2, the initramfs with its modules decompressed (decompress_modules)
UNUSED_S = 30 * 86400.0  # a recording no guest started from in 30 days goes when another is made (~2.3 MB each)


@dataclass(frozen=True)
class Recording:
    argv: tuple[str, ...]  # QEMU's, with the SHARED, EXEC, RET, INITRD and CHDIR tokens in it
    initrd: Path


def recorded(vng_argv: list[str], placeholder: Path, env: dict[str, str], cache_dir: Path) -> Recording | None:
    """The recording for this vng command line (made now if needed), or None: then boot through vng.

    vng_argv must share `placeholder` (an empty directory) and run any command: both are replaced at launch.
    """
    key = recording_key(vng_argv, env)
    where = cache_dir / "guests" / "launch" / key
    made = False
    with locked(where.parent, key):
        if not (where / "argv.json").exists() and age_s(where / FAILED) > RETRY_FAILED_S:
            record(vng_argv, placeholder, env, where)
            made = True
    if made:
        prune(where.parent)
    data = read_json(where / "argv.json", None)
    if data is None:
        return None
    with contextlib.suppress(OSError):  # (a read-only cache, or a prune racing it: the recording is read already)
        os.utime(where / "argv.json")  # used: kept by prune()
    return Recording(tuple(data), where / "initrd")


def age_s(path: Path) -> float:
    """Seconds since path was last written; infinite when there is no such file."""
    try:
        return time.time() - path.stat().st_mtime
    except OSError:
        return float("inf")


def prune(launch_dir: Path) -> None:
    """Remove the recordings (and failure markers) unused for UNUSED_S, each under its own lock (its lock file stays:
    a process may hold it open). The placeholder directory (neither file) is not one."""
    def stale(where: Path) -> bool:
        return UNUSED_S < min(age_s(where / "argv.json"), age_s(where / FAILED)) < float("inf")

    for where in launch_dir.iterdir():
        if where.is_dir() and stale(where):
            with locked(launch_dir, where.name):
                if stale(where):
                    shutil.rmtree(where, ignore_errors=True)


def recording_key(vng_argv: list[str], env: dict[str, str]) -> str:
    """What the recorded command line depends on: vng's arguments and version, qemu.sh, QEMU, busybox, the kernel."""
    def stat(path: str | None) -> list[float]:
        try:
            s = os.stat(path) if path else None
        except OSError:
            s = None
        return [s.st_size, s.st_mtime] if s else []

    kernel = vng_argv[vng_argv.index("--run") + 1]
    parts = [RECORDING_FORMAT, vng_argv, importlib.metadata.version("virtme-ng"), (SCRIPTS / "qemu.sh").read_text(), sorted(
        (k, v) for k, v in env.items() if k.startswith("QEMU_SH_")), stat(env.get("QEMU_SH_QEMU")),
        stat(shutil.which("busybox")), stat(kernel), os.getuid()]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:16]


def record(vng_argv: list[str], placeholder: Path, env: dict[str, str], where: Path) -> None:
    where.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=where.parent) as scratch:
        procs.run(vng_argv, env={**env, "QEMU_SH_RECORD": scratch})  # vng exits 255: no guest, no status
        argv = tokenized(Path(scratch, "argv").read_bytes().decode().split("\0")[:-1], placeholder) \
            if Path(scratch, "argv").exists() else None
        if argv is None:
            (where / FAILED).write_text("vng's command line could not be recorded: guests boot through vng "
                                        "(retried an hour after this file was written)\n")
            return
        (where / FAILED).unlink(missing_ok=True)
        decompress_modules(Path(scratch, "initrd"))
        shutil.move(Path(scratch, "initrd"), where / "initrd")
        write_json(where / "argv.json", argv)


def decompress_modules(initrd: Path) -> None:
    """Append to vng's initramfs (newc cpio) its modules decompressed and a load_all.sh that loads those.

    vng's initramfs insmods the modules it needs to reach the host's root (netfs, 9p, overlay ...) as the kernel
    ships them, xz-compressed: decompressed under TCG at every boot, ~0.3 s of it. The kernel unpacks an archive
    appended to another over it (load_all.sh rewritten, the .ko files added beside the .ko.xz). Anything unexpected
    (no cpio, no modules/load_all.sh): the initramfs stays as vng made it. subprocess, not proc.run: cpio's stdout is
    the archive, and proc.run would mix its stderr into it."""
    with tempfile.TemporaryDirectory(dir=initrd.parent) as tmp:
        try:
            with initrd.open("rb") as archive:
                listed = subprocess.run(["cpio", "-i", "-d", "--quiet", "modules/*"], stdin=archive, cwd=tmp,
                                        capture_output=True, check=False).returncode == 0
        except OSError:  # no cpio
            return
        load_all = Path(tmp, "modules", "load_all.sh")
        if not listed or not load_all.is_file():
            return
        names = ["modules/load_all.sh"]
        for packed in sorted(Path(tmp, "modules").glob("*.ko.xz")):
            packed.with_suffix("").write_bytes(lzma.decompress(packed.read_bytes()))
            names.append(f"modules/{packed.with_suffix('').name}")
        load_all.write_text(load_all.read_text().replace(".ko.xz", ".ko"))
        appended = subprocess.run(["cpio", "-o", "-H", "newc", "-R", "0:0", "--quiet"], input="\n".join(names).encode(),
                                  cwd=tmp, capture_output=True, check=False)
        if appended.returncode == 0 and len(names) > 1:
            with initrd.open("ab") as archive:
                archive.write(appended.stdout)


def tokenized(argv: list[str], placeholder: Path) -> list[str] | None:
    """argv with its per-guest parts as tokens; None when one is not where expected (another vng: use vng)."""
    out, found = [], set()
    for before, arg in zip(["", *argv], argv, strict=False):  # each with the one before it
        new = arg.replace(str(placeholder).lstrip("/"), SHARED)
        if before == "-initrd":
            new = INITRD
        new = RET_CHARDEV.sub(rf"\1{RET}", new)
        if before == "-append":
            new = CHDIR_ARG.sub(f"virtme_chdir={CHDIR}", EXEC_ARG.sub(f"virtme.exec=`{EXEC}`", new))
        found |= {t for t in (SHARED, EXEC, RET, INITRD, CHDIR) if t in new}
        out.append(new)
    return out if found >= {SHARED, EXEC, RET, INITRD} else None


def qemu_argv(recording: Recording, shared_dir: Path, command: str, ret: Path) -> list[str]:
    """The recorded command line for this guest: its shared directory, command, status file and our working directory."""
    values = {SHARED: str(shared_dir).lstrip("/"), EXEC: base64.b64encode(command.encode()).decode(), RET: str(ret),
              INITRD: str(recording.initrd), CHDIR: os.getcwd().lstrip("/")}
    out = []
    for arg in recording.argv:
        for token, value in values.items():
            arg = arg.replace(token, value)
        out.append(arg)
    return out


def script_status(ret: Path) -> int:
    """The guest's script's exit status as vng gives it: the number the guest wrote, else 255 (it never finished)."""
    try:
        text = ret.read_text().strip()
    except OSError:
        return 255
    return int(text) if text.isdigit() else 255
