"""A kernel built elsewhere (--kernel-image, --modules-dir) and a test_progs built elsewhere (--test-progs)."""
from __future__ import annotations

import json
import struct
from pathlib import Path

from harness.errors import BadInput
from harness.kernel import Kernel
from harness.kernel.vmlinux import extract_vmlinux
from harness.selftests import STAMP, Payload, file_sha256


def image_release(image: Path) -> str:
    """The release a bzImage announces (its setup header points at "6.12.3 (user@host) #1 ...")."""
    try:
        with open(image, "rb") as f:
            head = f.read(0x10000)
    except OSError as e:
        raise BadInput(f"cannot read kernel image {image}: {e.strerror}; give a bzImage (arch/x86/boot/bzImage)") from None
    if len(head) < 0x210 or head[0x202:0x206] != b"HdrS":
        raise BadInput(f"{image} is not an x86 bzImage (no setup header); give arch/x86/boot/bzImage or a vmlinuz")
    (offset,) = struct.unpack_from("<H", head, 0x20E)
    start = 0x200 + offset
    return head[start:head.index(b"\0", start)].decode(errors="replace").split()[0]


def prebuilt_kernel(image: Path, modules_dir: Path | None, cache_dir: Path) -> Kernel:
    release = image_release(image)
    if modules_dir is not None and not (modules_dir / "modules.dep").is_file():
        raise BadInput(f"{modules_dir} has no modules.dep: give the kernel's lib/modules/{release} directory (run depmod)")
    digest = file_sha256(image)[:16]
    vmlinux = cache_dir / "vmlinux" / f"{release}-{digest}"
    if not vmlinux.is_file():
        vmlinux.parent.mkdir(parents=True, exist_ok=True)
        extract_vmlinux(image, vmlinux)
    return Kernel(image, release, modules_dir, vmlinux, identity=f"image:{release}:{digest}")


def given_test_progs(directory: Path, kernel: Kernel) -> Payload:
    """A test_progs built elsewhere; refused when it says it was built for another kernel."""
    binary = directory / "test_progs"
    if not binary.is_file():
        raise BadInput(f"no test_progs in {directory}: give the directory `make -C tools/testing/selftests/bpf` built it in")
    try:
        stamp = json.loads((directory / STAMP).read_text())
    except (OSError, ValueError):
        stamp = {}  # built outside the harness: nothing says which kernel; trust the user
    built_for = stamp.get("kernel")
    if "image_sha256" in stamp:  # the very image it was built for, whatever it is called now
        same = stamp["image_sha256"] == file_sha256(kernel.image)
    else:
        same = built_for is None or built_for == kernel.identity
    if not same:
        raise BadInput(f"test_progs in {directory} was built against the BTF of {built_for}, not {kernel.identity}: "
                       "its BPF programs would not load; rebuild it or pass the matching kernel")
    return Payload(directory, binary, f"given:{directory}")
