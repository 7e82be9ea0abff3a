"""The nightly's parts without a guest: expectations, the comparison of nights, KCIDB, the git fetch, bad input.

Results come from a real night's results.json (tests/data/reports/nightly-canary-7.3-results.json:
canary pass passed, warning failed by its fingerprinted WARNING, flaky failed then passed).
"""
import dataclasses
import datetime
import json
import os
import subprocess
from pathlib import Path
from typing import NoReturn

import kcidb_io
import pytest
from pytest import MonkeyPatch

from harness.errors import BadInput, InfraError
from harness.expectations import Expectations, apply, load
from harness.kernel import BUILD_PREFIX
from harness.night_summary import Changes, Finding, ModeNight, NightSummary, previous
from harness.nightly import night as nightly
from harness.nightly import summary as nights
from harness.report.json import from_json
from harness.report.kcidb import EXCERPT_MAX, to_kcidb
from harness.results import Status, SuiteRun
from harness.settings import Settings
from tests.helpers import run_harness

DATA = Path(__file__).parent / "data" / "reports"


def night_runs() -> list[SuiteRun]:
    return from_json((DATA / "nightly-canary-7.3-results.json").read_text())


def statuses(runs: list[SuiteRun]) -> dict[str, Status]:
    return {r.name: r.status for run in runs for r in run.subtests}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "expect.toml"
    path.write_text(text)
    return path


def test_a_known_failure_is_xfail_a_known_one_that_passed_is_xpass_and_a_known_crash_xfails_what_it_failed(tmp_path: Path) -> None:
    known = load(write(tmp_path, '[[failure]]\ntest = "canary/pass"\nreason = "pretend"\n'
                                 '[[crash]]\nfingerprint = "canary_warning"\nreason = "the canary warns"\nlink = "L"\n'))
    got = statuses(apply(night_runs(), known, "prebuilt"))
    assert got == {"canary/pass": Status.XPASS, "canary/warning": Status.XFAIL, "canary/flaky": Status.FLAKY}
    warning = next(r for run in apply(night_runs(), known, "prebuilt") for r in run.subtests if r.name == "canary/warning")
    assert warning.reason == "expected: the canary warns (L) (kernel warning while it ran)"


def test_entries_match_by_mode_and_kernel_globs_and_expire(tmp_path: Path) -> None:
    known = load(write(tmp_path, '[[failure]]\ntest = "canary/w*"\nmode = "debug"\nreason = "r"\n'
                                 '[[failure]]\ntest = "canary/*"\nkernel = "debian:6.*"\nreason = "r"\n'
                                 '[[failure]]\ntest = "canary/warning"\nreason = "r"\nexpires = 2020-01-01\n'))
    assert statuses(apply(night_runs(), known, "normal"))["canary/warning"] is Status.XFAIL  # the third, not yet expired
    live, said = known.live(datetime.date(2026, 11, 26))
    assert statuses(apply(night_runs(), live, "normal"))["canary/warning"] is Status.FAILED  # none matches 7.3 normal
    assert statuses(apply(night_runs(), live, "debug"))["canary/warning"] is Status.XFAIL
    assert len(live.failures) == 2 and said == [f"{tmp_path / 'expect.toml'}: the entry for canary/warning expired on "
                                                "2020-01-01: it no longer applies"]


