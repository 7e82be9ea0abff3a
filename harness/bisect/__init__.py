"""Bisecting a regression: step.py judges one kernel (git bisect run's protocol), tree.py bisects a tree's commits
in a worktree of the harness's own and verifies the culprit."""
