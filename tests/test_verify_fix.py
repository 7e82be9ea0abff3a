"""verify-fix's verdict from the rounds it ran: the closing line and the exit code (the runs themselves:
tests/test_verify_fix_e2e.py, on a real tree)."""
from harness.bisect.fix import Rounds, enough_on_base, enough_on_fix, verdict
from harness.errors import Exit

BASE, FIX = "a" * 40, "b" * 40


def test_reproduced_then_clean_is_fixed_with_both_rates_and_how_sure() -> None:
    code, line = verdict(Rounds(BASE, "", ran=9, failed=3), Rounds(FIX, "", ran=11), 20)
    assert code is Exit.PASSED
    assert line == (f"reproduced on {BASE[:12]}: 3 failed of 9 (33 %, 95 %: 12-65 %); with the fix {FIX[:12]}: "
                    "0 failed of 11 (0 %, 95 %: 0-26 %): fixed, 95 % confident")
    code, line = verdict(Rounds(BASE, "", ran=20, failed=1), Rounds(FIX, "", ran=20), 20)  # a rare failure: the cap
    assert code is Exit.PASSED and line.endswith("0 failed of 20 (0 %, 95 %: 0-16 %) of 20 asked: fixed as far as they "
                                                 "tell, only 64 % confident (more --count rounds to be 95 % sure)")


def test_the_fix_runs_until_a_commit_failing_like_the_base_would_have_failed() -> None:
    enough = enough_on_fix(Rounds(BASE, "", ran=9, failed=3), 0.95)
    assert [n for n in range(1, 30) if enough(n, 0)][0] == 11 and enough(1, 1)
    assert not enough_on_base(8, 2) and enough_on_base(9, 3)


def test_a_failure_of_the_fix_is_not_fixed_and_a_base_that_passes_is_nothing_to_verify() -> None:
    code, line = verdict(Rounds(BASE, "", ran=3, failed=1), Rounds(FIX, "", ran=7, failed=1), 20)
    assert code is Exit.FAILED and line.endswith("1 failed of 7 (14 %, 95 %: 3-51 %) (stopped at its first failure): "
                                                 "not fixed")
    code, line = verdict(Rounds(BASE, "", ran=20), Rounds(FIX, ""), 20)
    assert code is Exit.BAD_INPUT and line.startswith(f"the failure does not reproduce on {BASE[:12]}: 0 failed of 20")


def test_a_commit_that_does_not_build_or_rounds_that_cannot_tell_give_no_answer() -> None:
    code, line = verdict(Rounds(BASE, "", ran=2, failed=2), Rounds(FIX, "", why="does not build: net/mptcp/pm.c"), 20)
    assert code is Exit.INFRA and line == f"no answer: {FIX[:12]} does not build: net/mptcp/pm.c"
    code, line = verdict(Rounds(BASE, "", ran=2, failed=2), Rounds(FIX, "", ran=4, untestable=4), 20)
    assert code is Exit.INFRA and "no round told (4 could not tell)" in line
