"""Other Debian suites are reached through the host's own mirror, found in its apt sources."""
from pathlib import Path

import pytest

from harness.errors import InfraError
from harness.kernel.apt import PrivateApt, host_mirror

DEB822 = """Types: deb
URIs: http://mirror.example/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.example/debian-security
Suites: bookworm-security
Components: main
"""


def test_mirror_from_deb822_sources_skips_security(tmp_path: Path) -> None:
    src = tmp_path / "debian.sources"
    src.write_text(DEB822)
    m = host_mirror([src])
    assert m.uri == "http://mirror.example/debian"
    assert m.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_mirror_from_one_line_sources(tmp_path: Path) -> None:
    src = tmp_path / "sources.list"
    src.write_text("# comment\ndeb-src http://a.example/debian bookworm main\n"
                   "deb [arch=amd64 signed-by=/k.gpg] http://b.example/debian bookworm main contrib\n")
    m = host_mirror([src])
    assert (m.uri, m.signed_by) == ("http://b.example/debian", "/k.gpg")


def test_no_debian_source_is_a_clear_error(tmp_path: Path) -> None:
    src = tmp_path / "other.list"
    src.write_text("deb https://packages.example/apt stable main\n")
    with pytest.raises(InfraError, match="no Debian mirror"):
        host_mirror([src])


def test_private_state_names_only_our_suites(tmp_path: Path) -> None:
    src = tmp_path / "debian.sources"
    src.write_text(DEB822)
    apt = PrivateApt(tmp_path / "apt", ["trixie-backports", "trixie-backports"], mirror=host_mirror([src]))
    apt._write_sources()
    text = (tmp_path / "apt" / "sources.list").read_text()
    assert text == ("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] "
                    "http://mirror.example/debian trixie-backports main\n")
    opts = apt._options()
    assert f"Dir::State::Lists={tmp_path / 'apt' / 'lists'}" in opts  # never the host's lists