@pytest.mark.parametrize("text, words", [
    ("[[failure]]\ntest = 'x'\n", "needs `test` and `reason`"),
    ("[[crash]]\nreason = 'x'\n", "needs `fingerprint` and `reason`"),
    ("[[failure]]\ntest = 'x'\nreason = 'y'\nexpires = 'soon'\n", "expires must be a date"),
    ("[[failure]]\ntest = 'x'\nreason = 'y'\ncolour = 'red'\n", "unknown keys ['colour']"),
    ("[skip]\n", "unknown table [skip]"),
    ("[[failure]\n", "not valid TOML"),
    ("[[failure]]\ntest = 5\nreason = 'y'\n", "test must be text (quoted)"),
    ("[[failure]]\ntest = 'mptcp/bsae'\nreason = 'y'\n", "test = 'mptcp/bsae' names no subtest of the suite files"),
])
def test_a_malformed_expectations_file_is_bad_input_in_one_line(tmp_path: Path, text: str, words: str) -> None:
    with pytest.raises(BadInput, match=None) as e:
        load(write(tmp_path, text))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_second_night_says_what_changed_and_when_a_crash_was_first_seen() -> None:
    first = ModeNight("normal", "k", 1.0, {"canary": 9.0}, night_runs())
    one = nights.summarize(NightSummary("n1", "2026-11-25T01:00:00+00:00"), [first], None, Expectations(), [])
    assert one.exit == 1 and one.changes.new_failures == ("normal:canary/warning",)
    assert one.changes.new_crashes == ("normal:canary_warning",) and one.changes.new_flaky == ("normal:canary/flaky",)
    fixed = [dataclasses.replace(run, subtests=tuple(dataclasses.replace(r, status=Status.PASSED) for r in run.subtests),
                                 incidents=()) for run in night_runs()]
    again = ModeNight("normal", "k", 1.0, {"canary": 9.0}, night_runs())
    two = nights.summarize(NightSummary("n2", "2026-11-26T01:00:00+00:00"), [again], one, Expectations(), [])
    assert two.changes.still_failing == ("normal:canary/warning",) and two.changes.new_crashes == ()
    assert two.crashes[0].first_seen == "n1" and "seen first on n1" in "\n".join(nights.text(two))
    three = nights.summarize(NightSummary("n3", "x"), [ModeNight("normal", "k", 1, {}, fixed)], two, Expectations(), [])
    assert three.exit == 0 and three.changes.fixed == ("normal:canary/warning",)
    assert nights.text(three)[0] == "night n3: nothing unexpected (compared with n2)"


def test_a_crash_no_test_carried_fails_the_night_until_the_expectations_name_it(tmp_path: Path) -> None:
    # the real night's console events (the canary's WARNING) with every subtest passed: as a crash at boot would be
    quiet = [dataclasses.replace(run, subtests=tuple(dataclasses.replace(r, status=Status.PASSED) for r in run.subtests))
             for run in night_runs()]
    mode = ModeNight("debug", "k", 1.0, {}, quiet)
    unnamed = nights.summarize(NightSummary("n", "x"), [mode], None, Expectations(), [])
    assert unnamed.exit == 1 and unnamed.unexpected == () and unnamed.unknown_crashes == ("debug:canary_warning",)
    assert "crashes the expectations do not name: 1\n  debug:canary_warning" in "\n".join(nights.text(unnamed))
    known = load(write(tmp_path, '[[crash]]\nfingerprint = "canary_warning"\nreason = "the canary warns"\n'))
    named = nights.summarize(NightSummary("n", "x"), [mode], None, known, [])
    assert named.exit == 0 and named.unknown_crashes == () and "; known: the canary warns" in "\n".join(
        nights.text(named))
    # an entry for other modes' kernels (or other kernels) does not name it
    for scope in ('mode = "normal"', 'kernel = "*6.12*"'):
        elsewhere = load(write(tmp_path, f'[[crash]]\nfingerprint = "canary_warning"\n{scope}\nreason = "r"\n'))
        assert nights.summarize(NightSummary("n", "x"), [mode], None, elsewhere, []).unknown_crashes == (
            "debug:canary_warning",)
    debug_only = load(write(tmp_path, '[[crash]]\nfingerprint = "canary_warning"\nmode = "debug"\nreason = "r"\n'))
    assert nights.summarize(NightSummary("n", "x"), [mode], None, debug_only, []).exit == 0


def test_a_mode_that_did_not_build_makes_an_infrastructure_night() -> None:
    broken = ModeNight("debug", infra=["the kernel or test_progs did not build: make failed"], built=False)
    summary = nights.summarize(NightSummary("n", "x"), [broken], None, Expectations(), [])
    assert summary.exit == 3 and "infrastructure: debug: the kernel or test_progs did not build" in "\n".join(
        nights.text(summary))


