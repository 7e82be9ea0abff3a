"""Nothing lost, whatever breaks around a run: a file where a directory goes, output another tool wrote, a full disk.
Each is one line and the right exit code; what was there before is intact."""
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT, pytest_env, run_harness

NIGHTS = Path(__file__).parent / "data" / "nights"


@pytest.mark.parametrize("command", [
    ["nightly", "--out", "{out}", "--git", "file:///nowhere", "-k", "mptcp/base", "--harness-cache={cache}"],
    ["bisect", "--kernels", "6.12,7.3", "--out", "{out}", "-k", "mptcp/base", "--harness-cache={cache}"],
    ["merge", str(NIGHTS / "2026-11-26-default" / "prebuilt"), "--out", "{out}"],
])
def test_a_file_where_the_output_directory_goes_is_one_line_exit_2_before_any_work(tmp_path: Path, command: list[str]) -> None:
    """Found at 1191709: `nightly --out FILE` was a NotADirectoryError traceback, after the fetch."""
    out = tmp_path / "a-file"
    out.write_text("mine\n")
    run = run_harness(*(a.format(out=out, cache=tmp_path / "cache") for a in command))
    assert run.returncode == 2 and run.stderr.count("\n") == 1, run.stderr
    assert f"--out {out} is a file, not a directory" in run.stderr and out.read_text() == "mine\n"
    assert not (tmp_path / "cache" / "git").exists()  # nothing fetched first


def test_a_report_dir_that_is_a_file_is_a_usage_error_under_pytest(tmp_path: Path) -> None:
    out = tmp_path / "a-file"
    out.write_text("mine\n")
    run = subprocess.run(["python", "-m", "pytest", "-p", "no:cacheprovider", "--co", "-q", "suites",
                          "--report-dir", str(out)], cwd=Path(__file__).parent.parent, capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert run.returncode == 4 and f"--report-dir {out} is a file" in run.stdout + run.stderr  # pytest's usage error
    assert "Traceback" not in run.stdout + run.stderr


def test_what_nothing_else_caught_is_one_line_exit_3_and_harness_debug_shows_the_traceback(tmp_path: Path) -> None:
    """A results.json another tool wrote (valid JSON, another shape) given to the dashboard."""
    other = tmp_path / "other"
    other.mkdir()
    (other / "results.json").write_text(json.dumps([{"name": "x", "result": "pass"}]))
    run = run_harness("report", "--html", str(tmp_path / "page.html"), str(other))
    assert run.returncode == 3 and run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.startswith("error: infrastructure: ") and "HARNESS_DEBUG=1 shows the traceback" in run.stderr
    debug = subprocess.run([sys.executable, "-m", "harness", "report", "--html", str(tmp_path / "page.html"),
                            str(other)], cwd=Path(__file__).parent.parent, capture_output=True, text=True,
                           env={**os.environ, "HARNESS_DEBUG": "1"})
    assert debug.returncode != 0 and "Traceback" in debug.stderr


FULL_DISK = r"""
set -e
mount -t tmpfs -o size=1m tmpfs "$DISK"
dd if=/dev/zero of="$DISK/filler" bs=4096 2>/dev/null || true  # until the disk is full
truncate -s -6144 "$DISK/filler"  # ~6 KiB free again: less than the page needs (~8 KiB)
printf '<p>yesterday'"'"'s page</p>\n' > "$DISK/nights.html"
set +e
"$PYTHON" -m harness report --html "$DISK/nights.html" "$NIGHTS" 2> "$OUT/err1"; echo $? > "$OUT/rc1"
cp "$DISK/nights.html" "$OUT/page1"; ls "$DISK" > "$OUT/ls1"
rm "$DISK/filler"  # space freed: the next run is right
"$PYTHON" -m harness report --html "$DISK/nights.html" "$NIGHTS" 2> "$OUT/err2"; echo $? > "$OUT/rc2"
cp "$DISK/nights.html" "$OUT/page2"
"""


def test_a_disk_that_fills_while_a_page_is_written_is_one_line_and_the_old_page_stays(tmp_path: Path) -> None:
    """A 1 MiB tmpfs, nearly full, mounted in a mount namespace of the test's own (`unshare -rm`: no root needed, and
    nothing left mounted whatever happens): the page cannot be written, which is said in one line, and the old page
    stays whole; once space is freed the next run writes it."""
    disk, out = tmp_path / "disk", tmp_path / "out"
    disk.mkdir()
    out.mkdir()
    env = pytest_env(DISK=str(disk), OUT=str(out), NIGHTS=str(NIGHTS), PYTHON=sys.executable)
    ran = subprocess.run(["unshare", "-rm", "sh", "-c", FULL_DISK], cwd=REPO_ROOT, env=env, capture_output=True,
                         text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    err = (out / "err1").read_text()
    assert (out / "rc1").read_text().strip() == "3" and err.count("\n") == 1, err
    assert "the disk is full" in err and "free some space" in err
    assert (out / "page1").read_text() == "<p>yesterday's page</p>\n"  # written atomically: the old page, whole
    assert (out / "ls1").read_text().split() == ["filler", "nights.html"]  # no temporary file left
    assert (out / "rc2").read_text().strip() == "0", (out / "err2").read_text()
    page = (out / "page2").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not any(disk.iterdir())  # the tmpfs was the namespace's: here the directory stayed empty


def test_cache_verify_names_a_damaged_entry_and_prune_frees_what_was_not_used_lately(tmp_path: Path) -> None:
    import fcntl
    import time

    from harness.payload.build import cached

    def build(partial: Path) -> dict[str, Any]:
        (partial / "test_progs").write_bytes(b"\x7fELF" + b"x" * 1000)
        return {"identity": "test_progs:k"}
    cache = tmp_path / "cache"
    for key in ("old", "new", "held", "bad"):
        cached(cache / "payloads", key, "payload.json", build, print, checked=("test_progs",))
    bad = cache / "payloads" / "bad" / "test_progs"
    bad.write_bytes(bad.read_bytes()[:10])
    run = run_harness("cache", "verify", "--cache", str(cache))
    assert run.returncode == 3, run.stdout + run.stderr
    assert f"damaged  {cache / 'payloads' / 'bad'}: test_progs changed since it was made" in run.stdout
    assert run.stdout.count("\nok ") + run.stdout.startswith("ok ") == 3 and "4 entries checked, 1 damaged" in run.stdout
    month_ago = time.time() - 40 * 86400
    for key in ("old", "held"):
        os.utime(cache / "payloads" / key, (month_ago, month_ago))
    (cache / "runs" / "20261101-1-mptcp").mkdir(parents=True)
    os.utime(cache / "runs" / "20261101-1-mptcp", (month_ago, month_ago))
    with open(cache / "payloads" / "held.lock") as lock:  # a run is using it
        fcntl.flock(lock, fcntl.LOCK_EX)
        pruned = run_harness("cache", "prune", "--older-than", "30d", "--cache", str(cache))
    assert pruned.returncode == 0, pruned.stderr
    left = sorted(p.name for p in (cache / "payloads").iterdir() if p.is_dir())
    assert left == ["bad", "held", "new"] and not (cache / "runs" / "20261101-1-mptcp").exists()
    assert "freed 0.00 GB in 2 entries" in pruned.stdout
    assert run_harness("cache", "prune", "--older-than", "a month").returncode == 2
