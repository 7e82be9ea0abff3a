"""The embedded default: a Debian prebuilt kernel (images/debian.toml), fetched, never installed."""
from __future__ import annotations

import hashlib
import shutil
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness import proc as procs
from harness.cache import (
    damage,
    full_check_now,
    locked,
    manifest,
    move_aside,
    read_json,
    require_free_space,
    used,
    write_json,
)
from harness.data import IMAGES_DIR
from harness.errors import BadInput, InfraError
from harness.kernel import Kernel
from harness.kernel.apt import PrivateApt
from harness.kernel.vmlinux import extract_vmlinux

FETCH_SPACE_GB = 3.0  # measured: 0.3 GB of packages, 0.2 GB unpacked kernel, 1.8 GB unpacked source
CATALOGUE = IMAGES_DIR / "debian.toml"


@dataclass(frozen=True)
class DebianKernelSpec:
    release: str
    suite: str
    version: str
    packages: tuple[str, ...]
    source_package: str
    source_version: str

    @property
    def identity(self) -> str:
        return f"debian:{self.release}={self.version}"

    @property
    def source_identity(self) -> str:
        return f"{self.source_package}={self.source_version}"


def load_catalogue(path: Path = CATALOGUE) -> tuple[str, dict[str, DebianKernelSpec]]:
    try:
        data = tomllib.loads(path.read_text())
        specs = {
            release: DebianKernelSpec(
                release=release,
                suite=entry["suite"],
                version=entry["version"],
                packages=tuple(entry["packages"]),
                source_package=entry["source_package"],
                source_version=entry.get("source_version", entry["version"]),
            )
            for release, entry in data["kernels"].items()
        }
        default = data["default"]
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise BadInput(f"{path}: not a valid kernel catalogue ({e}); fix the file") from e
    if default not in specs:
        raise BadInput(f"{path}: default {default!r} names no [kernels] entry; fix the file")
    return default, specs


def spec_for(name: str | None) -> DebianKernelSpec:
    default, specs = load_catalogue()
    name = name or default
    if name not in specs:  # a version prefix names an entry too: "6.12", "7.2.12"
        matches = [k for k in specs if k.startswith(name) and k[len(name):len(name) + 1] in (".", "+", "-", "")]
        if len(matches) == 1:
            return specs[matches[0]]
    if name not in specs:
        raise BadInput(f"unknown Debian kernel {name!r}: choose one of {', '.join(sorted(specs))} (images/debian.toml)")
    return specs[name]


def _check(argv: list[str]) -> None:
    returncode, out = procs.run(argv)  # dies with the harness, even SIGKILLed
    if returncode != 0:
        raise InfraError(f"{' '.join(argv)} failed: {out.decode(errors='replace').strip()[-400:]}")


