"""Where things live, and the knobs of a run, resolved once into one Settings value."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
IMAGES_DIR = REPO_ROOT / "images"
SUITES_DIR = REPO_ROOT / "suites"
KERNEL_CONFIGS_DIR = REPO_ROOT / "kernel-configs"


def default_cache_dir() -> Path:
    if env := os.environ.get("HARNESS_CACHE"):
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(xdg) / "mptcp-harness"


@dataclass(frozen=True)
class Settings:
    cache_dir: Path
    kernel_name: str | None = None  # an entry of images/debian.toml; None: its default
    kernel_tree: Path | None = None  # build this tree's kernel instead
    kernel_mode: str = "normal"  # kernel-configs/modes.toml
    kconfig_fragments: tuple[str, ...] = ()  # more kernel-configs/ fragments
    kernel_image: Path | None = None  # or boot this prebuilt image
    modules_dir: Path | None = None
    test_progs: Path | None = None  # a built selftests/bpf directory to use instead of building one
    full_payload: bool = False  # build all of test_progs, not only the selected suites' tests
    guest_cpus: int = 2
    guest_memory: str = "2G"
    kvm: str = "auto"  # auto | on | off
    boot_timeout_s: float = 300.0
    build_jobs: int = os.cpu_count() or 1
    concurrency: int | None = None  # batches side by side per guest; None: see guest_concurrency
    report_dir: Path | None = None  # KTAP, JUnit and JSON of the run go here
    persistent_guest: bool = False  # one guest per pytest process, commands over SSH
    keep_guest: bool = False  # leave the guest running for the next run (implies persistent_guest)
    idle_timeout: float = 900.0  # seconds a kept guest waits unused before it stops
    retries: int = 1 if os.environ.get("CI") else 0  # failed subtests run again; a pass then is flaky
    fail_on_warning: bool = True  # a kernel WARNING fails the subtest running at the time
    subtest_timeout: float | None = None  # seconds; None: the suite file's
    deadline: float | None = None  # seconds for the whole run

    def guest_concurrency(self, use_kvm: bool) -> int:
        """Batches side by side in a guest: one per vCPU that has a host core of its own.

        Under TCG every vCPU runs on one host thread (harness.guest): a second batch gains
        nothing there (measured: the whole suite 32.3 s in one batch, 33.0 s in two).
        """
        cores = (os.cpu_count() or 1) if use_kvm else 1
        return self.concurrency or max(1, min(self.guest_cpus, cores))
