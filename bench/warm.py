"""P5, measured in one run, on the same warm guest:
  P5 warm ratio   = a warm `pytest -k mptcp/base --keep-guest` (attaches to the kept guest, no boot)
                    / `./test_progs -a mptcp/base` run directly in that same guest over an SSH
                    session already open (the floor: nothing of the harness around it)
  P5 warm speedup = a cold `pytest -k mptcp/base` (it boots its own guest) / the warm run
Each side runs `--rounds` times (default 7: test_progs itself swings by a second from one run to the next under
TCG); medians compared, and each round's own ratio and each side's spread printed.
Also timed each round: pytest alone, the same interpreter and pytest running one empty test with the harness's
plugin off. Its start-up and end are in the warm side and in no harness's power to cut:
  P5 floor        = (direct + pytest alone) / direct, the warm ratio of a harness that cost nothing
  harness's own   = warm - direct - pytest alone (the plugin, the warm guest's check, batch.sh ... ), per round
Usage: python bench/warm.py [--rounds N] [--subtest base]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(*args: str, what: str = "suites") -> float:
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", what, *args],
                          cwd=REPO, env=env, capture_output=True, text=True)
    took = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"benchmark run failed ({proc.returncode}):\n{proc.stdout[-2000:]}")
    return took


def stop_warm_guests() -> None:
    subprocess.run([sys.executable, "-m", "harness", "guests", "stop", "--all"], cwd=REPO, capture_output=True)


def direct_in_warm_guest(subtest: str) -> float:
    """test_progs alone in the kept guest, over an SSH session opened beforehand (not timed)."""
    from harness import guest, pipeline
    from harness.data import SUITES_DIR
    from harness.guest import warm
    from harness.guest.channel_paramiko import SshChannel
    from harness.settings import Settings, default_cache_dir
    from harness.suites import load_suite

    settings = Settings(cache_dir=default_cache_dir())
    prepared = pipeline.prepare(pipeline.PrepareRequest.of(settings), [load_suite(SUITES_DIR / "mptcp_bpf.toml")], say=lambda _: None)
    assert prepared.payload is not None
    (entry,) = [e for e in warm.load(settings.cache_dir) if warm.is_alive(e)]
    channel = SshChannel(entry.port, guest.vng_ssh_key())
    try:
        start = time.monotonic()
        done = channel.run(f"cd {prepared.payload.directory} && ./test_progs -a mptcp/{subtest}", 300)
        took = time.monotonic() - start
    finally:
        channel.close()
    if done.exit_status != 0:
        sys.exit(f"test_progs in the warm guest failed ({done.exit_status}):\n{done.output[-2000:]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--subtest", default="base")
    args = ap.parse_args()
    select = ["-k", f"mptcp/{args.subtest}"]
    cold, warm, direct, alone = [], [], [], []
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "test_empty.py"
        empty.write_text("def test_nothing():\n    pass\n")
        try:
            for round_ in range(1, args.rounds + 1):
                stop_warm_guests()  # the cold side shares the machine with no idle guest
                cold.append(timed(*select))  # one-shot: boots its own guest
                timed(*select, "--keep-guest")  # boots the guest that the warm side attaches to (not measured)
                warm.append(timed(*select, "--keep-guest"))
                direct.append(direct_in_warm_guest(args.subtest))
                alone.append(timed("-p", "no:harness", what=str(empty)))
                print(f"round {round_}: cold {cold[-1]:.1f} s, warm {warm[-1]:.1f} s, direct {direct[-1]:.1f} s, "
                      f"pytest alone {alone[-1]:.2f} s; ratio {warm[-1] / direct[-1]:.2f}, "
                      f"harness's own {warm[-1] - direct[-1] - alone[-1]:.2f} s", flush=True)
        finally:
            stop_warm_guests()
    sides = (("cold", cold), ("warm", warm), ("direct", direct), ("pytest alone", alone))
    for name, values in sides:
        print(f"{name:12} min {min(values):.2f} s, median {statistics.median(values):.2f} s, max {max(values):.2f} s")
    med = {k: statistics.median(v) for k, v in sides}
    own = statistics.median(w - d - a for w, d, a in zip(warm, direct, alone, strict=True))
    print("medians: " + ", ".join(f"{k} {v:.2f} s" for k, v in med.items()) + f"; harness's own {own:.2f} s")
    print(f"P5 floor: {(med['direct'] + med['pytest alone']) / med['direct']:.2f}")
    print(f"P5 warm speedup: {med['cold'] / med['warm']:.2f}")
    print(f"P5 warm ratio: {med['warm'] / med['direct']:.2f}")


if __name__ == "__main__":
    main()