def test_kcidb_output_validates_with_kcidb_io_and_maps_statuses() -> None:
    long_output = tuple(f"line {n} " + "x" * 100 for n in range(400))
    runs = [dataclasses.replace(run, subtests=(*run.subtests[:2], dataclasses.replace(run.subtests[2], output=long_output)))
            for run in night_runs()]
    mode = ModeNight("normal", "k", 12.0, {"canary": 9.0}, runs)
    summary = nights.summarize(NightSummary("2026-11-26-abc", "2026-11-26T01:00:00+00:00", commit="a" * 40,
                                            source="https://example.org/net-next.git", branch="main"),
                               [mode], None, Expectations(), [])
    data = to_kcidb(summary, [mode])
    kcidb_io.schema.LATEST.validate(data)
    by_path = {t["path"]: t for t in data["tests"]}
    assert {p: t["status"] for p, t in by_path.items()} == {"canary.pass": "PASS", "canary.warning": "FAIL",
                                                           "canary.flaky": "PASS"}
    assert len(by_path["canary.flaky"]["log_excerpt"]) == EXCERPT_MAX and by_path["canary.flaky"]["misc"]["harness_status"] == "flaky"
    assert data["checkouts"][0]["git_commit_hash"] == "a" * 40 and data["builds"][0]["status"] == "PASS"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def make_commit(repo: Path, *args: str) -> str:
    """`git commit -q ARGS` by a developer of these tests."""
    return git(repo, "-c", "user.name=A", "-c", "user.email=a@example.org", "commit", "-q", *args)


def repo_with(repo: Path, branch: str, name: str, content: str | bytes, message: str) -> Path:
    """A git repository at `repo` whose `branch` has one commit: the file `name` holding `content`."""
    repo.mkdir()
    git(repo, "init", "-q", "-b", branch)
    if isinstance(content, bytes):
        (repo / name).write_bytes(content)
    else:
        (repo / name).write_text(content)
    git(repo, "add", ".")
    make_commit(repo, "-m", message)
    return repo


def test_fetch_takes_the_branch_tip_into_the_harness_own_shallow_clone(tmp_path: Path) -> None:
    upstream = tmp_path / "net-next"
    upstream.mkdir()
    git(upstream, "init", "-q", "-b", "main")
    for n in range(3):
        (upstream / "f.c").write_text(f"int f = {n};\n")
        git(upstream, "add", ".")
        make_commit(upstream, "-m", f"c{n}")
    url = f"file://{upstream}"
    tree, commit = nightly.fetch(url, "main", tmp_path / "cache", lambda _: None)
    assert commit == git(upstream, "rev-parse", "HEAD") and git(tree, "rev-list", "--count", "HEAD") == "1"
    (tree / "stray.o").write_text("left by someone")
    build = tree / f"{BUILD_PREFIX}normal-0123abcd"  # a night's build dir: kept, the next night is incremental
    build.mkdir()
    (build / "vmlinux").write_text("built last night")
    (upstream / "f.c").write_text("int f = 9;\n")
    make_commit(upstream, "-am", "c9")
    again, newer = nightly.fetch(url, "main", tmp_path / "cache", lambda _: None)
    assert again == tree and newer == git(upstream, "rev-parse", "HEAD") and (tree / "f.c").read_text() == "int f = 9;\n"
    assert not (tree / "stray.o").exists() and (build / "vmlinux").read_text() == "built last night"
    (tree / ".git" / "shallow.lock").write_text("")  # a killed night's git (seen for real: the next fetch failed)
    _, same = nightly.fetch(url, "main", tmp_path / "cache", lambda _: None)
    assert same == newer


@pytest.mark.parametrize("args, words", [
    (["--branch", "main"], "--branch goes with --git URL"),
    (["--modes", "debug"], "--modes needs a kernel to build"),
    (["--git", "file:///nowhere", "--kernel-tree", "/tmp"], "--git and --kernel-tree each give the tree"),
    (["--git", "file:///nowhere", "--modes", "fancy"], "unknown kernel mode 'fancy'"),
    (["--expectations", "/nonexistent.toml"], "cannot read the expectations file"),
    (["-k", "nothing_like_this"], "selects no subtest"),
    (["--kernels", "6.12,5.4"], "unknown Debian kernel '5.4'"),
    (["--kernels", "6.12,6.12"], "name each kernel once"),
    (["--kernels", "6.12,7.3", "--kernel", "7.3"], "--kernels names the night's kernels"),
    (["--kernels", "6.12,7.3", "--modes", "debug"], "with --kernels each kernel is a column"),
    (["--selftests-git", "file:///nowhere"], "--selftests-git goes with --kernels"),
    (["--kernels", "6.12", "--selftests-branch", "main"], "--selftests-branch goes with --selftests-git"),
    (["--kernels", "6.12", "--selftests-git", "file:///x", "--selftests-tree", "TREE"], "each give the selftests' tree"),
])
def test_nightly_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], words: str) -> None:
    tree = tmp_path / "linux"  # as much of a kernel tree as --selftests-tree checks
    (tree / "tools/testing/selftests/net/mptcp").mkdir(parents=True)
    for makefile in ("Makefile", "tools/testing/selftests/Makefile"):
        (tree / makefile).write_text("")
    run = run_harness("nightly", "--out", str(tmp_path / "nights"), *(str(tree) if a == "TREE" else a for a in args))
    assert run.returncode == 2 and words in run.stderr and run.stderr.count("\n") == 1, run.stderr
    assert not (tmp_path / "nights").exists() or not any((tmp_path / "nights").iterdir())


