"""What a round asks the guest to run: a runner script of one line per batch, each calling scripts/batch.sh.

All the logic lives in the shell files of scripts/ (shellchecked); this only writes their
calls with the round's paths and the environment they read.
"""
from __future__ import annotations

import functools
import shlex
import subprocess
from pathlib import Path

from harness.parse.test_progs import SUBTEST_RESULT_LINE
from harness.plan import Batch, progs_argv
from harness.suites import Runner, Suite

SCRIPTS = Path(__file__).resolve().parent / "scripts"
KMSG = "/dev/kmsg"
RUNNER_SCRIPT = "run.sh"
KSELFTEST_MARGIN_S = 15  # a script's own timeout ends this much before the suite's: it is cut off, the guest goes on


@functools.cache
def awk_options() -> str:
    """mawk reads a pipe in blocks unless -W interactive; gawk and busybox read lines as they come.

    Asked once on the host, whose programs the guest runs (its root is the host's), instead of
    in every batch: each program started in the guest is read over 9p, slow under TCG.
    """
    out = subprocess.run(["awk", "-W", "version"], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    return "-W interactive" if "mawk" in (out.stdout + out.stderr) else ""


def script(name: str) -> str:
    return str(SCRIPTS / name)


def isolated(argv: list[str], scratch: str) -> str:
    """A shell command line running argv isolated from every other isolated one (scripts/isolated.sh says how)."""
    return shlex.join(["sh", script("isolated.sh"), scratch, *argv])


def shell_suite_argv(suite: Suite, batch: Batch, workdir: Path) -> list[str]:
    """A batch of a shell suite: its commands written as files beside the round's logs."""
    commands = workdir / "commands"
    commands.mkdir(parents=True, exist_ok=True)
    for sub in batch.subtests:
        (commands / f"{sub}.sh").write_text(suite.commands[sub] + "\n")
    return ["sh", script("shell-suite.sh"), str(batch.index), suite.test, str(commands), *batch.subtests]


def kselftest_argv(suite: Suite, batch: Batch, directory: Path) -> list[str]:
    """A batch of a kselftest suite: its scripts, each cut off a little before the host's watch would stop the guest."""
    limit = max(10, int(suite.timeout_s) - KSELFTEST_MARGIN_S)
    return ["sh", script("kselftest.sh"), str(batch.index), suite.test, str(directory), str(limit), *batch.subtests]


def runner_script(suite: Suite, payload_dir: Path | None, shared: Path, batches: list[Batch], workdir: Path,
                  kmsg: str = KMSG, machine_slow: bool = False) -> str:
    """The round's run.sh: every batch started at once (isolated when not alone), then wait for all."""
    env = {"HARNESS_KMSG": kmsg, "HARNESS_RESULT_LINE": SUBTEST_RESULT_LINE, "HARNESS_SHARED": str(shared),
           "HARNESS_MARKS_ITSELF": "0" if suite.runner is Runner.TEST_PROGS else "1", "HARNESS_AWK_OPTS": awk_options(),
           "HARNESS_SCRIPTS": str(SCRIPTS)}
    if machine_slow:  # kselftests relax their timing checks on a slow machine (an emulated CPU)
        env["KSFT_MACHINE_SLOW"] = "yes"
    lines = ["# written by harness.guest.commands; run by sh inside the guest",
             *(f"export {k}={shlex.quote(v)}" for k, v in env.items())]
    if payload_dir is not None:
        lines.append(f"cd {shlex.quote(str(payload_dir))} || exit 1")
    for b in batches:
        if suite.runner is Runner.SHELL:
            argv = shell_suite_argv(suite, b, workdir)
        elif suite.runner is Runner.KSELFTEST:
            assert payload_dir is not None
            argv = kselftest_argv(suite, b, payload_dir)
        else:
            argv = progs_argv(suite, b, batches)
        scratch = str(workdir / f"scratch-{b.index}") if len(batches) > 1 else "-"  # alone: no isolation set-up
        # a subshell that reads batch.sh, not a new sh: each program a guest starts is read over 9p (~0.1 s under TCG)
        args = [str(b.index), str(b.log(workdir)), str(b.status_file(workdir)), scratch, *argv]
        lines.append(f"(set -- {shlex.join(args)}; . {shlex.quote(script('batch.sh'))}) &")
    # no sync: the shared directory is 9p without a cache (writes reach the host as they are made), and a one-shot
    # guest's init syncs before power-off; `sync` cost 0.15-0.35 s a round under TCG here
    lines += ["wait", ""]
    return "\n".join(lines)
