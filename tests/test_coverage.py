"""--coverage's build without a build: which fragments a tree gets, and that GNU make, given kernel-configs/gcov-mptcp.mk
through MAKEFILES as the kernel build is, profiles net/mptcp's objects and no other directory's (real make, kbuild's
own rule for GCOV_PROFILE copied from 7.3's scripts/Makefile.lib into a makefile of the test's). The run itself:
tests/test_coverage_slow.py."""
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.errors import BadInput
from harness.kernel import BUILD_PREFIX, Kernel, coverage
from harness.report import coverage as report
from harness.settings import from_values

# scripts/Makefile.lib's decision (7.3), with the flags printed instead of compiled with
KBUILD_RULE = """
target-stem = $(basename $(patsubst $(obj)/%,%,$@))
flags = $(if $(patsubst n%,, $(GCOV_PROFILE_$(target-stem).o)$(GCOV_PROFILE)$(CONFIG_GCOV_PROFILE_ALL)), $(CFLAGS_GCOV))
$(obj)/%.o:
\t@echo "$@: [$(strip $(flags))]"
"""


def make(tmp_path: Path, obj: str, target: str, dir_makefile: str = "") -> str:
    (tmp_path / "Makefile.build").write_text(dir_makefile + KBUILD_RULE)
    run = subprocess.run(["make", "-s", "-f", str(tmp_path / "Makefile.build"), f"obj={obj}", f"{obj}/{target}"],
                         env={"PATH": "/usr/bin:/bin", "MAKEFILES": str(coverage.GCOV_MAKEFILE),
                              "CFLAGS_GCOV": "-fprofile-arcs -ftest-coverage -fprofile-update=prefer-atomic"},
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_the_makefile_profiles_net_mptcp_atomically_and_nothing_else(tmp_path: Path) -> None:
    assert make(tmp_path, "net/mptcp", "protocol.o") == (
        "net/mptcp/protocol.o: [-fprofile-arcs -ftest-coverage -fprofile-update=prefer-atomic -fprofile-update=atomic]")
    assert make(tmp_path, "net/ipv4", "protocol.o") == "net/ipv4/protocol.o: []"
    assert make(tmp_path, "arch/x86/boot", "main.o", "GCOV_PROFILE := n\n") == "arch/x86/boot/main.o: []"


def test_a_tree_with_its_own_switch_uses_it_and_others_get_the_makefile(tmp_path: Path) -> None:
    (tmp_path / "net" / "mptcp").mkdir(parents=True)
    (tmp_path / "net" / "mptcp" / "Kconfig").write_text("config MPTCP\n\tbool\n")
    assert coverage.fragments(tmp_path) == ("gcov",)
    assert coverage.make_env(["guest", "mptcp", "gcov"]) == {"MAKEFILES": str(coverage.GCOV_MAKEFILE)}
    (tmp_path / "net" / "mptcp" / "Kconfig").write_text("config GCOV_PROFILE_MPTCP\n\tbool\n")
    assert coverage.fragments(tmp_path) == ("gcov", "gcov_mptcp")
    assert coverage.make_env(["mptcp", "gcov", "gcov_mptcp"]) == {}
    assert coverage.make_env(["mptcp", "gcov", "gcov_all"]) == {} and coverage.make_env(["mptcp"]) == {}


def test_coverage_needs_a_tree() -> None:
    with pytest.raises(BadInput, match="--coverage only goes with --kernel-tree"):
        from_values({"coverage": True})
    assert from_values({"coverage": True, "kernel_tree": "/src/linux"}).coverage


def test_counters_of_a_build_dir_inside_the_tree_are_read_against_the_trees_sources(tmp_path: Path) -> None:
    """Real gcc --coverage and lcov, laid out as a tree build is (harness/kernel/tree.py): the .gcno names
    "../net/mptcp/x.c" from the build dir; the round's .gcda as the guest's copy leaves it (<round>/gcov/)."""
    assert shutil.which("lcov") and shutil.which("genhtml"), "lcov missing: ./run tests installs images/toolchain.toml's"
    tree = tmp_path / "linux"
    build = tree / f"{BUILD_PREFIX}coverage-0123abcd"
    (tree / "net/mptcp").mkdir(parents=True)
    (build / "net/mptcp").mkdir(parents=True)
    (tree / "net/mptcp/x.c").write_text("int f(int a)\n{\n\tif (a)\n\t\treturn 1;\n\treturn 2;\n}\n"
                                        "int main(void)\n{\n\treturn f(1) - 1;\n}\n")
    subprocess.run(["gcc", "--coverage", "-c", "-o", "net/mptcp/x.o", "../net/mptcp/x.c"], cwd=build, check=True)
    subprocess.run(["gcc", "--coverage", "-o", "x", "net/mptcp/x.o"], cwd=build, check=True)
    subprocess.run(["./x"], cwd=build, check=True)
    (tmp_path / "round-1" / "gcov").mkdir(parents=True)
    shutil.move(build / "net/mptcp/x.gcda", tmp_path / "round-1" / "gcov" / "x.gcda")
    kernel = Kernel(image=build / "bzImage", release="7.3.0", modules_dir=None, vmlinux=build / "vmlinux",
                    identity="tree", source=tree, build_dir=build)
    found = report.collect(kernel, [tmp_path / "round-1"], tmp_path / "out", lambda _: None)
    assert found is not None and (found.lines_hit, found.lines) == (5, 6) and found.functions_hit == found.functions == 2
    assert f"SF:{tree.resolve()}/net/mptcp/x.c" in found.info.read_text()
    assert (found.html / "index.html").is_file()
