"""A kernel ready to boot: what every later stage needs to know about it."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# A tree's build directories, `<tree>/.mptcp-harness-build-<mode>-<key>` (harness/kernel/tree.py): git keeps them
# when it cleans the nightly's clone, bisect keeps them when it removes its worktree.
BUILD_PREFIX = ".mptcp-harness-build-"


@dataclass(frozen=True)
class Kernel:
    image: Path  # bzImage / vmlinuz that vng boots
    release: str  # `uname -r` inside the guest: where its modules are looked up
    modules_dir: Path | None  # holds modules.dep etc. for `release`; None: no modules
    vmlinux: Path  # ELF with a .BTF section: what BPF programs are compiled against
    identity: str  # names this exact build, e.g. "debian:linux-binary-7.3.4+deb13-amd64=7.3.4-1~bpo13+1"
    source: Path | None = None  # a kernel source tree matching it, if known
    source_identity: str | None = None  # names that source (e.g. "linux-source-7.3=7.3.4-1~bpo13+1")
    build_dir: Path | None = None  # its kernel build directory (Module.symvers), when we built it: for bpf_testmod


def config_file(kernel: Kernel) -> Path | None:
    """The kernel's .config: its build directory's, or the one a Debian package ships beside the image."""
    candidates = [kernel.build_dir / ".config"] if kernel.build_dir else \
        [kernel.image.parent / "config", kernel.image.parent / f"config-{kernel.release}"]
    return next((c for c in candidates if c.is_file()), None)


def has_module(kernel: Kernel, name: str) -> bool:
    """The kernel has module `name` (mptcp_crypto_test), loadable or built in, by its modules.dep and modules.builtin."""
    assert kernel.modules_dir is not None
    pattern = re.compile(rf"(^|/){re.escape(name)}\.ko(\.[a-z]+)?(:|$)", re.M)
    for index in ("modules.dep", "modules.builtin"):
        try:
            if pattern.search((kernel.modules_dir / index).read_text(errors="replace")):
                return True
        except OSError:
            continue
    return False
