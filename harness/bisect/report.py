"""A bisection's report: the culprit (or the first bad kernel), its steps and verification; bisect.json and bisect.md."""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from harness.bisect.judge import Step, Verification, culprit_sure, sure_text
from harness.bisect.sizing import percent_sure
from harness.bisect.worktree import Worktree
from harness.cache import write_atomic


@dataclass(frozen=True)
class Report:
    commit: str  # the first bad commit, or the first bad kernel of a list
    subject: str
    author: str
    problems: tuple[str, ...]  # from verify(): none means verified
    steps: tuple[Step, ...]
    elapsed_s: float
    evidence: tuple[str, ...] = ()  # the failing subtest's output and the kernel's messages at the culprit
    verification: tuple[Step, ...] = ()  # the culprit's runs again and its parent's (their times are in elapsed_s)
    sizing: str = ""  # the bad end's rate and the runs it asked of a good step (sizing.Sizing.told)

    @classmethod
    def of(cls, culprit: str, tree: Worktree, steps: list[Step], checked: Verification, elapsed_s: float,
           sizing: str = "") -> Report:
        subject, author = tree.git("show", "-s", "--format=%s%x00%an <%ae>", culprit).strip().split("\0")
        return cls(culprit, subject, author, checked.problems, tuple(steps), round(elapsed_s, 1), checked.evidence,
                   checked.steps, sizing)

    @property
    def sure(self) -> float | None:
        """How sure the culprit is: every step judged good (the verification's parent too) was good."""
        return culprit_sure((*self.steps, *self.verification))

    def lines(self) -> list[str]:
        """The terminal's and the Markdown's summary."""
        verified = "verified: it fails again, its parent passes again" if not self.problems else \
            "NOT verified: " + "; ".join(self.problems)
        return [f"first bad: {self.commit[:12]} {self.subject}".rstrip(), *([f"author: {self.author}"] * bool(self.author)),
                f"{verified}; {sure_text(self.sure)}", *([self.sizing] * bool(self.sizing)),
                f"{len(self.steps)} step(s) in {self.elapsed_s:.0f} s{self._verifying()}"]

    def _verifying(self) -> str:
        """Of the whole time, what the verification took: ", the verification 160 s of it"."""
        spent = sum(s.build_s + s.run_s for s in self.verification)
        return f", the verification {spent:.0f} s of it" if self.verification else ""

    def write(self, out: Path) -> None:
        """bisect.json and bisect.md in `out`."""
        self.write_as(out, "bisect")

    def write_as(self, out: Path, stem: str) -> None:
        """<stem>.json and <stem>.md in `out`."""
        out.mkdir(parents=True, exist_ok=True)
        doc = dataclasses.asdict(self) | {"steps": [s.plain() for s in self.steps], "verified": not self.problems,
                                          "verification": [s.plain() for s in self.verification], "sure": self.sure}
        write_atomic(out / f"{stem}.json", json.dumps(doc, indent=1) + "\n")
        table = ["| step | verdict | why | runs | sure | build s | run s |", "| --- | --- | --- | --- | --- | --- | --- |"]
        table += [f"| {s.commit[:12]}{label} | {s.kind.value} | {s.why} | {s.runs} | {percent_sure(s.sure)} | "
                  f"{s.build_s:.0f} | {s.run_s:.0f} |"
                  for label, steps in (("", self.steps), (" (verifying)", self.verification)) for s in steps]
        shown = ["", "## At the first bad one", "", "```", *self.evidence, "```"] if self.evidence else []
        write_atomic(out / f"{stem}.md", "\n".join(["# Bisection", "", *(f"- {ln}" for ln in self.lines()), "", *table,
                                                  *shown]) + "\n")