def test_a_fetch_that_fails_is_one_line_with_the_url_and_gits_reason_exit_3(tmp_path: Path) -> None:
    url = f"file://{tmp_path}/no-such-repo"
    with pytest.raises(InfraError, match=rf"could not fetch main from {url}: fatal: .*no-such-repo"):
        nightly.fetch(url, "main", tmp_path / "cache", lambda _: None)
    run = run_harness("nightly", "--out", str(tmp_path / "nights"), "--git", url, "--branch", "main",
                      f"--harness-cache={tmp_path / 'cache'}", "-k", "mptcp/base")
    assert run.returncode == 3 and run.stderr.count("\n") == 1 and f"could not fetch main from {url}" in run.stderr, run.stderr


@pytest.mark.parametrize("failure, built, words", [
    ("build", False, "the kernel or test_progs did not build: kernel build failed:"),
    ("download", True, "no kernel to run: apt-get download failed"),
])
def test_a_mode_that_did_not_build_is_told_apart_from_one_the_machinery_failed(tmp_path: Path, monkeypatch: MonkeyPatch,
                                                                                failure: str, built: bool, words: str) -> None:
    """What KCIDB reports as a failed build is a build that failed (errors.BuildFailed, made by failed_step from the
    build's log), not a download that did: both stop the mode, only the first is the source's fault."""
    from harness import pipeline
    from harness.errors import failed_step
    log = tmp_path / "build.log"
    log.write_text("make -j2 bzImage\nnet/mptcp/pm.c:12:1: error: expected ';' before '}' token\n")

    def prepare(settings: object, suites: object, say: object = print, expected: object = None) -> NoReturn:
        raise failed_step("kernel build", log) if failure == "build" else InfraError("apt-get download failed")
    monkeypatch.setattr(pipeline, "prepare", prepare)
    from harness.settings import Settings
    night = nightly.Night(tmp_path / "nights", Settings(cache_dir=tmp_path / "cache"), (), ("normal",))
    m = nightly.run_mode(night, night.settings, "normal", tmp_path, lambda _: None)
    assert m.built is built and m.runs == [] and m.infra[0].startswith(words), m.infra


def test_nightlies_started_at_once_each_get_their_own_dir(tmp_path: Path) -> None:
    import threading

    made: list[Path] = []
    threads = [threading.Thread(target=lambda: made.append(nightly.night_dir(tmp_path, "abc")))
               for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(made)) == 8 and all(p.is_dir() for p in made)


def test_the_night_before_is_one_that_started_earlier_and_has_its_summary(tmp_path: Path) -> None:
    for name, started in (("a", "2026-12-01T01:00:00"), ("b", "2026-12-02T01:00:00"), ("c", "2026-12-02T01:00:05")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "summary.json").write_text(json.dumps({"night": name, "started": started}))
    (tmp_path / "d").mkdir()  # still running: no summary yet
    assert getattr(previous(tmp_path, "b", "2026-12-02T01:00:00"), "night", None) == "a"  # not c, begun beside it
    assert getattr(previous(tmp_path, "c", "2026-12-02T01:00:05"), "night", None) == "b"


