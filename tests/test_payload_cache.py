"""The payload cache (harness.payload.build): found, built once, a killed or failed build's leftovers, a damaged entry.

The builds here are real work of the helper's own (files written, a command run through run_steps), small enough to
run in a second; the real payloads' builds go through the same helper in tests/test_builds_e2e.py."""
import dataclasses
import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pytest import MonkeyPatch

from harness.kernel.vmlinux import btf_digest, section
from harness.payload.build import cached, compiler_identity, run_steps, write_header
from harness.payload.selftests_bpf import payload_key
from tests.helpers import default_kernel


def builder(calls: list[Path], fail: bool = False) -> Callable[[Path], dict[str, Any]]:
    def build(partial: Path) -> dict[str, Any]:
        calls.append(partial)
        with open(partial / "build.log", "w") as log:
            write_header(log, "a test payload", kernel="k1", compilers="cc 1")
            # (in the partial dir: a step's cwd is the caller's, and the checkout's is no place for it)
            code = run_steps([["sh", "-c", f"cd '{partial}' && echo made > out.txt; cat out.txt" + ("; exit 7" if fail else "")]],
                             log, {})
        if code:
            raise RuntimeError(f"build failed {code}; log: {partial / 'build.log'}")
        (partial / "thing").write_text("built\n")
        return {"identity": "thing:k1"}
    return build


def test_built_once_then_found_with_its_stamp_and_log(tmp_path: Path) -> None:
    calls: list[Path] = []
    said: list[str] = []
    entry = cached(tmp_path, "key1", "stamp.json", builder(calls), said.append)
    assert entry.directory == tmp_path / "key1" and entry.stamp == {"identity": "thing:k1", "files": {}}
    assert json.loads((tmp_path / "key1" / "stamp.json").read_text()) == {"identity": "thing:k1", "files": {}}
    log = (tmp_path / "key1" / "build.log").read_text().splitlines()
    assert log[0].startswith("# a test payload, ") and log[1:3] == ["# kernel: k1", "# compilers: cc 1"]
    assert log[3].startswith("sh -c cd ") and "echo made > out.txt" in log[3] and log[4] == "made"
    again = cached(tmp_path, "key1", "stamp.json", builder(calls), said.append)
    assert again == entry and len(calls) == 1 and said == []


def test_a_failed_build_keeps_its_log_and_the_next_build_clears_it(tmp_path: Path) -> None:
    calls: list[Path] = []
    with pytest.raises(RuntimeError, match="build failed 7"):
        cached(tmp_path, "key1", "stamp.json", builder(calls, fail=True), print)
    (partial,) = tmp_path.glob("key1.partial-*")
    assert "made" in (partial / "build.log").read_text()  # what the error names is there to read
    assert not (tmp_path / "key1").exists()
    cached(tmp_path, "key1", "stamp.json", builder(calls), print)
    assert list(tmp_path.glob("key1.partial-*")) == [] and (tmp_path / "key1" / "thing").is_file()


@pytest.mark.parametrize("damage", [b'{"identity": "thi', b"", None])
def test_an_entry_without_a_readable_stamp_is_moved_aside_said_and_built_again(tmp_path: Path, damage: bytes | None) -> None:
    calls: list[Path] = []
    said: list[str] = []
    cached(tmp_path, "key1", "stamp.json", builder(calls), said.append)
    stamp = tmp_path / "key1" / "stamp.json"
    if damage is None:
        stamp.unlink()
    else:
        stamp.write_bytes(damage)
    entry = cached(tmp_path, "key1", "stamp.json", builder(calls), said.append)
    assert len(calls) == 2 and entry.stamp["identity"] == "thing:k1"
    (aside,) = tmp_path.glob("key1.damaged-*")
    assert said == [f"cache: {tmp_path / 'key1'}: no readable stamp.json (damaged or cut short): moved aside to "
                    f"{aside.name}, building it again"]
    assert (aside / "thing").is_file()  # kept to look at, until the key is built again


