"""--coverage's build without a build: which fragments a tree gets, and that GNU make, given kernel-configs/gcov-mptcp.mk
through MAKEFILES as the kernel build is, profiles net/mptcp's objects and no other directory's (real make, kbuild's
own rule for GCOV_PROFILE copied from 7.3's scripts/Makefile.lib into a makefile of the test's). The run itself:
tests/test_coverage_slow.py."""
import subprocess

import pytest

from harness.errors import BadInput
from harness.kernel import coverage
from harness.settings import from_values

# scripts/Makefile.lib's decision (7.3), with the flags printed instead of compiled with
KBUILD_RULE = """
target-stem = $(basename $(patsubst $(obj)/%,%,$@))
flags = $(if $(patsubst n%,, $(GCOV_PROFILE_$(target-stem).o)$(GCOV_PROFILE)$(CONFIG_GCOV_PROFILE_ALL)), $(CFLAGS_GCOV))
$(obj)/%.o:
\t@echo "$@: [$(strip $(flags))]"
"""


def make(tmp_path, obj: str, target: str, dir_makefile: str = "") -> str:
    (tmp_path / "Makefile.build").write_text(dir_makefile + KBUILD_RULE)
    run = subprocess.run(["make", "-s", "-f", str(tmp_path / "Makefile.build"), f"obj={obj}", f"{obj}/{target}"],
                         env={"PATH": "/usr/bin:/bin", "MAKEFILES": str(coverage.GCOV_MAKEFILE),
                              "CFLAGS_GCOV": "-fprofile-arcs -ftest-coverage -fprofile-update=prefer-atomic"},
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def test_the_makefile_profiles_net_mptcp_atomically_and_nothing_else(tmp_path):
    assert make(tmp_path, "net/mptcp", "protocol.o") == (
        "net/mptcp/protocol.o: [-fprofile-arcs -ftest-coverage -fprofile-update=prefer-atomic -fprofile-update=atomic]")
    assert make(tmp_path, "net/ipv4", "protocol.o") == "net/ipv4/protocol.o: []"
    assert make(tmp_path, "arch/x86/boot", "main.o", "GCOV_PROFILE := n\n") == "arch/x86/boot/main.o: []"


def test_a_tree_with_its_own_switch_uses_it_and_others_get_the_makefile(tmp_path):
    (tmp_path / "net" / "mptcp").mkdir(parents=True)
    (tmp_path / "net" / "mptcp" / "Kconfig").write_text("config MPTCP\n\tbool\n")
    assert coverage.fragments(tmp_path) == ("gcov",)
    assert coverage.make_env(["guest", "mptcp", "gcov"]) == {"MAKEFILES": str(coverage.GCOV_MAKEFILE)}
    (tmp_path / "net" / "mptcp" / "Kconfig").write_text("config GCOV_PROFILE_MPTCP\n\tbool\n")
    assert coverage.fragments(tmp_path) == ("gcov", "gcov_mptcp")
    assert coverage.make_env(["mptcp", "gcov", "gcov_mptcp"]) == {}
    assert coverage.make_env(["mptcp", "gcov", "gcov_all"]) == {} and coverage.make_env(["mptcp"]) == {}


def test_coverage_needs_a_tree():
    with pytest.raises(BadInput, match="--coverage only goes with --kernel-tree"):
        from_values({"coverage": True})
    assert from_values({"coverage": True, "kernel_tree": "/src/linux"}).coverage
