"""The repository is a valid Hugging Face Space: README front matter matches requirements."""

from __future__ import annotations

import re
import subprocess
import sys
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


# -- what the Space gets (scripts/space_tree.py, run by .github/workflows/sync-space.yml) --------------
def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, encoding="utf-8", check=True).stdout


def test_the_space_commit_is_heads_files_without_any_binary_one(tmp_path):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True, capture_output=True)
    refs, status = git(clone, "show-ref"), git(clone, "status", "--porcelain")

    def space_commit() -> str:
        return subprocess.run([sys.executable, str(ROOT / "scripts/space_tree.py")], cwd=clone, capture_output=True,
                              encoding="utf-8", check=True).stdout.strip()

    commit = space_commit()
    assert space_commit() == commit  # the same HEAD, the same commit: a re-run pushes nothing new
    assert git(clone, "rev-list", "--parents", "-n", "1", commit).split() == [commit]  # no history comes along
    assert (git(clone, "show-ref"), git(clone, "status", "--porcelain")) == (refs, status)  # only objects written

    def files(rev: str) -> dict[str, bytes]:
        names = git(clone, "ls-tree", "-r", "-z", "--name-only", rev).split("\0")
        return {name: subprocess.run(["git", "cat-file", "blob", f"{rev}:{name}"], cwd=clone, capture_output=True,
                                     check=True).stdout for name in names if name}

    space, head = files(commit), files("HEAD")
    binary = {name for name, data in head.items() if b"\0" in data[:8000]}  # as git judges
    assert space == {name: data for name, data in head.items() if name not in binary}
    assert not [name for name in binary if name.startswith("hitl/")], "the Space would lack a file the app needs"
    for needed in ("app.py", "requirements.txt", "README.md", "hitl/__init__.py", "hitl/web/ui.py"):
        assert needed in space, needed
    assert re.match(rb"---\n(.*\n)?sdk: gradio\n", space["README.md"], re.S)  # the Space's front matter
