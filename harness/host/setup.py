"""Install the host packages the harness needs (images/toolchain.toml), by name, idempotently.

Standard library only: it runs before the harness's virtualenv exists. Only the host's
own apt suites are used (clang-22 comes from bookworm-security, which a Debian 12 host
already has); nothing of another release is installed on the host.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from harness.data import IMAGES_DIR  # standard library only, as this module must be
from harness.errors import Exit

TOOLCHAIN = IMAGES_DIR / "toolchain.toml"


def wanted_packages(path: Path = TOOLCHAIN, only: list[str] | None = None) -> list[str]:
    """The packages of the named groups of images/toolchain.toml (all of them when none are named)."""
    groups = tomllib.loads(path.read_text())["packages"]
    if unknown := sorted(set(only or ()) - set(groups)):
        raise ValueError(f"set-up: no package group {', '.join(unknown)} in {path} (it has: {', '.join(groups)})")
    return sorted({p for name, group in groups.items() if not only or name in only for p in group})


def missing_packages(packages: list[str]) -> list[str]:
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True, text=True,
    ).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [p for p in packages if p not in installed]


def main(argv: list[str]) -> int:
    """python -m harness.host.setup [GROUP ...]: what ./run's command needs (all groups by default)."""
    try:
        missing = missing_packages(wanted_packages(only=argv))
    except ValueError as e:
        print(e, file=sys.stderr)
        return Exit.BAD_INPUT
    if not missing:
        return Exit.PASSED
    print(f"set-up: installing {len(missing)} host package(s): {' '.join(missing)}", flush=True)
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    out = subprocess.DEVNULL if os.environ.get("CI") else None
    subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, env=env, stdout=out)
    proc = subprocess.run(
        [*sudo, "apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env, stdout=out
    )
    if proc.returncode != 0:
        print(f"set-up: apt-get install failed for: {' '.join(missing)}", file=sys.stderr)
        return Exit.INFRA
    return Exit.PASSED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
