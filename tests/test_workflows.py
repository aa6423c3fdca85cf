"""GitHub Actions run the same thing as CI, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Test it\n\n```bash\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if "pytest" in line and "pip" not in line][0].strip()


def test_ci_runs_exactly_the_readme_test_command():
    command = readme_test_command()
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()]
    assert lines[-1] == command


def test_the_test_workflow_is_valid_and_runs_ci_on_push_and_pull_request():
    workflow = yaml.safe_load((ROOT / ".github/workflows/tests.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers and "pull_request" in triggers
    steps = workflow["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)


def test_the_space_sync_workflow_pushes_main_with_a_secret_token():
    workflow = yaml.safe_load((ROOT / ".github/workflows/sync-space.yml").read_text(encoding="utf-8"))
    assert workflow[True]["push"]["branches"] == ["main"]
    script = workflow["jobs"]["sync"]["steps"][-1]
    assert "secrets.HF_TOKEN" in script["env"]["HF_TOKEN"]
    assert "huggingface.co/spaces/" in script["run"]