def _unpack(debs: list[Path], dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for deb in debs:
        _check(["dpkg-deb", "-x", str(deb), str(tmp)])
    tmp.rename(dest)


def _unpack_source(spec: DebianKernelSpec, cache_dir: Path, apt: PrivateApt | None) -> Path:
    """The matching linux-source, unpacked once into the cache: test_progs is built from it."""
    key = hashlib.sha256(spec.source_identity.encode()).hexdigest()[:12]
    root = cache_dir / "sources" / f"{spec.source_package}-{key}"
    if not (root / "Makefile").is_file():
        apt = apt or PrivateApt(cache_dir / "apt", [spec.suite])
        (deb,) = apt.download([spec.source_package], spec.source_version, cache_dir / "debs")
        deb_tree = root.with_name(root.name + ".deb")
        shutil.rmtree(deb_tree, ignore_errors=True)
        deb_tree.mkdir(parents=True)
        _check(["dpkg-deb", "-x", str(deb), str(deb_tree)])
        tarballs = sorted(deb_tree.glob("usr/src/linux-source-*.tar.*"))
        if not tarballs:
            raise InfraError(f"{deb.name} holds no usr/src/linux-source-*.tar.*; is it a linux-source package?")
        partial = root.with_name(root.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        # xz: Debian's tarball has ~70 blocks, decompressed by all cores (18 s against 26 s here, idle)
        threads = ["-I", "xz -T0"] if tarballs[0].suffix == ".xz" else []
        _check(["tar", "-C", str(partial), "--strip-components=1", *threads, "-xf", str(tarballs[0])])
        shutil.rmtree(deb_tree)
        shutil.rmtree(root, ignore_errors=True)
        partial.rename(root)
    return root


KERNEL_FILES = ("tree/**/vmlinuz*", "tree/**/*.ko*", "vmlinux")  # what a fetched kernel's manifest checks
MANIFEST = "harness-kernel.json"


def fetch(spec: DebianKernelSpec, cache_dir: Path, apt: PrivateApt | None = None, index_modules: bool = True,
          say: Callable[[str], None] = print, with_source: bool = True) -> Kernel:
    """Download and unpack the kernel's packages into the cache; a second call does nothing.

    index_modules=False leaves out depmod (~10 s here: it decompresses every .ko.xz) for index_modules()
    to do later, beside the test_progs build (pipeline); ./run's fetch beside apt, on a new machine that
    may not have kmod yet, leaves it to the run. with_source=False leaves its linux-source alone (the kernel's
    source is None): nothing will be built from it (--selftests-tree's runs).
    """
    key = hashlib.sha256(spec.identity.encode()).hexdigest()[:12]
    root = cache_dir / "kernels" / f"debian-{spec.release}-{key}"
    with locked(root.parent, root.name):  # one fetch per kernel; the next one to come finds it done
        _heal(root, say)
        kernel = _fetched(spec, cache_dir, root, apt, index_modules, with_source)
        used(root)
        if not (root / MANIFEST).is_file():  # made once, fetched whole (or from before manifests: trusted once)
            write_json(root / MANIFEST, {"identity": spec.identity, "files": manifest(root, KERNEL_FILES)})
        return kernel


def _heal(root: Path, say: Callable[[str], None]) -> None:
    """A fetched kernel whose files no longer match its manifest (a truncated vmlinuz, a flipped byte) is moved aside,
    said, and fetched again (its .debs are still in the cache: no download)."""
    known = read_json(root / MANIFEST, None)
    if not isinstance(known, dict):
        return
    if (problem := damage(root, known.get("files", {}), full_check_now())) is not None:
        move_aside(root, problem, "unpacking it again", say)


def _fetched(spec: DebianKernelSpec, cache_dir: Path, root: Path, apt: PrivateApt | None,
             index_modules: bool, with_source: bool = True) -> Kernel:
    tree = root / "tree"
    if not tree.is_dir():
        require_free_space(cache_dir, FETCH_SPACE_GB, f"fetching {spec.identity}")
        apt = apt or PrivateApt(cache_dir / "apt", [spec.suite])
        debs = apt.download(list(spec.packages), spec.version, cache_dir / "debs")
        _unpack(debs, tree)
    # newer packages (linux-binary + linux-modules) ship usr/lib/modules/<release>/vmlinuz;
    # older ones (one linux-image package) /boot/vmlinuz-<release> and lib/modules/<release>
    base = next((b for b in (tree / "usr", tree) if (b / "lib/modules" / spec.release).is_dir()), tree / "usr")
    modules = base / "lib/modules" / spec.release
    image = next((i for i in (modules / "vmlinuz", tree / "boot" / f"vmlinuz-{spec.release}") if i.is_file()), None)
    if image is None:
        raise InfraError(f"{spec.identity}: no vmlinuz in {tree}; the packages in images/debian.toml look wrong")
    if index_modules:
        _index(modules)
    vmlinux = root / "vmlinux"
    if not vmlinux.is_file():
        extract_vmlinux(image, vmlinux)
    source = _unpack_source(spec, cache_dir, apt) if with_source else None
    return Kernel(
        image=image,
        release=spec.release,
        modules_dir=modules,
        vmlinux=vmlinux,
        identity=spec.identity,
        source=source,
        source_identity=spec.source_identity,
    )


def index_modules(kernel: Kernel) -> None:
    """depmod for a fetched kernel's modules, once: normally the package's postinst, which we never run."""
    modules = kernel.modules_dir
    assert modules is not None, "a fetched Debian kernel has its modules"
    root = next(p for p in modules.parents if p.name == "tree").parent
    with locked(root.parent, root.name):
        _index(modules)


def _index(modules: Path) -> None:
    if not (modules / "modules.dep").is_file():  # base/lib/modules/<release>
        _check(["depmod", "-b", str(modules.parents[2]), modules.name])
