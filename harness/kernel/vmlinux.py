"""Get the ELF vmlinux (with its .BTF section) out of a compressed bzImage."""
from __future__ import annotations

import gzip
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
