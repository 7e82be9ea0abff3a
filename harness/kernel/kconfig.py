"""Compose a kernel config from kernel-configs/ fragments and check that every option asked for survived.

Fragments use merge_config.sh's format ("CONFIG_FOO=y", "# CONFIG_FOO is not set"). A mode's
fragments (kernel-configs/modes.toml) go on a base (kernel-configs/bases.toml, --kconfig-base):
`lean`, allnoconfig with the guest's and the mode's fragments as its KCONFIG_ALLCONFIG (the
kernel's documented way to start from nothing but what is asked), or `vng`, what
`vng --kconfig` makes (virtme-configkernel --defconfig) with the fragments on top. Kconfig
then resolves dependencies, and may silently drop an option whose dependencies are missing
(or that belongs to another architecture, or is misspelt): that is found here, named with
its fragment, before any long build starts.
"""
from __future__ import annotations

import re
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.data import KERNEL_CONFIGS_DIR
from harness.errors import BadInput, failed_step
from harness.kernel import Kernel, config_file

SET = re.compile(r"^(CONFIG_\w+)=(.*)$")
UNSET = re.compile(r"^# (CONFIG_\w+) is not set$")


@dataclass(frozen=True)
class Fragment:
    name: str
    path: Path
    options: dict[str, str]  # CONFIG_FOO -> "y" | "m" | '"text"' | "n" (not set)


def read_fragment(path: Path) -> Fragment:
    options: dict[str, str] = {}
    for line_no, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if m := SET.match(line):
            options[m[1]] = m[2]
        elif m := UNSET.match(line):
            options[m[1]] = "n"
        elif line and not line.startswith("#"):
            raise BadInput(f"{path}:{line_no}: not a config line ({line!r}); write CONFIG_FOO=y or '# CONFIG_FOO is not set'")
    return Fragment(path.stem, path, options)


def bases(directory: Path = KERNEL_CONFIGS_DIR) -> dict[str, dict[str, Any]]:
    return tomllib.loads((directory / "bases.toml").read_text())


def mode_fragments(mode: str, extra: tuple[str, ...] = (), directory: Path = KERNEL_CONFIGS_DIR,
                   base: str = "lean") -> list[Fragment]:
    """The base's own fragments (bases.toml), then the mode's (modes.toml), then `extra`."""
    modes = tomllib.loads((directory / "modes.toml").read_text())
    if mode not in modes:
        raise BadInput(f"unknown kernel mode {mode!r}: choose one of {', '.join(sorted(modes))} (kernel-configs/modes.toml)")
    known = bases(directory)
    if base not in known:
        raise BadInput(f"unknown kconfig base {base!r}: choose one of {', '.join(sorted(known))} (kernel-configs/bases.toml)")
    names = [*known[base]["fragments"], *modes[mode]["fragments"], *extra]
    available = sorted(p.stem for p in directory.glob("*.config"))
    missing = [n for n in names if not (directory / f"{n}.config").is_file()]
    if missing:
        raise BadInput(f"unknown kernel-configs fragment(s) {', '.join(missing)}: choose from {', '.join(available)}")
    return [read_fragment(directory / f"{n}.config") for n in names]


def read_config(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if m := SET.match(line):
            found[m[1]] = m[2]
        elif m := UNSET.match(line):
            found[m[1]] = "n"
    return found


def dropped(fragments: list[Fragment], config: dict[str, str]) -> list[str]:
    """Each option a fragment asked for that the final .config does not have, in one line each."""
    problems = []
    for fragment in fragments:
        for option, wanted in fragment.options.items():
            got = config.get(option, "n")
            if got != wanted:
                problems.append(f"{option}={wanted} (kernel-configs/{fragment.path.name}) became "
                                f"{'not set' if got == 'n' else got}: a missing dependency, another architecture, or a typo")
    return problems


def configure(tree: Path, build_dir: Path, fragments: list[Fragment], env: dict[str, str], log: Path,
              base: str = "lean", make_args: list[str] | None = None) -> None:
    """Write build_dir/.config: the base with the fragments, then verify them (BadInput if one was dropped)."""
    build_dir.mkdir(parents=True, exist_ok=True)
    if bases()[base]["start"] == "allnoconfig":
        wanted = build_dir / "harness-allno.config"  # every fragment, in order: a later line wins
        wanted.write_text("".join(f"# kernel-configs/{f.path.name}\n{f.path.read_text()}" for f in fragments))
        argv = ["make", "-C", str(tree), f"O={build_dir}", *(make_args or []), f"KCONFIG_ALLCONFIG={wanted}", "allnoconfig"]
    else:
        argv = ["virtme-configkernel", "--defconfig"]
        for fragment in fragments:
            argv += ["--custom", str(fragment.path)]
    with open(log, "a") as out:
        out.write(" ".join(argv) + "\n")
        out.flush()
        proc = subprocess.run(argv, cwd=tree, env=dict(env, KBUILD_OUTPUT=str(build_dir)), stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if proc.returncode != 0 or not (build_dir / ".config").is_file():
        raise failed_step("configuring the kernel", log, keep=6)
    problems = dropped(fragments, read_config(build_dir / ".config"))
    if problems:
        raise BadInput(f"{len(problems)} requested kernel option(s) did not survive olddefconfig: " + "; ".join(problems))


def setting(kernel: Kernel, option: str) -> str | None:
    """What the kernel's .config sets `option` to ("y", "m", a value; "n" when not set); None when its config is unknown."""
    config = config_file(kernel)
    return None if config is None else read_config(config).get(option, "n")


def built_with(kernel: Kernel, option: str) -> bool:
    """The kernel's .config sets `option` (CONFIG_GCOV_KERNEL ...) to y; False when its config is unknown."""
    return setting(kernel, option) == "y"
