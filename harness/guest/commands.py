"""What a round asks the guest to run: a runner script of one line per batch, each calling scripts/batch.sh.

All the logic lives in the shell files of scripts/ (shellchecked); this only writes their
calls with the round's paths and the environment they read.
"""
from __future__ import annotations

import functools
import shlex
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import host
from harness.parse.test_progs import SUBTEST_RESULT_LINE
from harness.suites import Runner, Suite

SCRIPTS = Path(__file__).resolve().parent / "scripts"
KMSG = "/dev/kmsg"
RUNNER_SCRIPT = "run.sh"
TEST_PROGS_PCAPS = "test_progs"  # --pcap: where in the guest's pcap directory test_progs' traffic monitor writes
KSELFTEST_MARGIN_S = 15  # a script's own timeout ends this much before the suite's: it is cut off, the guest goes on


@dataclass(frozen=True)
class Batch:
    """What one runner process of a guest runs (harness.run.plan deals them out): its log and exit status files."""

    index: int
    subtests: tuple[str, ...]  # names without the test prefix, in suite order
    runs_rest: bool = False  # also runs what the build has beyond the suite file

    def log(self, workdir: Path) -> Path:
        return workdir / f"batch-{self.index}.log"

    def status_file(self, workdir: Path) -> Path:
        return workdir / f"batch-{self.index}.rc"

@functools.cache
def awk_command() -> str:
    """The awk that marks result lines in the guest, asked once on the host (the guest's root is the host's).

    busybox's when it has one: static, and resident since the init ran it, it starts in ~0.05 s under TCG where
    mawk, read over 9p with its libraries, took 0.41 s the first time and 0.15 s after. Else the host's awk, with
    -W interactive for mawk (which otherwise reads a pipe in blocks; gawk and busybox read lines as they come).
    """
    busybox = host.find("busybox")
    if busybox and "awk" in run_quietly([busybox, "--list"]).split():
        return f"{busybox} awk"
    return "awk -W interactive" if "mawk" in run_quietly(["awk", "-W", "version"]) else "awk"


@functools.cache
def stdbuf_preload() -> str:
    """The library `stdbuf -oL` preloads into the command it starts, as stdbuf itself names it; "" when unknown.

    batch.sh preloads it into test_progs itself (stdout line-buffered into the marking pipe) instead of starting
    stdbuf first: one program fewer read over 9p per batch, 0.2-0.3 s under TCG.
    """
    return run_quietly(["stdbuf", "-oL", "printenv", "LD_PRELOAD"]).strip()


def run_quietly(argv: list[str]) -> str:
    """A host program's output (stdout and stderr); "" when it cannot run or does not end within 30 s."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout + out.stderr


def script(name: str) -> str:
    return str(SCRIPTS / name)


def progs_argv(suite: Suite, batch: Batch, batches: list[Batch], pcap_out: Path | None = None) -> list[str]:
    """-a takes exact names (-t would match substrings: subflow ~ iters_subflow); -v prints each result as it ends
    (batch.sh line-buffers its stdout, as stdbuf -oL would). pcap_out (--pcap): the traffic monitor on for the
    test's every subtest, its pcaps into pcap_out/TEST_PROGS_PCAPS (scripts/tmon.sh)."""
    argv = ["./test_progs", "-v"]
    if pcap_out is not None:
        argv = ["sh", script("tmon.sh"), str(pcap_out / TEST_PROGS_PCAPS), *argv, "-m", suite.test]
    if batch.runs_rest:
        others = [f"{suite.test}/{s}" for b in batches if b is not batch for s in b.subtests]
        return argv + ["-a", suite.test] + (["-b", ",".join(others)] if others else [])
    return argv + ["-a", ",".join(f"{suite.test}/{s}" for s in batch.subtests)]


def shell_suite_argv(suite: Suite, batch: Batch, workdir: Path, capture: bool = False) -> list[str]:
    """A batch of a shell suite: its commands written as files beside the round's logs; with `capture` (--pcap), the
    suite file's capture command of a subtest too (<subtest>.capture, run by exec: the signal that stops it is its)."""
    commands = workdir / "commands"
    commands.mkdir(parents=True, exist_ok=True)
    for sub in batch.subtests:
        (commands / f"{sub}.sh").write_text(suite.commands[sub] + "\n")
        if capture and sub in suite.capture:
            (commands / f"{sub}.capture").write_text(f"exec {suite.capture[sub]}\n")
    return ["sh", script("shell-suite.sh"), str(batch.index), suite.test, str(commands), *batch.subtests]


