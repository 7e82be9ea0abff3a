"""Decoded traces name files from the top of the tree (harness/kernel/decode.py), fed the real output of
linux-source-7.3's decode_stacktrace.sh on a kernel built inside its tree (tests/data/README.md, decode/)."""
from pathlib import Path

from harness.kernel.decode import from_the_top

DATA = Path(__file__).parent / "data"


def test_a_build_dir_inside_the_tree_leaves_no_trace_in_the_decoded_paths() -> None:
    printed = (DATA / "decode" / "in-tree-build.txt").read_text().splitlines()
    assert any(".mptcp-harness-build-normal-c283f23b/../lib/dump_stack.c:127" in line for line in printed)
    decoded = [from_the_top(line) for line in printed]
    assert "dump_stack_lvl (lib/dump_stack.c:127)" in decoded
    assert "proc_reg_write (fs/proc/inode.c:205 fs/proc/inode.c:343)" in decoded
    assert not any(".mptcp-harness-build" in line or "../" in line for line in decoded)
    assert "sysrq_handle_crash+0x1a/0x20" in decoded  # what the script left alone stays as it was



def test_objects_ccache_brought_from_another_checkout_keep_no_path_of_it() -> None:
    """bisect's worktree, whose compiles came from the tree test's build: the script strips the worktree, not them."""
    printed = (DATA / "decode" / "from-another-checkout.txt").read_text().splitlines()
    assert any("/sources/linux-source-7.3-d582cd5b3cd8/.mptcp-harness-build-normal-c283f23b/../lib/dump_stack.c:127" in line
               for line in printed)
    decoded = [from_the_top(line) for line in printed]
    assert "vfs_write (fs/read_write.c:685)" in decoded and "dump_stack_lvl (lib/dump_stack.c:127)" in decoded
    assert not any(".mptcp-harness-build" in line or "../" in line or "/root" in line for line in decoded)
