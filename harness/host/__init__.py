"""The host programs the harness and its guests run: found here, or one line naming the Debian package that has them.

A vng guest's root file system is the host's: a program the guest runs (sshd for vng's
--ssh, busybox for its initramfs, ip for our agent) must be installed on the host. Which
package provides which program is data (images/toolchain.toml, [programs]);
tests/test_host.py checks it both ways: every program named in the code is there, and
`dpkg -S` agrees with it on this machine.

Programs are named in the code in one of three ways, all found by that test:
`require("name", why)`, a module-level tuple whose name ends in `_PROGRAMS`, or the first
word of a command line (a list literal such as ["make", "-C", ...]).
"""
from __future__ import annotations

import os
import shutil
import tomllib
from functools import cache

from harness.data import IMAGES_DIR
from harness.errors import BadInput

# root's PATH has the sbin directories; a user's may not, and vng looks for /usr/sbin/sshd by path
_SBIN = ("/usr/local/sbin", "/usr/sbin", "/sbin")


@cache
def packages_of() -> dict[str, str]:
    """program -> the Debian package that installs it (images/toolchain.toml)."""
    data = tomllib.loads((IMAGES_DIR / "toolchain.toml").read_text())
    return {str(k): str(v) for k, v in data.get("programs", {}).items()}


def find(program: str, path: str | None = None) -> str | None:
    """Where `program` is on this host ($PATH, then the sbin directories), or None."""
    search = os.pathsep.join([path or os.environ.get("PATH", ""), *_SBIN])
    return shutil.which(program, path=search)


def missing(programs: tuple[str, ...]) -> list[str]:
    return [p for p in programs if find(p) is None]


def install_hint(programs: list[str]) -> str:
    """ "sshd (openssh-server)", "busybox (busybox-static), ip (iproute2)" """
    return ", ".join(f"{p} ({packages_of().get(p, 'its package')})" for p in programs)


def require(program: str, why: str) -> str:
    """The program's path, or BadInput in one line: what is missing, for what, and which package has it."""
    found = find(program)
    if found is None:
        raise BadInput(f"{program} not found on this host ({why}): install Debian's "
                       f"{packages_of().get(program, 'package that has it')} (./run does)")
    return found
