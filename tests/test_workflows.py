"""GitHub Actions run the same thing as CI, and CI runs the README's test command."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "scripts/install-test-tools.sh"


def readme_test_command() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Test it\n\n```bash\n(.*?)```", readme, re.S).group(1)
    return [line for line in block.splitlines() if "pytest" in line and "pip" not in line][0].strip()


def test_ci_runs_exactly_the_readme_install_line_and_test_command():
    command = readme_test_command()
    lines = [line.strip() for line in (ROOT / ".ci/run").read_text(encoding="utf-8").splitlines()]
    assert lines[-1] == command
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    install = re.search(r"## Test it\n\n```bash\n(.*?)\n", readme).group(1).split("#")[0].strip()
    assert install == "bash scripts/install-test-tools.sh" and install in lines


def test_the_test_workflow_is_valid_and_runs_ci_on_push_and_pull_request():
    workflow = yaml.safe_load((ROOT / ".github/workflows/tests.yml").read_text(encoding="utf-8"))
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert "push" in triggers and "pull_request" in triggers
    steps = workflow["jobs"]["test"]["steps"]
    assert any(step.get("run") == "bash .ci/run" for step in steps)


def test_ci_covers_every_supported_python_and_other_systems():
    jobs = yaml.safe_load((ROOT / ".github/workflows/tests.yml").read_text(encoding="utf-8"))["jobs"]
    classifiers = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["classifiers"]
    supported = [c.rsplit(" :: ", 1)[1] for c in classifiers
                 if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)]
    assert jobs["test"]["strategy"]["matrix"]["python"] == supported
    other = jobs["other-os"]
    assert set(other["strategy"]["matrix"]["os"]) == {"macos-latest", "windows-latest"}
    assert set(other["strategy"]["matrix"]["python"]) <= set(supported)
    runs = [step["run"] for step in other["steps"] if "run" in step]
    # Only redis-server is missing there (its tests deselected); the live tests stay off as in addopts.
    assert runs[-1] == 'python -m pytest -m "not live and not redis"'
    axe = re.search(r"axe-core@[\d.]+", INSTALL.read_text(encoding="utf-8")).group()
    assert any(axe in run for run in runs), "axe-core is pinned differently than in scripts/install-test-tools.sh"


def test_the_space_sync_workflow_pushes_main_with_a_secret_token():
    workflow = yaml.safe_load((ROOT / ".github/workflows/sync-space.yml").read_text(encoding="utf-8"))
    assert workflow[True]["push"]["branches"] == ["main"]
    script = workflow["jobs"]["sync"]["steps"][-1]
    assert "secrets.HF_TOKEN" in script["env"]["HF_TOKEN"]
    assert "huggingface.co/spaces/" in script["run"]
    # One commit without binary files (tests/test_space.py), never the history, which holds the screenshots.
    assert "scripts/space_tree.py" in script["run"] and "HEAD:main" not in script["run"]