def test_compiler_identity_is_each_tools_first_version_line_and_remembered_per_binary(tmp_path: Path) -> None:
    first = compiler_identity(["cc", "no-such-compiler"], tmp_path)
    assert first.split(" | ")[1] == "no-such-compiler: unknown" and first.split(" | ")[0]
    other = compiler_identity(["sh"], tmp_path)  # another set of tools keeps the first one's answer
    known = json.loads((tmp_path / "toolchain.json").read_text())
    assert sorted(known.values()) == sorted([first, other])


def test_the_btf_read_from_a_real_vmlinux_is_the_section_objcopy_dumps(tmp_path: Path) -> None:
    """The payload's key holds the kernel's BTF by content (harness.kernel.vmlinux.btf_digest): read here from the
    default Debian kernel's vmlinux, compared with binutils' own dump of the section."""
    vmlinux = default_kernel().vmlinux
    dumped = tmp_path / "btf"
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.BTF", str(vmlinux), str(dumped)], check=True)
    assert btf_digest(vmlinux) == hashlib.sha256(dumped.read_bytes()).hexdigest()
    assert section(vmlinux, ".no-such-section") is None and btf_digest(tmp_path / "btf") is None  # not an ELF


def test_a_kernel_rebuilt_with_the_same_btf_keeps_the_payload_key_and_another_btf_changes_it(tmp_path: Path) -> None:
    """Two builds of one tree differ in identity (the tree's state) but not in their types: the same test_progs."""
    kernel = default_kernel()
    rebuilt = dataclasses.replace(kernel, identity=kernel.identity + ":after-a-one-line-change")
    assert payload_key(rebuilt, "clang 22", ("mptcp",)) == payload_key(kernel, "clang 22", ("mptcp",))
    other = tmp_path / "vmlinux"
    shutil.copyfile(kernel.vmlinux, other)
    (tmp_path / "btf").write_bytes(b"\x9f\xeb" + b"\0" * 30)  # another BTF (a header's worth)
    subprocess.run(["objcopy", "--update-section", f".BTF={tmp_path / 'btf'}", str(other)], check=True)
    changed = dataclasses.replace(kernel, vmlinux=other)
    assert payload_key(changed, "clang 22", ("mptcp",)) != payload_key(kernel, "clang 22", ("mptcp",))


@pytest.mark.parametrize("harm", ["flip", "truncate", "remove", "flip-keeping-mtime"])
def test_an_entry_whose_files_changed_is_moved_aside_and_built_again(tmp_path: Path, harm: str, monkeypatch: MonkeyPatch) -> None:
    """A flipped byte, a truncated or missing file: found by size and mtime at once; a flip that kept the size and
    mtime (bit rot, a restore) by the full sha256 check that about one use in twenty makes (forced here)."""
    import os

    from harness.payload import build as payload_build
    calls: list[Path] = []
    said: list[str] = []
    cached(tmp_path, "key1", "stamp.json", builder(calls), said.append, checked=("thing",))
    thing = tmp_path / "key1" / "thing"
    st = thing.stat()
    if harm == "remove":
        thing.unlink()
    elif harm == "truncate":
        thing.write_bytes(thing.read_bytes()[:2])
    else:
        data = bytearray(thing.read_bytes())
        data[0] ^= 0xFF
        thing.write_bytes(bytes(data))
        if harm == "flip-keeping-mtime":
            os.utime(thing, ns=(st.st_atime_ns, st.st_mtime_ns))
            monkeypatch.setattr(payload_build, "full_check_now", lambda: False)
            cached(tmp_path, "key1", "stamp.json", builder(calls), said.append, checked=("thing",))
            assert len(calls) == 1  # the cheap check cannot see it...
            monkeypatch.setattr(payload_build, "full_check_now", lambda: True)  # ...the full one, now and then, does
    cached(tmp_path, "key1", "stamp.json", builder(calls), said.append, checked=("thing",))
    assert len(calls) == 2 and thing.read_text() == "built\n"
    assert len(said) == 1 and said[0].startswith(f"cache: {tmp_path / 'key1'}: thing ") and "moved aside" in said[0]
