"""A kernel built elsewhere (--kernel-image, --modules-dir)."""
from __future__ import annotations

import struct
from pathlib import Path

from harness.cache import file_sha256
from harness.errors import BadInput
from harness.kernel import Kernel
from harness.kernel.vmlinux import extract_vmlinux


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