def test_a_repository_gone_at_fetch_time_is_one_line_and_the_clone_serves_the_next_night(tmp_path: Path) -> None:
    """The night's URL stops answering (a file:// repo moved away) after a night fetched from it: one line with the
    URL, exit 3; when it answers again, the same clone fetches the new tip."""
    upstream = repo_with(tmp_path / "net-next", "main", "f.c", "int f;\n", "c0")
    url, cache = f"file://{upstream}", tmp_path / "cache"
    clone, first = nightly.fetch(url, "main", cache, lambda _: None)
    upstream.rename(tmp_path / "away")
    with pytest.raises(InfraError, match=rf"could not fetch main from {url}: fatal: "):
        nightly.fetch(url, "main", cache, lambda _: None)
    (tmp_path / "away").rename(upstream)
    (upstream / "f.c").write_text("int f = 1;\n")
    make_commit(upstream, "-am", "c1")
    again, newer = nightly.fetch(url, "main", cache, lambda _: None)
    assert again == clone and newer == git(upstream, "rev-parse", "HEAD") != first


def test_a_fetch_killed_half_way_leaves_the_clone_usable_for_the_next_night(tmp_path: Path) -> None:
    """SIGKILL (the CI job's timeout, a reboot) while the pack comes in: git's lock files and a partial pack stay in
    the clone; the next night's fetch gets the branch tip all the same."""
    import signal
    import sys
    import time

    # enough to take a few seconds to fetch
    upstream = repo_with(tmp_path / "net-next", "main", "big.bin", os.urandom(150_000_000), "c0")
    url, cache = f"file://{upstream}", tmp_path / "cache"
    code = ("import sys; from pathlib import Path; from harness.nightly import night; "
            f"night.fetch({url!r}, 'main', Path({str(cache)!r}), print)")
    fetching = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).parent.parent, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(cache.glob("git/net-next-*/.git/shallow.lock")) and \
            fetching.poll() is None:
        time.sleep(0.02)
    time.sleep(1.0)  # objects are coming in (the whole fetch takes several seconds)
    if fetching.poll() is None:
        os.killpg(fetching.pid, signal.SIGKILL)
    fetching.wait()
    assert fetching.returncode == -signal.SIGKILL, "the fetch ended before it could be killed: make the blob larger"
    clone, commit = nightly.fetch(url, "main", cache, lambda _: None)
    assert commit == git(upstream, "rev-parse", "HEAD") and (clone / "big.bin").stat().st_size == 150_000_000


def test_coverage_goes_into_the_summary_its_text_and_kcidb_as_a_measurement() -> None:
    figures = {"scope": "net/mptcp", "lines_hit": 2154, "lines": 9020, "lines_percent": 23.9, "functions_hit": 301,
               "functions": 702, "functions_percent": 42.9, "copies": 2, "info": "i", "html": "h"}
    mode = ModeNight("normal", "k", 12.0, {"canary": 9.0}, night_runs(), coverage=figures)
    summary = nights.summarize(NightSummary("2026-12-02-abc", "2026-12-02T01:00:00+00:00"), [mode], None, Expectations(), [])
    assert summary.modes["normal"].coverage == figures
    assert "normal: net/mptcp coverage: 23.9 % lines, 42.9 % functions" in nights.text(summary)
    data = to_kcidb(summary, [mode])
    kcidb_io.schema.LATEST.validate(data)
    measured = {t["path"]: (t["status"], t["number"]) for t in data["tests"] if t["path"].startswith("coverage.")}
    assert measured == {"coverage.net_mptcp.lines": ("DONE", {"value": 23.9, "unit": "%"}),
                        "coverage.net_mptcp.functions": ("DONE", {"value": 42.9, "unit": "%"})}


def test_a_night_records_the_tools_versions_and_says_which_changed_since_the_night_before() -> None:
    from harness.host import versions
    from harness.payload.selftests_bpf import llvm_bin

    now = versions.recorded(llvm_bin())  # this machine's, for real
    assert "clang version 22" in now["clang"] and now["pahole"].startswith("v1.") and now["virtme-ng"] == "1.42"
    assert now["qemu"].startswith("QEMU emulator version") and "iproute2" in now["iproute2"]
    assert len(now["harness"].split()[0]) == 12  # this checkout's commit
    before = dict(now, pahole="v1.23")
    mode = ModeNight("normal", "k", 12.0, {"canary": 9.0}, night_runs())
    summary = nights.summarize(NightSummary("n2", "2", versions=now), [mode], NightSummary("n1", "1", versions=before),
                               Expectations(), [])
    assert summary.versions_changed == (f"pahole: v1.23 -> {now['pahole']}",)
    text = "\n".join(nights.text(summary))
    assert f"tools changed since the night before: 1\n  pahole: v1.23 -> {now['pahole']}" in text
    first = nights.summarize(NightSummary("n1", "1", versions=now), [mode], None, Expectations(), [])
    assert first.versions_changed == () and "tools changed" not in "\n".join(nights.text(first))


