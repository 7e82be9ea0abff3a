"""--pcap on the host: what a script's captures become once its result is known.

The guest leaves each capturing script's pcaps in <guest dir>/pcap/<script>/ (scripts/kselftest.sh), and test_progs'
traffic monitor a pcap per network namespace of each subtest in <guest dir>/pcap/test_progs/ (scripts/tmon.sh). A subtest that
failed (failed, cut off, lost) keeps them there, beside its batch's log, up to CAP_BYTES (the newest first; the cut
said), named in its result (results.json's "pcaps") and read into its output: each capture's MPTCP options and last
packets (harness/parse/pcap.py), and the command that shows all of it. A subtest that passed or skipped has its
pcaps deleted, as the MPTCP CI's loop keeps only the failing run's.
"""
from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

from harness.guest.commands import TEST_PROGS_PCAPS
from harness.parse import pcap
from harness.payload.selftests_bpf import Payload
from harness.results import FAILED_AT_FIRST, SubtestResult
from harness.suites import Runner, Suite

CAP_BYTES = 64 * 1024 * 1024  # a subtest's pcaps kept at most (mptcp_join's ~190 tests at 128 bytes a packet: less)
DIR = "pcap"


def script_of(result: SubtestResult) -> str:
    """The script a kselftest result is of: "net-mptcp/mptcp_join" -> "mptcp_join"."""
    return result.name.rsplit("/", 1)[-1]


def monitor_files(result: SubtestResult, found: Path) -> list[Path]:
    """A test_progs subtest's pcaps among its batch's: network_helpers.c names each packets-PID-SEQ-T__S-NETNS.log
    (its test and subtest joined by "__", "/" and " " made "_")."""
    encoded = re.sub(r"[/ ]", "_", result.name.replace("/", "__", 1))
    return [f for f in found.glob("packets-*.log") if re.match(rf"packets-\d+-\d+-{re.escape(encoded)}-", f.name)]


def captures(result: SubtestResult, guest_dir: Path, suite: Suite) -> tuple[Path, list[Path]]:
    """Where a result's pcaps are, and which they are: a capturing script's directory (kselftest.sh moved them there,
    or they are still among the links it ran in when its guest died), or test_progs' traffic monitor's files."""
    if suite.runner is Runner.TEST_PROGS:
        found = guest_dir / DIR / TEST_PROGS_PCAPS
        return found, monitor_files(result, found) if found.is_dir() else []
    found = guest_dir / DIR / script_of(result)
    if not found.is_dir():
        return found, []
    left = found / "tree"  # a script whose guest died: its pcaps still where it ran, among links (kselftest.sh)
    for f in left.glob("*/*.pcap"):
        f.rename(found / f.name)
    shutil.rmtree(left, ignore_errors=True)  # the links, never what they point to
    return found, list(found.glob("*.pcap"))


def passed_subcases(result: SubtestResult, files: list[Path], subcase: str | None) -> list[Path]:
    """The pcaps of sub-cases that passed, where the suite file says how a pcap's name gives its sub-case's number
    (its TAP line's: the n-th sub-case)."""
    if not subcase or not result.subcases:
        return []
    passed = {n for n, case in enumerate(result.subcases, 1) if case.status not in FAILED_AT_FIRST}
    return [f for f in files if (m := re.search(subcase, f.name)) and int(m["n"]) in passed]


def kept(result: SubtestResult, guest_dir: Path, suite: Suite) -> SubtestResult:
    """The result with its pcaps named and read into its output when it failed; its pcaps deleted otherwise, and
    those of its sub-cases that passed (the suite file's `subcase` regex for its script, see passed_subcases)."""
    if suite.runner is not Runner.TEST_PROGS and script_of(result) not in suite.capture:  # ran with [args] only
        shutil.rmtree(guest_dir / DIR / script_of(result), ignore_errors=True)
        return result
    found, files = captures(result, guest_dir, suite)
    if result.status not in FAILED_AT_FIRST:
        for f in files:
            f.unlink()
        if suite.runner is not Runner.TEST_PROGS:
            shutil.rmtree(found, ignore_errors=True)  # the script's own directory
        return result
    if not files:  # (test_progs: a subtest that made no network namespace of its own with netns_new())
        return result if not found.is_dir() else \
            dataclasses.replace(result, output=(*result.output, f"[pcap] no capture of it in {found}"))
    for f in passed_subcases(result, files, suite.capture_subcase.get(script_of(result))):
        f.unlink()
        files.remove(f)
    stats = {f: f.stat() for f in files}
    keep, total, cut = [], 0, []
    for f in sorted(files, key=lambda f: stats[f].st_mtime, reverse=True):  # the newest first
        if total + stats[f].st_size > CAP_BYTES:
            cut.append(f)
            f.unlink()
            continue
        keep.append(f)
        total += stats[f].st_size
    lines = pcap.excerpt(worth_reading(keep))
    lines.insert(0, f"[pcap] {len(keep)} capture(s) kept in {found}" + (
        f"; {len(cut)} older one(s) deleted at the {CAP_BYTES // 2**20} MiB cap" if cut else ""))
    return dataclasses.replace(result, output=(*result.output, *lines), pcaps=tuple(str(f) for f in sorted(keep)))


def worth_reading(files: list[Path], scanned: int = 10) -> list[pcap.Capture]:
    """The capture to excerpt, among the `scanned` newest: the newest that holds MPTCP options, else the newest that
    holds packets, else the newest. Where the script stopped is the newest; but one cut off as its tcpdump started is
    empty (seen under load: mptcp_join cut off a second into its test 2), or holds only the namespace's own IPv6
    chatter (tests/data/pcap/mptcp_join/no-mptcp-yet-mp_join-02.pcap), and the test before it shows the traffic."""
    read = [pcap.read(f) for f in files[:scanned]]
    chosen = next((c for c in read if c.options), None) or next((c for c in read if c.packets), None)
    return [chosen] if chosen is not None else read[:1]


def unable(suite: Suite, subtests: tuple[str, ...], payload: object, packet: str | None) -> tuple[list[str], str]:
    """The selected subtests that cannot capture, and why (a line said once per suite; they run as without --pcap).
    payload: the suite's (test_progs captures where it was built with libpcap); packet: the kernel's CONFIG_PACKET
    (None when its config is unknown: tried)."""
    names = [suite.full_name(s) for s in subtests]
    if packet == "n":
        return names, "the kernel has no AF_PACKET (CONFIG_PACKET is not set): tcpdump and libpcap capture nothing"
    if suite.runner is Runner.TEST_PROGS:
        if isinstance(payload, Payload) and payload.traffic_monitor:
            return [], ""
        where = payload.test_progs if isinstance(payload, Payload) else "test_progs"
        return names, f"{where} was built without libpcap, so without its traffic monitor (-m): install libpcap-dev " \
            "(./run does) and the next build of test_progs has it"
    if suite.runner is Runner.KUNIT:
        return names, "KUnit's tests run inside the kernel"
    why = "their scripts have no capture option; the suite file's [capture] names those that do" \
        if suite.runner is Runner.KSELFTEST else "the suite file's [capture] names no capture command for them"
    return [suite.full_name(s) for s in subtests if s not in suite.capture], why
