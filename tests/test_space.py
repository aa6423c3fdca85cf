"""The repository is a valid Hugging Face Space: README front matter matches requirements."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def front_matter() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with --- front matter ---"
    pairs = (line.split(":", 1) for line in match.group(1).splitlines() if ":" in line)
    return {key.strip(): value.strip().strip("'\"") for key, value in pairs}


def pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.split("==")[0].strip().lower() == package:
            return line.split("==")[1].strip()
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def test_front_matter_declares_a_gradio_space():
    meta = front_matter()
    for key in ("title", "emoji", "colorFrom", "colorTo", "sdk", "sdk_version", "app_file",
                "python_version", "short_description", "license"):
        assert meta.get(key), f"front matter lacks {key}"
    assert meta["sdk"] == "gradio"
    assert (ROOT / meta["app_file"]).is_file()
    assert len(meta["short_description"]) <= 60  # the Hub rejects longer ones


def test_sdk_version_is_the_gradio_requirements_install():
    assert front_matter()["sdk_version"] == pinned("gradio") == version("gradio")


def test_runtime_requirements_are_pinned_and_installed():
    for package in ("gradio", "openai", "pocketflow", "pillow", "backoff", "redis"):
        assert version(package) == pinned(package), package
