"""GitHub Actions run the same thing as CI, and CI runs the README's test command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
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
    # The README's install line there too (no apt-get: Playwright's chromium, axe-core through npm).
    assert runs[0] == f"bash {INSTALL.relative_to(ROOT).as_posix()}"
    # Only redis-server is missing there (its tests deselected); the live tests stay off as in addopts.
    assert runs[-1] == 'python -m pytest -m "not live and not redis"'


@pytest.mark.skipif(sys.platform == "win32" or not shutil.which("bash"), reason="runs the script under bash with stubs")
def test_the_install_script_installs_what_it_can_where_there_is_no_apt_get(tmp_path):
    """macOS and Windows (Git Bash): no apt-get, so no system packages, but the Python packages, Playwright's
    own chromium (when there is no system one) and axe-core still, and a word on what is missing, not a failure.
    Run with a PATH of stubs that record their arguments instead of installing anything."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("python", "npm", "node"):
        stub = bin_dir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{calls.as_posix()}"\n', encoding="utf-8")
        stub.chmod(0o755)
    (bin_dir / "dirname").symlink_to(shutil.which("dirname"))
    env = {"PATH": str(bin_dir), "HOME": str(tmp_path)}
    done = subprocess.run([shutil.which("bash"), str(INSTALL)], env=env, capture_output=True, encoding="utf-8",
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "No apt-get here: not installed: redis-server" in done.stderr  # and no apt-get run
    ran = calls.read_text(encoding="utf-8").splitlines()
    assert "python -m pip install -q --disable-pip-version-check -r requirements-dev.txt" in ran
    assert ("python -m playwright install chromium" in ran) == (not os.path.exists("/usr/bin/chromium"))
    assert any(line.startswith("npm install") and "axe-core@" in line for line in ran)


def test_the_space_sync_workflow_pushes_main_with_a_secret_token():
    workflow = yaml.safe_load((ROOT / ".github/workflows/sync-space.yml").read_text(encoding="utf-8"))
    assert workflow[True]["push"]["branches"] == ["main"]
    script = workflow["jobs"]["sync"]["steps"][-1]
    assert "secrets.HF_TOKEN" in script["env"]["HF_TOKEN"]
    assert "huggingface.co/spaces/" in script["run"]
    # One commit without binary files (tests/test_space.py), never the history, which holds the screenshots.
    assert "scripts/space_tree.py" in script["run"] and "HEAD:main" not in script["run"]
