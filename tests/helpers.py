"""What several test modules share: running pytest and the harness in a fresh process, the cache, the guests."""
from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from harness.kernel import Kernel, debian
from harness.settings import default_cache_dir

REPO_ROOT = Path(__file__).resolve().parent.parent  # the checkout
CACHE = default_cache_dir()


def harness_qemus(cache: Path = CACHE) -> list[str]:
    """qemu processes of harness runs on `cache`: their shared 9p directory lies in its runs/ (one-shot guests) or
    guests/ (kept ones). Not the kernel's path: a test with a cache of its own shares the default cache's kernels,
    and ./run tests runs it beside the default cache's tests (tests/conftest.py)."""
    out = subprocess.run(["pgrep", "-af", "qemu-system"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if f"{cache}/runs/" in line or f"{cache}/guests/" in line]


def boots() -> list[str]:
    """<cache>/guests/boots.log: a line per persistent guest booted."""
    log = CACHE / "guests" / "boots.log"
    return log.read_text().splitlines() if log.exists() else []


def pytest_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]


def pytest_env(**extra: str) -> dict[str, str]:
    """The environment of a pytest or harness run a test starts: not that of the xdist worker running the test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST_", "PYTEST_CURRENT_TEST"))}
    return dict(env, PATH=f"{os.path.dirname(sys.executable)}:{os.environ.get('PATH', '')}", **extra)


def run_pytest(*args: str, timeout: float = 3000, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(pytest_argv(*args), cwd=REPO_ROOT, env=pytest_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def run_harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`python -m harness ARGS` in a fresh process, as a user types it."""
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO_ROOT, env=pytest_env(),
                          capture_output=True, text=True, timeout=timeout)


def default_kernel() -> Kernel:
    """The default Debian kernel with its linux-source, fetched through the harness itself when the cache lacks it."""
    return debian.fetch(debian.spec_for(None), CACHE)


def sharing_downloads(cache: Path) -> Path:
    """A cache of its own at `cache` (its builds, payloads, ccache and guests apart) that shares the default cache's
    Debian downloads: its kernels, linux-source and packages."""
    cache.mkdir(parents=True, exist_ok=True)
    for part in ("kernels", "sources", "debs", "apt"):
        (CACHE / part).mkdir(parents=True, exist_ok=True)
        if not (cache / part).is_symlink():
            (cache / part).symlink_to(CACHE / part)
    return cache


def seeded_payload(cache: Path) -> Path:
    """A copy, in `cache`'s payloads, of the default kernel's test_progs for the mptcp suite (built in the main cache
    through the harness when it lacks it): a test that damages it pays for the rebuild only. Its path."""
    import shutil

    from harness import pipeline
    from harness.settings import for_command

    settings, _ = for_command(["-k", "mptcp/base"], "tests")
    built = pipeline.get_payload(pipeline.PrepareRequest.of(settings), default_kernel(), ["mptcp"], print)
    assert built is not None
    copy = cache / "payloads" / built.directory.name
    shutil.copytree(built.directory, copy, symlinks=True)
    return copy


def seeded_kernel(cache: Path) -> Path:
    """A copy, in `cache`'s kernels, of the default kernel as the harness unpacked it (not a link: a test may damage
    it). Its path."""
    import shutil

    unpacked = next(p for p in (CACHE / "kernels").glob("debian-*") if p.is_dir() and default_kernel().image.is_relative_to(p))
    copy = cache / "kernels" / unpacked.name
    shutil.copytree(unpacked, copy, symlinks=True)
    return copy


def linux_source() -> Path:
    """An unpacked linux-source (the default kernel's): fetched if need be, never a reason to skip."""
    source = default_kernel().source
    assert source is not None
    return source


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def replace_in(path: Path, old: str, new: str) -> None:
    """Edit a hard-linked file without touching the source it shares an inode with."""
    text = path.read_text()
    assert old in text, f"{path}: {old!r} not found"
    path.unlink()
    path.write_text(text.replace(old, new, 1))


def linked_copy(source: Path, copy: Path) -> Path:
    """A hard-linked copy of a tree (cheap, same disk), without the harness's build dirs: hard-linked, the copy's
    compiles would write into the original's objects (a build dir works only at the path it was made at)."""
    import shutil

    from harness.kernel import BUILD_PREFIX

    shutil.rmtree(copy, ignore_errors=True)
    copy.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-al", str(source), str(copy)], check=True)
    for build in copy.glob(f"{BUILD_PREFIX}*"):
        shutil.rmtree(build)
    return copy


def source_repo(repo: Path) -> None:
    """A git repository at `repo` whose first commit is the unpacked linux-source (hard-linked: cheap, same disk)."""
    linked_copy(linux_source(), repo)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.org")
    git(repo, "config", "user.name", "A Developer")
    replace_in(repo / ".gitignore", "\n/*\n!/debian/", "\n")  # Debian's packaging ignores the whole tree
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "linux-source-7.3")


def isolated(argv: list[str], scratch: str) -> str:
    """A shell command line running argv as batch.sh runs a batch beside others: isolated from every other one
    (harness/guest/scripts/isolated.sh says how). The tests show what it isolates, with and without it."""
    from harness.guest.commands import script

    return shlex.join(["sh", script("isolated.sh"), scratch, *argv])


def install_clone(where: Path) -> Path:
    """A new venv under `where` with this checkout pip-installed into it (not editable); its bin directory."""
    import shutil
    import sysconfig

    venv = where / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))
    deps = Path(sysconfig.get_path("purelib"))  # ./run's venv: pytest, virtme-ng, paramiko ...
    (site / "deps.pth").write_text(f"{deps}\n")
    # from a copy of what the package is made of: setuptools builds in the source tree (build/, *.egg-info), and an
    # egg-info in the checkout would change how every later pytest there starts (pytest_harness.py says why)
    source = where / "source"
    source.mkdir(parents=True)
    for name in ("pyproject.toml", "pytest_harness.py", "harness", "suites", "images", "kernel-configs", "expectations"):
        if (REPO_ROOT / name).is_dir():
            shutil.copytree(REPO_ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO_ROOT / name, source / name)
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1")
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--no-deps", str(source)], check=True, env=env, cwd=source,
                   capture_output=True, timeout=600)
    return venv / "bin"


def installed_command(bin_dir: Path, cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`mptcp-harness ARGS` of an installed copy (install_clone), started in `cwd` as a user would."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HARNESS_KERNEL"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"  # vng's commands, installed with its package
    return subprocess.run([str(bin_dir / "mptcp-harness"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def fresh_cache(tmp_path: Path) -> Path:
    """A cache holding only the default kernel (shared, not rebuilt): the kselftests build is this test's own."""
    cache = tmp_path / "cache"
    for part in ("kernels", "sources", "debs", "vmlinux", "kvm-probe.json"):
        if (CACHE / part).exists():
            (cache / part).parent.mkdir(parents=True, exist_ok=True)
            (cache / part).symlink_to(CACHE / part)
    return cache
