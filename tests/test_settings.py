"""One resolver for every front end: pytest, nightly and bisect get the same Settings from the same command line,
environment and ini file. The front ends are driven through their real entry points (pytest.main, the harness's
`nightly` and `bisect-step` commands) up to the pipeline's first stage, whose request is made from the Settings:
there they are recorded, and the run stops."""
import os
from pathlib import Path
from typing import NoReturn

import pytest
from pytest import MonkeyPatch

from harness import cli, pipeline
from harness.data import SUITES_DIR
from harness.errors import BadInput, InfraError
from harness.settings import Settings, find_ini, for_command, read_ini


@pytest.fixture
def given(monkeypatch: MonkeyPatch) -> list[Settings]:
    """The Settings each front end hands the pipeline: prepare()'s request is made from them, recorded; the run stops."""
    seen: list[Settings] = []

    def request_of(settings: Settings) -> NoReturn:
        seen.append(settings)
        raise InfraError("stopped by the test after the settings")
    monkeypatch.setattr(pipeline.PrepareRequest, "of", staticmethod(request_of))
    return seen


@pytest.fixture
def sources(tmp_path: Path, monkeypatch: MonkeyPatch) -> tuple[Path, list[str]]:
    """A knob from each source: the command line, the environment, an ini file given with -c."""
    ini = tmp_path / "pytest.ini"
    ini.write_text("[pytest]\nharness_retries = 0\nharness_guest_memory = 1G\nharness_kernel_warnings = report\n")
    monkeypatch.setenv("HARNESS_GUEST_MEMORY", "1536M")  # the environment before the ini file
    monkeypatch.delenv("HARNESS_RETRIES", raising=False)
    monkeypatch.chdir(tmp_path)
    argv = ["-c", str(ini), "-k", "mptcp/base", "--subtest-timeout", "77", "--harness-cache", str(tmp_path / "cache"),
            "--kvm", "off"]
    return tmp_path, argv


def test_pytest_nightly_and_bisect_resolve_the_same_settings(given: list[Settings], sources: tuple[Path, list[str]]) -> None:
    tmp, argv = sources
    pytest.main([str(SUITES_DIR / "mptcp_bpf.toml"), "-p", "no:cacheprovider", "-q", *argv])
    assert cli.main(["nightly", "--out", str(tmp / "nights"), *argv]) == 3  # the mode did not build: infrastructure
    assert cli.main(["bisect-step", *argv]) == 125  # no results: cannot tell
    py, night, step = given
    assert py.guest_memory == "1536M" and py.retries == 0 and py.subtest_timeout == 77 and not py.fail_on_warning
    assert night == py  # the ini file's retries = 0 wins over the nightly's own default of 1
    assert step == py


def test_retries_zero_reaches_the_nightly_in_either_spelling(given: list[Settings], tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_RETRIES", raising=False)
    common = ["nightly", "--out", str(tmp_path / "nights"), "-k", "mptcp/base", "--harness-cache", str(tmp_path / "c")]
    for argv in (["--retries=0"], ["--retries", "0"], []):
        cli.main([*common, *argv])
    assert [s.retries for s in given] == [0, 0, 1]  # no retries given: a night's own default


def test_the_ini_file_is_the_one_pytest_reads_for_the_suites(monkeypatch: MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_RETRIES", raising=False)
    assert find_ini(SUITES_DIR) == SUITES_DIR.parent / "pyproject.toml"
    settings, keyword = for_command(["-k", "mptcp/rr"], "bisect")
    assert keyword == "mptcp/rr" and settings.retries == (1 if os.environ.get("CI") else 0)  # pyproject.toml sets none


def test_a_bad_value_or_key_names_its_source(tmp_path: Path, monkeypatch: MonkeyPatch) -> None:
    ini = tmp_path / "tox.ini"
    ini.write_text("[pytest]\nharness_guest_cpus = two\n")
    with pytest.raises(BadInput, match=r"tox.ini: harness_guest_cpus: 'two' is not an int"):
        for_command(["-c", str(ini)], "nightly")
    monkeypatch.setenv("HARNESS_GUEST_CPUS", "three")
    with pytest.raises(BadInput, match=r"\$HARNESS_GUEST_CPUS: 'three' is not an int"):
        for_command(["-c", str(ini)], "nightly")
    ini.write_text("[pytest]\nharness_no_such = 1\n")
    with pytest.raises(BadInput, match="tox.ini: unknown key"):
        read_ini(ini)
    with pytest.raises(BadInput, match="-c /nonexistent.ini: no such file"):
        for_command(["-c", "/nonexistent.ini"], "bisect")
    assert read_ini(Path(tmp_path / "pytest.ini"), ["harness_retries=2"]).values == {"retries": "2"}
