"""A kernel crash's fingerprint: the first stack frames that say where it happened, so the same crash is known again.

Pure: an incident's excerpt (harness.parse.console) in, a short string out. The frames are
the "Call Trace:" lines' function names, without the unreliable ones ("? func") and without
the generic frames every report of its kind has (the reporting and panic machinery, the
entry code, the thread start), so that two WARNINGs from the same place agree whatever
path reached them, and two different places differ.
"""
from __future__ import annotations

import dataclasses
import re

from harness.parse.console import KERNEL_TIMESTAMP, Incident
from harness.parse.events import NOBODY

FRAMES = 5
FRAME = re.compile(r"^\s*(?:\[<[0-9a-f]+>\] )?(?P<unreliable>\? )?(?P<func>[A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
TRACE_START = re.compile(r"Call Trace:|backtrace(?: \(crc [0-9a-f]+\))?:")  # kmemleak: "backtrace (crc 1a2b):"
GENERIC = frozenset({
    "dump_stack_lvl", "dump_stack", "show_stack", "__warn", "warn_slowpath_fmt", "report_bug", "handle_bug",
    "exc_invalid_op", "asm_exc_invalid_op", "panic", "vpanic", "nmi_panic", "__die", "die", "oops_end",
    "__pfx_kthread", "kthread", "ret_from_fork", "ret_from_fork_asm", "do_syscall_64", "entry_SYSCALL_64_after_hwframe",
    "x64_sys_call", "kasan_report", "print_report", "__kasan_report", "check_panic_on_warn", "rcu_dump_cpu_stacks",
    "kasan_check_range", "check_region_inline", "__common_interrupt", "common_interrupt", "asm_common_interrupt",
    "__asan_load4", "__asan_store4", "__asan_load8", "__asan_store8",
    "exc_int3", "asm_exc_int3", "do_int3", "do_int3_user", "print_circular_bug", "check_noncircular",
    # lockdep's own frames, and the allocator and module loading under a kmemleak backtrace
    "print_deadlock_bug", "check_deadlock", "validate_chain", "__lock_acquire", "lock_acquire", "lockdep_rcu_suspicious",
    "kmemleak_alloc", "kmemleak_alloc_recursive", "slab_post_alloc_hook", "__kmalloc_cache_noprof", "__kmalloc_noprof",
    "kmalloc_trace_noprof", "kmem_cache_alloc_noprof", "__kmalloc_node_noprof", "kmem_cache_alloc_lru_noprof",
    "pcpu_alloc_noprof", "__alloc_percpu", "__alloc_percpu_gfp",
    "do_one_initcall", "do_init_module", "load_module", "init_module_from_file", "idempotent_init_module",
    "__do_sys_finit_module", "__x64_sys_finit_module",
})


RIP = re.compile(r"\bRIP: 0010:(?P<func>[A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")  # a kernel-mode RIP


def frames(excerpt: tuple[str, ...] | list[str]) -> list[str]:
    """The function names of the (first) call trace, reliable and not generic, in order; first the one a kernel RIP
    before the trace names (where a WARNING or an oops happened: the trace starts at its caller)."""
    found: list[str] = []
    in_trace, traced = False, 0  # frames seen in the trace, generic ones included
    for raw in excerpt:
        line = KERNEL_TIMESTAMP.sub("", raw, count=1)
        if not in_trace and not found and (rip := RIP.search(line)) and rip["func"].split(".", 1)[0] not in GENERIC:
            found.append(rip["func"].split(".", 1)[0])
            continue
        if TRACE_START.search(line):
            if traced:
                break  # the first trace is the one that matters
            in_trace = True
            continue
        if not in_trace:
            continue
        m = FRAME.match(line)
        if m is None:
            if line.strip() in ("<TASK>", "</TASK>", "<IRQ>", "</IRQ>") or line.strip().startswith("<"):
                continue
            if traced:
                break  # the trace ended
            continue
        traced += 1
        func = m["func"].split(".", 1)[0]  # isra.0, cold ... are the same function
        if not m["unreliable"] and func not in GENERIC and func not in found[:1]:
            found.append(func)
    return found


# lockdep's list of held locks: "#0: ffffffff92aec858 (lock_me_up){+.+.}-{3:3}, at: lkdtm_do_action+0x37/0x60"
HUNG_TASK = re.compile(r"INFO: task (?P<comm>\S+?):(?P<pid>\d+) blocked")
HELD_LOCK = re.compile(r"#\d+: [0-9a-f]+ \((?P<lock>[^)]+)\)\S*, at: (?P<func>[A-Za-z_][\w.]*)\+0x")


def fingerprint(excerpt: tuple[str, ...] | list[str]) -> str:
    """"f1/f2/f3/f4/f5"; for a report without a call trace (lockdep's "lock held when returning to user space")
    the locks it names and where they were taken, "lock_me_up@lkdtm_do_action"; else ""."""
    found = frames(excerpt) or held_locks(excerpt)
    return "/".join(found[:FRAMES])


def held_locks(excerpt: tuple[str, ...] | list[str]) -> list[str]:
    """"lock@function" per lock a report lists as held, in order, lock subclasses ("#8") dropped; for a hung task
    only the blocked task's own (its report lists every task's: its stack is at KERN_INFO, under loglevel=5)."""
    hung = HUNG_TASK.search(excerpt[0]) if excerpt else None
    owner = f"locks held by {hung['comm']}/{hung['pid']}:" if hung else None
    mine = owner is None
    found: list[str] = []
    for line in excerpt:
        if owner is not None and "locks held by " in line:
            mine = owner in line
        if mine and (m := HELD_LOCK.search(line)):
            found.append(f"{re.sub(r'#[0-9]+$', '', m['lock'])}@{m['func'].split('.', 1)[0]}")
    return list(dict.fromkeys(found))


def attributed(incident: Incident, running: tuple[str, ...]) -> Incident:
    """The incident as runs report it: who was running where it sits in the kernel log, and its fingerprint."""
    return dataclasses.replace(incident, running=running, fingerprint=fingerprint(incident.excerpt))


def event_lines(incidents: tuple[Incident, ...] | list[Incident]) -> list[str]:
    """A report's lines for them (parse.events reads them back): per incident a header, then its excerpt.
    "panic (running: mptcp/base, mptcp/subflow) [f1/f2/f3/f4/f5]:" """
    lines: list[str] = []
    for i in incidents:
        fp = f" [{i.fingerprint}]" if i.fingerprint else ""
        lines += [f"{i.kind} (running: {', '.join(i.running) or NOBODY}){fp}:", *i.excerpt]
    return lines
