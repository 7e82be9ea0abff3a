"""P6 and where a guest's start-up goes, measured on cold guests of the default kernel (medians of --rounds).

Each round boots a one-shot guest the way the harness does (harness.guest.run_once, the
harness's vng command line) with a script that, first thing, saves the kernel's whole log
(`dmesg`: printk times of the kernel's own boot and of the init's steps) and the
guest's uptime. The host times, by the wall clock, from starting the guest to the script's first
file appearing in the shared directory: that is `P6 boot to first test`, the moment the
harness's batch would start; the moment is the file's modification time (written over 9p by QEMU, the
host's clock), not when a poll of the directory saw it. The phase table splits it:
  host: launch + qemu + firmware  wall time to the script, minus the guest's uptime then (launch:
                                QEMU on vng's recorded command line, or vng itself: --launcher)
  kernel                        uptime when the kernel runs the initramfs's /init
  initramfs: <step>             between the messages of vng's initramfs ("virtme initramfs: loading
                                9p.ko...": the modules it loads, then mounting the host's root)
  init: <step>                  between the init's messages (init.sh's "harness-init: ...",
                                or virtme-ng-init's)
  init -> script                last init message to the script's first line
--init vng boots vng's own init (virtme-ng-init, udev) instead of images/guest.toml's, and
--vng-defaults also without the harness's other boot changes (--force-9p where vng would try
QEMU's C virtiofsd first; the modules skipped; every guest through vng), for the before/after table.
Usage: python bench/boot.py [--rounds N] [--init harness|vng] [--launcher direct|vng] [--vng-defaults]
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness import guest, pipeline  # noqa: E402
from harness.guest import vng  # noqa: E402
from harness.settings import Settings, default_cache_dir  # noqa: E402  # noqa: E402

STAMP = re.compile(r"^\[\s*(\d+\.\d+)\](?:\[\s*[TC]\d+\])? (.*)$")
INIT = re.compile(r"(virtme-ng-init|harness-init|virtme initramfs): ")  # the init's steps, and the initramfs's before it
DURATION = re.compile(r"[0-9.]+ ?(ms|s)\b")  # "udev is done (1.2 s)": one label whatever it took


def one_boot(config: guest.GuestConfig, workdir: Path) -> dict[str, float]:
    script = workdir / "first.sh"
    script.write_text(f"cat /proc/uptime > {workdir}/uptime.tmp; dmesg > {workdir}/dmesg.txt; "
                      f"mv {workdir}/uptime.tmp {workdir}/uptime\n")
    start = time.time()
    exit_ = guest.run_once(config, workdir, script, 600)
    if not (workdir / "uptime").exists() or exit_.timed_out:
        sys.exit(f"the guest never ran the script (console: {exit_.console_log})")
    first = (workdir / "uptime").stat().st_mtime - start  # when the script wrote it, by the host's clock (QEMU's 9p)
    return phases(first, float((workdir / "uptime").read_text().split()[0]), (workdir / "dmesg.txt").read_text())


def phases(wall: float, uptime: float, dmesg: str) -> dict[str, float]:
    """The phase table of one boot, from the wall time to the script and the guest's own log."""
    stamped = [(float(m[1]), m[2]) for m in map(STAMP.match, dmesg.splitlines()) if m]
    started = next((at for at, text in stamped if text.startswith("Run /init as init process")), 0.0)
    steps = [(at, ("initramfs: " if i[1] == "virtme initramfs" else "init: ") + text[i.end():])
             for at, text in stamped if at >= started and (i := INIT.search(text))]  # (not the kernel's modprobe calls)
    table = {"P6 boot to first test": wall, "host: launch + qemu + firmware": wall - uptime}
    if not steps:
        table["kernel + init"] = uptime
        return table
    table["kernel"] = started or steps[0][0]
    if started:
        steps.insert(0, (started, "initramfs: its /init starts"))
    for (at, what), (later, _) in zip(steps, steps[1:], strict=False):
        label = DURATION.sub("", what).strip()[:44]
        table[label] = table.get(label, 0.0) + later - at
    table["init -> script"] = uptime - steps[-1][0]
    return table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--init", choices=("harness", "vng"), help="the guests' init (default: images/guest.toml's)")
    ap.add_argument("--launcher", choices=("direct", "vng"), help="how guests start (default: images/guest.toml's)")
    ap.add_argument("--vng-defaults", action="store_true", help="vng's init, without --force-9p and the skipped modules")
    args = ap.parse_args()
    boot = vng.boot_settings()
    if args.init or args.launcher or args.vng_defaults:
        chosen = {**boot, "init": "vng" if args.vng_defaults else args.init or boot.get("init", "harness"),
                  "launcher": "vng" if args.vng_defaults else args.launcher or boot.get("launcher", "direct")}
        setattr(vng, "boot_settings", lambda: chosen)  # noqa: B010
    if args.vng_defaults:
        setattr(vng, "qemu_virtiofsd_only", lambda: False)  # noqa: B010
        setattr(vng, "boot_settings", lambda: {"init": "vng", "launcher": "vng"})  # noqa: B010
    settings = Settings(cache_dir=default_cache_dir())
    prepared = pipeline.prepare(pipeline.PrepareRequest.of(settings), [], say=lambda _: None)
    config = guest.GuestConfig(prepared.kernel, settings.guest_cpus, settings.guest_memory, prepared.use_kvm,
                               cache_dir=settings.cache_dir)
    with tempfile.TemporaryDirectory(prefix="harness-boot-") as tmp:  # vng's command line, recorded once per cache
        guest.one_shot_argv(config, Path(tmp), "true", Path(tmp) / "status")
    rounds = []
    for n in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory(prefix="harness-boot-") as tmp:
            rounds.append(one_boot(config, Path(tmp)))
        print(f"round {n}: {rounds[-1]['P6 boot to first test']:.1f} s", flush=True)
    labels = list(dict.fromkeys(k for r in rounds for k in r))
    print(f"{'phase':44} median s   ({'TCG' if not prepared.use_kvm else 'KVM'}, {config.cpus} vCPUs)")
    for label in labels[1:]:
        print(f"{label:44} {statistics.median(r.get(label, 0.0) for r in rounds):6.2f}")
    print(f"P6 boot to first test: {statistics.median(r['P6 boot to first test'] for r in rounds):.1f} s")


if __name__ == "__main__":
    main()
