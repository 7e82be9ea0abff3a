"""The bisect driver: verdicts from real reports, and the search over a list of builds."""
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from harness.bisect.kernels import first_bad
from harness.bisect.step import Kind, Verdict, verdict_of
from harness.data import SUITES_DIR
from harness.errors import BadInput, InfraError
from harness.report.json import from_json
from harness.results import Status, SubtestResult
from harness.run.select import selections
from harness.settings import Kvm, for_command

REPORTS = Path(__file__).parent / "data" / "reports"


def report(name: str, *subtests: str) -> list[SubtestResult]:
    """A real results.json read back, cut down to the subtests a `-k` selection would have run."""
    runs = from_json((REPORTS / name).read_text())
    return [r for run in runs for r in run.subtests if r.name in subtests]


def test_passed_subtests_make_a_good_kernel() -> None:
    assert verdict_of(report("mptcp-7.3-results.json", "mptcp/base", "mptcp/subflow")) == Verdict(Kind.GOOD, "2 passed")


def test_a_subtest_the_build_lacks_makes_the_kernel_untestable_not_good() -> None:
    found = verdict_of(report("mptcp-7.3-results.json", "mptcp/base", "mptcp/rr"))
    assert found.kind is Kind.UNTESTABLE and "not in this build" in found.why and found.git_code == 125


def test_a_failed_subtest_makes_the_kernel_bad() -> None:
    found = verdict_of(report("canary-7.3-results.json", "canary/pass", "canary/warning"))
    assert found == Verdict(Kind.BAD, "canary/warning failed: kernel warning while it ran") and found.git_code == 1


def test_a_known_failure_is_still_a_failure_to_bisect() -> None:
    failed = report("canary-7.3-results.json", "canary/warning")
    known = [dataclasses.replace(r, status=Status.XFAIL) for r in failed]
    assert verdict_of(known).kind is Kind.BAD


def test_nothing_ran_is_untestable() -> None:
    assert verdict_of([]).kind is Kind.UNTESTABLE


def test_a_step_takes_the_harness_options_and_k_as_pytest_does() -> None:
    settings, keyword = for_command(["--kernel-tree", "/src/linux", "--kvm", "off", "-k", "mptcp/rr"], "bisect-step")
    assert settings.kernel_tree == Path("/src/linux") and settings.kvm is Kvm.OFF and keyword == "mptcp/rr"
    (only,) = selections("mptcp/rr")
    assert only.subtests == ("rr",)
    assert [sel.subtests for sel in selections("MPTCP/BASE or mptcp/subflow and not iters")] == [("base", "subflow")]
    with pytest.raises(BadInput, match="unrecognized arguments: --frobnicate"):
        for_command(["--frobnicate"], "bisect-step")
    with pytest.raises(BadInput, match="selects no subtest"):
        selections("nothing-like-this")
    with pytest.raises(BadInput, match="--guest-cpus: 'two' is not an int"):
        for_command(["--guest-cpus", "two"], "bisect-step")


def verdicts(*kinds: str) -> tuple[Callable[[str], Verdict], list[str]]:
    """A stand-in for a run on each kernel, by position; records which were tested."""
    tested: list[str] = []

    def test(kernel: str) -> Verdict:
        tested.append(kernel)
        return Verdict(Kind(kinds[int(kernel)]), "stand-in")
    return test, tested


def test_the_search_halves_the_range_and_steps_over_untestable_builds() -> None:
    test, tested = verdicts("good", "good", "good", "untestable", "bad", "bad", "bad")
    assert first_bad([str(i) for i in range(7)], test, lambda line: None) == (2, 4)
    assert tested[:2] == ["6", "0"]  # both ends first, the bad one (its rate sizes the others) before
    assert len(tested) <= 5


def test_a_range_without_a_regression_is_bad_input() -> None:
    test, _ = verdicts("good", "good", "good")
    with pytest.raises(BadInput, match="newest kernel must be bad"):
        first_bad(["0", "1", "2"], test, lambda line: None)
    test, _ = verdicts("bad", "bad")
    with pytest.raises(BadInput, match="oldest kernel must be good"):
        first_bad(["0", "1"], test, lambda line: None)


def test_an_end_that_cannot_be_tested_is_an_infrastructure_error() -> None:
    def lost(kernel: str) -> Verdict:
        return Verdict(Kind.UNTESTABLE, "mptcp/base lost (test_progs did not finish)")
    with pytest.raises(InfraError):
        first_bad(["0", "1"], lost, lambda line: None)


def test_a_kernel_that_gives_no_persistent_guest_is_run_in_one_shot_guests_and_judged(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Found by tests/test_culprit_slow.py at 107a15c: a commit that panics at boot made the persistent guest's boot an
    InfraError that ended the nightly's bisection ("no culprit: the guest exited during boot"). Its runs now go to
    one-shot guests (as run_selection's do), whose results tell what the console showed: a step judged, not lost.
    The stand-in session gives a real night's results (the canary's warning failed its subtest)."""
    from harness import pipeline
    from harness.bisect.outcome import Repeated

    night = from_json((REPORTS / "nightly-canary-7.3-results.json").read_text())
    calls: list[str] = []

    class Session:
        def __init__(self, *args: object, **kwargs: object) -> None:
            self.prepared = pipeline.Prepared(dataclasses.replace(kernel, image=tmp_path / "bzImage"), None, False)

        def run_in_guest(self, suite: object, subtest: str) -> object:
            calls.append("persistent")
            raise InfraError("the guest exited during boot (vng exit 255)")

        def run(self, selection: object) -> object:
            calls.append("one-shot")
            return night[0]

        def close(self) -> None:
            calls.append("closed")

    from harness.kernel import Kernel
    kernel = Kernel(tmp_path / "bzImage", "7.3.4", None, tmp_path / "vmlinux", "stand-in:7.3.4")
    (tmp_path / "bzImage").write_bytes(b"kernel")
    monkeypatch.setattr(pipeline, "prepare", lambda *a, **k: None)
    monkeypatch.setattr(pipeline, "Session", Session)
    settings = for_command(["--history", "off", "--harness-cache", str(tmp_path / "cache")], "bisect")[0]
    chosen = selections("warning", [SUITES_DIR / "canary" / "canary.toml"])
    said: list[str] = []
    with Repeated(lambda _: settings, chosen, said.append) as repeated:
        first, second = repeated("c1"), repeated("c1")
    assert first.verdict.kind is Kind.BAD and second.verdict.kind is Kind.BAD
    assert calls == ["persistent", "one-shot", "one-shot", "closed"]  # the persistent guest tried once per kernel
    assert any("no persistent guest (the guest exited during boot" in line for line in said)
