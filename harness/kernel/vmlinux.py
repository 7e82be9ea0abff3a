"""Get the ELF vmlinux (with its .BTF section) out of a compressed bzImage."""
from __future__ import annotations

import gzip
import hashlib
import struct
import subprocess
import zlib
from pathlib import Path

from harness.errors import InfraError

# magic bytes of the payload compressors a bzImage may use -> command that decompresses stdin
_COMPRESSORS: list[tuple[bytes, list[str] | None]] = [
    (b"\x28\xb5\x2f\xfd", ["zstd", "-dcq"]),
    (b"\xfd7zXZ\x00", ["xz", "-dcq"]),
    (b"\x1f\x8b\x08", None),  # gzip: done in Python
]


def _decompress(data: bytes, cmd: list[str] | None) -> bytes:
    if cmd is None:
        try:
            return zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(data)
        except (zlib.error, gzip.BadGzipFile):
            return b""
    # trailing bytes after the stream make the tool complain; what it wrote is still right
    return subprocess.run(cmd, input=data, capture_output=True).stdout


def extract_vmlinux(image: Path, out: Path) -> None:
    data = image.read_bytes()
    for magic, cmd in _COMPRESSORS:
        start = data.find(magic)
        while start != -1:
            elf = _decompress(data[start:], cmd)
            if elf.startswith(b"\x7fELF"):
                partial = out.with_name(out.name + ".partial")
                partial.write_bytes(elf)
                partial.rename(out)
                return
            start = data.find(magic, start + 1)
    raise InfraError(f"found no compressed ELF vmlinux inside {image}: is it a bzImage?")


PT_NOTE = 4
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the PVH entry point: QEMU can boot this ELF directly


def has_pvh_entry(vmlinux: Path) -> bool:
    """Does this ELF vmlinux have a PVH entry note (CONFIG_PVH), so QEMU boots it without the bzImage's decompressor?"""
    try:
        with open(vmlinux, "rb") as f:
            head = f.read(64)
            if head[:5] != b"\x7fELF\x02":  # 64-bit ELF
                return False
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
            for i in range(phnum):
                p_type, _, p_offset = struct.unpack_from("<IIQ", table, i * phentsize)
                filesz, = struct.unpack_from("<Q", table, i * phentsize + 32)
                if p_type == PT_NOTE:
                    f.seek(p_offset)
                    if _has_note(f.read(filesz), b"Xen\0", XEN_ELFNOTE_PHYS32_ENTRY):
                        return True
    except (OSError, struct.error):
        return False
    return False


def _has_note(notes: bytes, name: bytes, kind: int) -> bool:
    at = 0
    while at + 12 <= len(notes):
        namesz, descsz, note_type = struct.unpack_from("<III", notes, at)
        start = at + 12
        if note_type == kind and notes[start:start + namesz] == name:
            return True
        at = start + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def section(vmlinux: Path, name: str) -> bytes | None:
    """The bytes of one section of a 64-bit little-endian ELF (e.g. ".BTF"), or None when it has none."""
    try:
        with open(vmlinux, "rb") as f:
            head = f.read(64)
            if head[:6] != b"\x7fELF\x02\x01":
                return None
            shoff, = struct.unpack_from("<Q", head, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from("<HHH", head, 0x3A)
            f.seek(shoff)
            table = f.read(shentsize * shnum)

            def header(i: int) -> tuple[int, int, int]:
                sh_name, = struct.unpack_from("<I", table, i * shentsize)
                offset, size = struct.unpack_from("<QQ", table, i * shentsize + 24)
                return sh_name, offset, size
            _, names_at, names_size = header(shstrndx)
            f.seek(names_at)
            names = f.read(names_size)
            for i in range(shnum):
                sh_name, offset, size = header(i)
                if names[sh_name:names.find(b"\0", sh_name)] == name.encode():
                    f.seek(offset)
                    return f.read(size)
    except (OSError, struct.error):
        return None
    return None


def btf_digest(vmlinux: Path) -> str | None:
    """sha256 of the kernel's BTF (its .BTF section), or None without one. What test_progs is built against: its
    vmlinux.h is generated from it, and bpf_testmod's split BTF refers to its type ids, so the same bytes mean the
    same payload whatever else in the kernel changed."""
    btf = section(vmlinux, ".BTF")
    return hashlib.sha256(btf).hexdigest() if btf else None
