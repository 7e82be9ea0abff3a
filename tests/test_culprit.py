"""The nightly's culprit (harness.nightly.culprit), without kernel builds: when a night bisects and when it says why
not, a culprit named again while its failures still fail, a shallow clone deepened until the night before's commit
is reachable (or not: a force-pushed branch), and the range a spent budget leaves. Real git, real repositories.
The whole of it on a real tree, three nights: tests/test_culprit_slow.py."""
import subprocess
from pathlib import Path

from harness.bisect.worktree import Worktree
from harness.night_summary import Changes, Finding, ModeNight, NightSummary
from harness.nightly import culprit
from harness.nightly.night import Night, culprits
from harness.results import Status
from harness.settings import Settings


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout.strip()


def history(repo: Path, n: int, subject: str = "c") -> list[str]:
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "dev@example.org")
    git(repo, "config", "user.name", "A Developer")
    for i in range(n):
        (repo / "f.c").write_text(f"int f = {i};\n")
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", f"{subject}{i}")
    return git(repo, "log", "--format=%H", "--reverse").split()


def told(commit: str, new: list[str], still: tuple[str, ...] = (), tests: dict[str, Status] | None = None) -> NightSummary:
    return NightSummary("n2", "2", commit=commit, tests=tests or {t: Status.FAILED for t in [*new, *still]},
                        changes=Changes(new_failures=tuple(new), still_failing=tuple(still)))


def before(commit: str, **culprits: tuple[Finding, ...]) -> NightSummary:
    return NightSummary("n1", "1", commit=commit, culprits=culprits)


def test_a_night_says_why_it_does_not_bisect(tmp_path: Path) -> None:
    night = Night(tmp_path, Settings(cache_dir=tmp_path / "cache"), (), ("normal",))
    modes = [ModeNight("normal")]
    said: list[str] = []
    not_git = culprits(night, night.settings, tmp_path, modes, told("", ["normal:mptcp/rr"]), before("a" * 40),
                       said.append)
    assert not_git == {}  # a prebuilt kernel's night: nothing to bisect, nothing said
    first = culprits(night, night.settings, tmp_path, modes, told("b" * 40, ["normal:mptcp/rr"]), None, said.append)
    assert first["normal"][0].line == "no culprit: no night before with a commit"
    same = culprits(night, night.settings, tmp_path, modes, told("b" * 40, ["normal:mptcp/rr"]), before("b" * 40),
                    said.append)
    assert same["normal"][0].line.startswith("no culprit: the night before built the same commit")
    lost = culprits(night, night.settings, tmp_path, modes, told("b" * 40, ["normal:mptcp/rr"], tests={"normal:mptcp/rr":
                    Status.LOST}), before("a" * 40), said.append)
    assert lost == {}  # a lost result is the machinery's: nothing to bisect
    off = Night(tmp_path, night.settings, (), ("normal",), bisect="off")
    assert culprits(off, night.settings, tmp_path, modes, told("b" * 40, ["normal:mptcp/rr"]), before("a" * 40),
                    said.append)["normal"][0].line == "no culprit: --bisect off"


def test_a_culprit_is_named_again_while_its_failures_still_fail_and_not_bisected_again(tmp_path: Path) -> None:
    night = Night(tmp_path, Settings(cache_dir=tmp_path / "cache"), (), ("normal",))
    found = Finding("culprit: 0123456789ab mptcp: a regression (A Developer), verified", "0123456789ab" + "c" * 28,
                            "mptcp: a regression", "A Developer <dev@example.org>", True, ("mptcp/base",), "n2")
    earlier = before("a" * 40, normal=(found,))
    again = culprits(night, night.settings, tmp_path, [ModeNight("normal")], told("b" * 40, [], ("normal:mptcp/base",)),
                     earlier, print)
    assert again["normal"][0].line == "still failing since n2, culprit 0123456789ab mptcp: a regression"
    fixed = culprits(night, night.settings, tmp_path, [ModeNight("normal")], told("b" * 40, []), earlier, print)
    assert fixed == {}


def test_a_shallow_clone_is_deepened_until_the_night_before_is_reachable_and_a_force_push_is_not(tmp_path: Path) -> None:
    commits = history(tmp_path / "upstream", 80)
    clone = tmp_path / "clone"
    clone.mkdir()
    git(clone, "init", "-q")
    git(clone, "fetch", "-q", "--depth", "1", f"file://{tmp_path / 'upstream'}", "main")
    git(clone, "fetch", "-q", "--depth", "1", f"file://{tmp_path / 'upstream'}", commits[10])  # the night before's, alone
    said: list[str] = []
    assert culprit.reachable(clone, commits[10], commits[-1], f"file://{tmp_path / 'upstream'}", "main", said.append)
    assert said == [f"bisect: history deepened by 256 commits: the night before's {commits[10][:12]} is reachable"]
    # not in upstream's history at all: its own subjects, else made in the same second its commits would be upstream's
    rewritten = history(tmp_path / "other", 3, subject="rewritten ")
    git(clone, "fetch", "-q", f"file://{tmp_path / 'other'}", "main")
    assert not culprit.reachable(clone, rewritten[1], commits[-1], f"file://{tmp_path / 'upstream'}", "main", said.append)


def test_a_spent_budget_reports_the_range_git_bisect_narrowed(tmp_path: Path) -> None:
    commits = history(tmp_path / "linux", 9)
    with Worktree(tmp_path / "linux", tmp_path / "cache") as tree:
        tree.git("bisect", "start")
        tree.git("bisect", "bad", commits[8])
        tree.git("bisect", "good", commits[0])
        tree.git("bisect", "good", commits[4])
        tree.git("bisect", "bad", commits[6])
        assert culprit.bisect_range(tree) == f"{commits[4][:12]}..{commits[6][:12]}"


def test_the_harness_own_clone_is_bisected_in_place_and_put_back(tmp_path: Path) -> None:
    from harness.bisect.worktree import InPlace

    commits = history(tmp_path / "clone", 5)
    git(tmp_path / "clone", "checkout", "-q", "--detach", commits[-1])
    with InPlace(tmp_path / "clone") as tree:
        assert tree.path == (tmp_path / "clone").resolve()
        tree.git("bisect", "start")
        tree.git("bisect", "bad", commits[-1])
        tree.git("bisect", "good", commits[0])
        assert tree.rev("HEAD") not in (commits[0], commits[-1])
    assert git(tmp_path / "clone", "rev-parse", "HEAD") == commits[-1]
    assert not (tmp_path / "clone" / ".git" / "BISECT_START").exists()