def test_notify_tells_only_a_night_with_something_new_and_its_failure_is_only_said(tmp_path: Path) -> None:
    from harness.nightly.night import notify

    text = tmp_path / "summary.txt"
    text.write_text("night n2: UNEXPECTED FAILURES (compared with n1)\nnew failures: 1\n  normal:mptcp/rr\n")
    got, said = tmp_path / "got.txt", list[str]()
    quiet = NightSummary("n2", "2")
    notify(f"cat > {got}", quiet, text, said.append)
    assert not got.exists() and said == ["notify: nothing new tonight, nobody told"]
    news = NightSummary("n2", "2", changes=Changes(new_failures=("normal:mptcp/rr",)))
    notify(f"cat > {got}", news, text, said.append)
    assert got.read_text() == text.read_text() and said[-1].startswith("notify: told")
    notify("echo 'smtp: connection refused' >&2; exit 7", news, text, said.append)
    assert said[-1] == ("notify: \"echo 'smtp: connection refused' >&2; exit 7\" failed (exit 7: smtp: connection "
                        "refused); the night is not changed by it")


def test_a_culprit_heads_the_summary_and_is_a_kcidb_issue_with_an_incident_per_failing_test() -> None:
    runs = night_runs()
    mode = ModeNight("normal", "k", 12.0, {"canary": 9.0}, runs)
    summary = nights.summarize(NightSummary("2026-12-02-b", "2026-12-02T01:00:00+00:00", commit="b" * 40), [mode], None,
                               Expectations(), [])
    found = Finding("culprit: 0123456789ab mptcp: a regression (A Developer), verified", "0123456789ab" + "c" * 28,
                    "mptcp: a regression", "A Developer <dev@example.org>", True, ("canary/warning",), "2026-12-02-b")
    summary = dataclasses.replace(summary, culprits={"normal": (found,)})
    lines = nights.text(summary)
    assert lines[1] == "normal: culprit: 0123456789ab mptcp: a regression (A Developer), verified"
    data = to_kcidb(summary, [mode])
    kcidb_io.schema.LATEST.validate(data)
    (issue,) = data["issues"]
    assert issue["culprit"] == {"code": True} and issue["misc"]["commit"] == "0123456789ab" + "c" * 28
    (incident,) = data["incidents"]
    assert incident["issue_id"] == issue["id"] and incident["test_id"] in {t["id"] for t in data["tests"]}


def test_a_kernels_nights_checkout_is_its_selftests_fetched_from_git_or_its_tree_as_given(tmp_path: Path) -> None:
    """--selftests-git is fetched as --git is, and becomes --selftests-tree; the night's source and commit are the
    selftests' (a --selftests-tree that is a checkout gives its HEAD); each kernel a column with its own kernel."""
    upstream = repo_with(tmp_path / "mptcp_net-next", "export", "Makefile", "", "selftests")
    url = f"file://{upstream}"
    base = nightly.Night(tmp_path / "nights", Settings(cache_dir=tmp_path / "cache"), (), ("6.12", "7.3"),
                         kernels=("6.12", "7.3"), selftests_git=url, selftests_branch="export")
    settings, source, commit = nightly.checkout(base, lambda _: None)
    assert settings.selftests_tree is not None and (settings.selftests_tree / "Makefile").is_file()
    assert (source, commit) == (url, git(upstream, "rev-parse", "HEAD"))
    given = dataclasses.replace(base, selftests_git=None, settings=Settings(cache_dir=tmp_path, selftests_tree=upstream))
    assert nightly.checkout(given, lambda _: None)[1:] == (str(upstream), git(upstream, "rev-parse", "HEAD"))
    assert nightly._mode_settings(base, settings, "6.12").kernel_name == "6.12"
