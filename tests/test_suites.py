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
])
def test_malformed_suite_is_bad_input(tmp_path: Path, text: str, complaint: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=None) as e:
        load_suite(path)
    assert complaint in str(e.value)
    assert "\n" not in str(e.value)
