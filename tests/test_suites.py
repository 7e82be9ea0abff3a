"""Suite files are data; a malformed one is one clear error, not a traceback."""
import re
from pathlib import Path

import pytest

from harness.data import SUITES_DIR
from harness.errors import BadInput
from harness.suites import load_suite
from tests.helpers import linux_source


def test_mptcp_suite_follows_test_progs_order_in_a_real_source() -> None:
    """The scheduler reads "the first subtest without a result" as the one running: that needs the suite file's
    order to be test_progs' own. Checked against the prog_tests/mptcp.c of the default kernel's source."""
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    source = (linux_source() / "tools/testing/selftests/bpf/prog_tests/mptcp.c").read_text()
    in_source = re.findall(r'test__start_subtest\("(\w+)"\)', source)
    assert len(in_source) >= 4
    shared = [s for s in in_source if s in suite.subtests]
    assert shared == [s for s in suite.subtests if s in in_source] and len(shared) >= 3
    assert len(suite.subtests) == 19 and len(set(suite.subtests)) == 19  # mptcp_net-next's, each once
    assert suite.full_name("rr") == "mptcp/rr"


@pytest.mark.parametrize("text, complaint", [
    ("name = 'x'\ntest = 'y'\n", "subtests"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a', 'a']\n", "without repeats"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\ncolour = 1\n", "unknown key(s) colour"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\nrunner = 'pytest'\n", "runner 'pytest' unknown"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\nrunner = 'kselftest'\n", "runner 'kselftest' needs `directory`"),
    ("name = [\n", "cannot read suite file"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\n[capture]\na = '-c'\n", "[capture] names some of its subtests"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\nrunner = 'shell'\n[commands]\na = 'true'\n[capture]\nb = 'tcpdump'\n",
     "for runner 'shell' a command that captures"),
])
def test_malformed_suite_is_bad_input(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=None) as e:
        load_suite(path)
    assert complaint in str(e.value)
    assert "\n" not in str(e.value)


def test_a_shell_suite_names_a_capture_command_per_subtest(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("name = 'x'\ntest = 'y'\nrunner = 'shell'\nsubtests = ['a', 'b']\n[commands]\na = 'true'\nb = 'true'\n"
                    "[capture]\na = 'tcpdump -i lo -w a.pcap'\n")
    assert load_suite(path).capture == {"a": "tcpdump -i lo -w a.pcap"}
