"""Suite files are data; a malformed one is one clear error, not a traceback."""
import pytest

from harness.errors import BadInput
from harness.settings import SUITES_DIR
from harness.suites import load_suite

MPTCP_NET_NEXT = [
    "base", "mptcpify", "subflow", "iters_subflow", "netlink_pm", "bpf_netlink_pm", "userspace_pm",
    "bpf_userspace_pm", "iters_netlink_address", "iters_userspace_address", "bpf_hashmap_pm", "sockopt",
    "default", "first", "bkup", "rr", "red", "burst", "stale",
]


def test_mptcp_suite_has_the_19_subtests_of_mptcp_net_next():
    suite = load_suite(SUITES_DIR / "mptcp_bpf.toml")
    assert list(suite.subtests) == MPTCP_NET_NEXT
    assert suite.full_name("rr") == "mptcp/rr"


@pytest.mark.parametrize("text, complaint", [
    ("name = 'x'\ntest = 'y'\n", "subtests"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a', 'a']\n", "without repeats"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\ncolour = 1\n", "unknown key(s) colour"),
    ("name = 'x'\ntest = 'y'\nsubtests = ['a']\nrunner = 'kselftest'\n", "runner 'kselftest' unknown"),
    ("name = [\n", "cannot read suite file"),
])
def test_malformed_suite_is_bad_input(tmp_path, text, complaint):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(BadInput, match=None) as e:
        load_suite(path)
    assert complaint in str(e.value)
    assert "\n" not in str(e.value)
