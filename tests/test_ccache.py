"""ccache as tree builds use it (harness/kernel/ccache.py), with real gcc and kbuild's way of asking for dependencies
(-Wp,-MMD,<file>): depend mode finds the compile again, from another build directory too, and a changed header is a
miss; the hit rate is read from ccache's own counters."""
import shutil
import subprocess
from pathlib import Path

from harness.kernel import ccache


def compile_in(build: Path, source: Path, compiler: ccache.Compiler) -> None:
    build.mkdir(exist_ok=True)
    argv = ["ccache", "gcc", f"-Wp,-MMD,{build}/.x.o.d", f"-I{source}/include", "-g", "-O2", "-c", "-o",
            str(build / "x.o"), str(source / "x.c")]
    subprocess.run(argv, cwd=build, env=compiler.env, check=True)


def stat(compiler: ccache.Compiler, name: str) -> int:
    out = subprocess.run(["ccache", "--print-stats"], env=compiler.env, capture_output=True, text=True).stdout
    return int(dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)[name])


def test_a_compile_is_found_again_from_another_build_dir_and_a_changed_header_is_a_miss(tmp_path: Path) -> None:
    assert shutil.which("ccache"), "ccache missing: apt-get install ccache (./run tests installs images/toolchain.toml's)"
    source = tmp_path / "tree"
    (source / "include").mkdir(parents=True)
    (source / "include" / "x.h").write_text("#define ANSWER 42\n")
    (source / "x.c").write_text('#include "x.h"\nint answer(void) { return ANSWER; }\n')
    compiler = ccache.for_mode(tmp_path / "cache", "normal", {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert compiler.env["CCACHE_DEPEND"] == "true" and compiler.env["CCACHE_NOHASHDIR"] == "true"
    before = compiler.counters()
    compile_in(tmp_path / "build-a", source, compiler)
    compile_in(tmp_path / "build-b", source, compiler)  # the same tree in another build dir: a hit
    assert ccache.hit_rate(before, compiler.counters()) == (1, 2)
    assert stat(compiler, "preprocessed_cache_miss") == 0  # depend mode: the miss ran no preprocessor of ccache's
    assert (tmp_path / "build-b" / ".x.o.d").read_text().count("x.h") == 1  # kbuild's dependency file is still made
    (source / "include" / "x.h").write_text("#define ANSWER 43\n")
    middle = compiler.counters()
    compile_in(tmp_path / "build-a", source, compiler)
    assert ccache.hit_rate(middle, compiler.counters()) == (0, 1)


def test_the_same_sources_in_another_tree_hit_when_built_in_a_subdirectory_of_each_as_kbuild_does(tmp_path: Path) -> None:
    """The harness's layout (harness/kernel/tree.py): the build dir inside the tree, where kbuild names sources
    relative to it ("../x.c", -I../include, -fmacro-prefix-map=../=): two checkouts at different depths share
    their compiles, and __FILE__ still names the file from the top of the tree."""
    assert shutil.which("ccache"), "ccache missing: apt-get install ccache (./run tests installs images/toolchain.toml's)"
    compiler = ccache.for_mode(tmp_path / "cache", "normal", {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    trees = [tmp_path / "home" / "linux", tmp_path / "cache" / "worktrees" / "deeper" / "linux"]
    for tree in trees:
        (tree / "include").mkdir(parents=True)
        (tree / "include" / "x.h").write_text("#define ANSWER 42\n")
        (tree / "x.c").write_text('#include "x.h"\nconst char where[] __attribute__((section(".where"))) = __FILE__;\n'
                                  "int answer(void) { return ANSWER; }\n")
    before = compiler.counters()
    for tree in trees:
        build = tree / ".mptcp-harness-build-normal-0"
        build.mkdir()
        subprocess.run(["ccache", "gcc", "-Wp,-MMD,.x.o.d", "-I../include", "-fmacro-prefix-map=../=", "-g", "-O2",
                        "-c", "-o", "x.o", "../x.c"], cwd=build, env=compiler.env, check=True)
    assert ccache.hit_rate(before, compiler.counters()) == (1, 2)
    obj = trees[1] / ".mptcp-harness-build-normal-0" / "x.o"
    subprocess.run(["objcopy", "-O", "binary", "--only-section=.where", str(obj), str(tmp_path / "where")], check=True)
    assert (tmp_path / "where").read_bytes() == b"x.c\0"  # __FILE__, as a WARNING prints it
