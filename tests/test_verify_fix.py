"""verify-fix's verdict from the rounds it ran: the closing line and the exit code (the runs themselves:
tests/test_verify_fix_e2e.py, on a real tree)."""
from harness.bisect.fix import Rounds, verdict
from harness.errors import Exit

BASE, FIX = "a" * 40, "b" * 40


def test_reproduced_then_clean_is_fixed_with_both_rates():
    code, line = verdict(Rounds(BASE, "", ran=3, failed=3), Rounds(FIX, "", ran=20), 20)
    assert code is Exit.PASSED
    assert line == f"reproduced on {BASE[:12]}: 3 of 3 failed; with the fix {FIX[:12]}: 0 failed of 20: fixed"


def test_a_failure_of_the_fix_is_not_fixed_and_a_base_that_passes_is_nothing_to_verify():
    code, line = verdict(Rounds(BASE, "", ran=3, failed=1), Rounds(FIX, "", ran=7, failed=1), 20)
    assert code is Exit.FAILED and line.endswith("1 failed of 7 (stopped at its first failure): not fixed")
    code, line = verdict(Rounds(BASE, "", ran=3), Rounds(FIX, ""), 20)
    assert code is Exit.BAD_INPUT and line.startswith(f"the failure does not reproduce on {BASE[:12]}: 0 of 3 failed")


def test_a_commit_that_does_not_build_or_rounds_that_cannot_tell_give_no_answer():
    code, line = verdict(Rounds(BASE, "", ran=2, failed=2), Rounds(FIX, "", why="does not build: net/mptcp/pm.c"), 20)
    assert code is Exit.INFRA and line == f"no answer: {FIX[:12]} does not build: net/mptcp/pm.c"
    code, line = verdict(Rounds(BASE, "", ran=2, failed=2), Rounds(FIX, "", ran=4, untestable=4), 20)
    assert code is Exit.INFRA and "0 failed of 4 (4 could not tell)" in line
