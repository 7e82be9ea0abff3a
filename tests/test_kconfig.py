"""Kernel config composition on a real tree's Kconfig (the linux-source the payload unpacks), and tree keys."""
from pathlib import Path

import pytest
from pytest import MonkeyPatch

from harness.errors import BadInput
from harness.guest import vng_environment
from harness.kernel import Kernel, tree
from harness.kernel.kconfig import configure, mode_fragments, read_config, read_fragment
from tests.helpers import linux_source


@pytest.mark.parametrize("base", ["lean", "vng"])
def test_every_mode_composes_on_each_base_and_keeps_every_option(tmp_path: Path, base: str) -> None:
    for mode in ("normal", "debug"):
        out = tmp_path / mode
        configure(linux_source(), out, mode_fragments(mode, base=base), vng_environment(), tmp_path / f"{mode}.log", base)
        config = read_config(out / ".config")
        assert config["CONFIG_MPTCP"] == "y" and config["CONFIG_DEBUG_INFO_BTF"] == "y"
        assert config["CONFIG_VIRTIO_NET"] == "y" and config["CONFIG_64BIT"] == "y"  # a guest's, on either base
        assert (config.get("CONFIG_KASAN") == "y") == (mode == "debug")
        assert (config.get("CONFIG_DRM") == "y") == (base == "vng")  # what the lean base leaves out


def test_an_option_that_cannot_be_set_stops_at_once_naming_it(tmp_path: Path) -> None:
    arm = tmp_path / "arm-only.config"
    arm.write_text("CONFIG_ARM64_SVE=y\n")
    with pytest.raises(BadInput) as e:
        configure(linux_source(), tmp_path / "b", [*mode_fragments("normal"), read_fragment(arm)], vng_environment(),
                  tmp_path / "log")
    assert str(e.value).count("\n") == 0
    assert "CONFIG_ARM64_SVE=y (kernel-configs/arm-only.config) became not set" in str(e.value)


def test_unknown_mode_or_fragment_is_one_line() -> None:
    with pytest.raises(BadInput, match=r"unknown kernel mode 'fast': choose one of btf, debug, normal"):
        mode_fragments("fast")
    with pytest.raises(BadInput, match=r"unknown kernel-configs fragment\(s\) kasan: choose from .*debug"):
        mode_fragments("normal", ("kasan",))
    with pytest.raises(BadInput, match=r"unknown kconfig base 'tiny': choose one of lean, vng"):
        mode_fragments("normal", base="tiny")


def fake_tree(root: Path) -> Path:
    (root / "arch/x86").mkdir(parents=True)
    (root / "tools/testing/selftests/bpf").mkdir(parents=True)
    for name in ("Makefile", "Kconfig", "arch/x86/Kconfig", "tools/testing/selftests/bpf/Makefile"):
        (root / name).write_text("# x\n")
    return root


def test_unchanged_tree_runs_no_make_and_a_selftests_change_leaves_the_kernel_alone(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    src = fake_tree(tmp_path / "linux")
    fragments = mode_fragments("normal")
    calls = []
    monkeypatch.setattr(tree, "configure", lambda *a: calls.append("configure"))
    monkeypatch.setattr(tree, "_make", lambda *a: calls.append("make"))
    monkeypatch.setattr(tree, "require_free_space", lambda *a: None)
    monkeypatch.setattr(tree, "kernelrelease", lambda *a: "7.3.0")
    def build() -> Kernel:
        return tree.build_kernel(src, tmp_path / "cache", "normal", fragments, "lean", 2, "clang 22", {}, lambda _: None)
    first = build()
    assert calls == ["configure", "make", "make"]
    calls.clear()
    again = build()
    assert calls == [] and again == first  # no make at all
    (src / "tools/testing/selftests/bpf/new_test.c").write_text("int x;\n")
    third = build()
    assert calls == [] and third.identity == first.identity  # the kernel is the same...
    assert third.source_identity != first.source_identity  # ...test_progs is rebuilt (its key changes)
    (src / "Kconfig").write_text("# changed\n")
    build()
    assert calls == ["configure", "make", "make"]


def test_not_a_kernel_tree(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"is not a kernel source tree"):
        tree.check_tree(tmp_path)


def test_payload_shadow_keeps_only_the_suites_test_and_its_programs(tmp_path: Path) -> None:
    from harness.payload.selftests_bpf import shadow_tree

    source = linux_source()
    bpf = shadow_tree(source, tmp_path / "shadow", ("mptcp",))
    assert [p.name for p in (bpf / "prog_tests").glob("*.c")] == ["mptcp.c"]
    progs = {p.stem for p in (bpf / "progs").glob("*.c")}
    assert progs == {"mptcp_sock", "mptcpify", "mptcp_subflow", "mptcp_sockmap"}  # its skeletons, nothing else
    assert (bpf / "progs" / "bpf_tracing_net.h").is_file()  # headers stay
    assert (tmp_path / "shadow" / "tools" / "lib").resolve() == (source / "tools" / "lib").resolve()  # linked
    assert not (bpf / "Makefile").is_symlink()  # copied: builds write beside it, not in the source


def test_selection_build_narrows_the_makefiles_every_build_program_lists() -> None:
    """make is told that LSKELS, LINKED_SKELS, libarena's skeletons ... hold only what the selected tests include
    (the real 7.3 Makefile; a test that includes a linked or a signed light skeleton keeps it and what it links)."""
    from harness.payload.selftests_bpf import makefile_list, selected_programs, selection_make_args

    bpf = linux_source() / "tools/testing/selftests/bpf"
    makefile = (bpf / "Makefile").read_text()
    assert makefile_list(makefile, "LSKELS_SIGNED") == ["fentry_test.c", "fexit_test.c", "atomics.c"]
    assert makefile_list(makefile, "NO_SUCH_LIST") is None
    mptcp = selected_programs(bpf, makefile, ("mptcp",))
    assert mptcp == {"mptcp_sock", "mptcpify", "mptcp_subflow", "mptcp_sockmap"}
    assert selection_make_args(makefile, mptcp) == [
        "LSKELS=", "LSKELS_SIGNED=", "LSKELS_EXTRA=", "LINKED_SKELS=", "LIBARENA_SKEL=", "LIBARENA_ASAN_SKEL="]
    linked = selected_programs(bpf, makefile, ("linked_funcs", "atomics"))
    assert linked == {"linked_funcs", "linked_funcs1", "linked_funcs2", "atomics"}
    assert "LINKED_SKELS=linked_funcs.skel.h" in selection_make_args(makefile, linked)
    assert "LSKELS_SIGNED=atomics.c" in selection_make_args(makefile, linked)