def kselftest_argv(suite: Suite, batch: Batch, directory: Path, capture: bool = False) -> list[str]:
    """A batch of a kselftest suite: its scripts, each cut off a little before the host's watch would stop the guest;
    "script:ARGS" for a script the suite file gives [args], with `capture` (--pcap) its [capture] arguments first (an
    option after mptcp_join's test numbers would be taken for a test's name)."""
    limit = max(10, int(suite.timeout_s) - KSELFTEST_MARGIN_S)
    scripts = [f"{s}:{args}" if (args := " ".join(filter(None, (suite.capture.get(s) if capture else None,
                                                                  suite.args.get(s))))) else s for s in batch.subtests]
    return ["sh", script("kselftest.sh"), str(batch.index), suite.test, str(directory), str(limit), *scripts]


def kunit_argv(suite: Suite, batch: Batch) -> list[str]:
    """A batch of a KUnit suite file: its KUnit suites, each with the module that runs it."""
    return ["sh", script("kunit.sh"), str(batch.index), suite.test, *(f"{s}={suite.modules[s]}" for s in batch.subtests)]


def runner_script(suite: Suite, payload_dir: Path | None, shared: Path, batches: list[Batch], workdir: Path,
                  kmsg: str = KMSG, machine_slow: bool = False, every: list[Batch] | None = None,
                  gcov_out: Path | None = None, pcap_out: Path | None = None) -> str:
    """A guest's run.sh: its batches started at once (isolated when not alone), then wait for all.
    every: the round's batches in all its guests, when this guest runs only some (what "the rest" leaves out).
    gcov_out: a gcov kernel (--coverage): where net/mptcp's counters go after the batches (scripts/gcov.sh).
    pcap_out: --pcap: where the scripts that capture leave their pcaps, a directory per script (scripts/kselftest.sh),
    and test_progs' traffic monitor its own (scripts/tmon.sh)."""
    env = {"HARNESS_KMSG": kmsg, "HARNESS_RESULT_LINE": SUBTEST_RESULT_LINE, "HARNESS_SHARED": str(shared),
           "HARNESS_MARKS_ITSELF": "0" if suite.runner is Runner.TEST_PROGS else "1", "HARNESS_AWK": awk_command(),
           "HARNESS_STDBUF_PRELOAD": stdbuf_preload(), "HARNESS_SCRIPTS": str(SCRIPTS)}
    if machine_slow:  # kselftests relax their timing checks on a slow machine (an emulated CPU)
        env["KSFT_MACHINE_SLOW"] = "yes"
    if pcap_out is not None:
        env["HARNESS_PCAP_DIR"] = str(pcap_out)
    lines = ["# written by harness.guest.commands; run by sh inside the guest",
             *(f"export {k}={shlex.quote(v)}" for k, v in env.items())]
    if payload_dir is not None:
        lines.append(f"cd {shlex.quote(str(payload_dir))} || exit 1")
    for b in batches:
        if suite.runner is Runner.SHELL:
            argv = shell_suite_argv(suite, b, workdir, capture=pcap_out is not None)
        elif suite.runner is Runner.KUNIT:
            argv = kunit_argv(suite, b)
        elif suite.runner is Runner.KSELFTEST:
            assert payload_dir is not None
            argv = kselftest_argv(suite, b, payload_dir, capture=pcap_out is not None)
        else:
            argv = progs_argv(suite, b, every or batches, pcap_out)
        scratch = str(workdir / f"scratch-{b.index}") if len(batches) > 1 else "-"  # alone: no isolation set-up
        # a subshell that reads batch.sh, not a new sh: each program a guest starts is read over 9p (~0.1 s under TCG)
        args = [str(b.index), str(b.log(workdir)), str(b.status_file(workdir)), scratch, *argv]
        lines.append(f"(set -- {shlex.join(args)}; . {shlex.quote(script('batch.sh'))}) &")
    # no sync: the shared directory is 9p without a cache (writes reach the host as they are made), and a one-shot
    # guest's init syncs before power-off; `sync` cost 0.15-0.35 s a round under TCG here
    lines.append("wait")
    if gcov_out is not None:
        lines.append(shlex.join(["sh", script("gcov.sh"), str(gcov_out)]))
    return "\n".join([*lines, ""])
