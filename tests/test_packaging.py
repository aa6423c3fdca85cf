"""pyproject.toml is the one source: requirements files, the changelog, the minimum Python and the
Space's Python all agree with it."""

from __future__ import annotations

import re
import runpy
import sys
import tomllib
from pathlib import Path

import pytest

import hitl

ROOT = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def requirements(name: str) -> list[str]:
    lines = (ROOT / name).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith(("#", "-r"))]


def test_requirements_files_list_exactly_the_projects_dependencies():
    assert requirements("requirements.txt") == PROJECT["dependencies"], "requirements.txt differs from pyproject.toml"
    assert requirements("requirements-dev.txt") == PROJECT["optional-dependencies"]["dev"]
    assert "-r requirements.txt" in (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")


def test_the_changelogs_newest_entry_is_the_projects_version():
    changelog = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    versions = re.findall(r"^## \[(\d+\.\d+\.\d+)\]", changelog, re.M)
    assert versions and versions[0] == PROJECT["version"]


def test_one_minimum_python_for_pip_the_app_and_the_space():
    minimum = tuple(int(part) for part in re.fullmatch(r">=(\d+)\.(\d+)", PROJECT["requires-python"]).groups())
    assert minimum == hitl.MIN_PYTHON
    front = re.search(r'^python_version: "(\d+)\.(\d+)"$', (ROOT / "README.md").read_text(encoding="utf-8"), re.M)
    assert tuple(int(part) for part in front.groups()) >= minimum


def test_an_older_python_is_refused_with_a_clear_message(monkeypatch):
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    monkeypatch.setattr(sys, "version", "3.10.13 (main)")
    with pytest.raises(SystemExit, match=r"needs Python 3\.11 or newer; this is Python 3\.10\.13"):
        runpy.run_path(str(ROOT / "hitl" / "__init__.py"))
