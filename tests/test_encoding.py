"""The app starts on a machine whose locale codec is not UTF-8 (Windows: cp1252): every text file the
project reads or writes names its encoding. Python's `-X warn_default_encoding` raises an
`EncodingWarning` wherever one does not; this test makes that an error for the project's own code.

Run as a script, this file is the guard: it launches `app.py` and exits with status 3 at the first
`EncodingWarning` whose nearest caller outside the standard library is a project file (Gradio's and
other libraries' own are theirs to fix)."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import sysconfig
import urllib.request
import warnings
from pathlib import Path

from helpers import free_port
from test_cli import OFFLINE, wait_for_lines

ROOT = Path(__file__).resolve().parent.parent
STDLIB = {Path(sysconfig.get_path(name)).resolve() for name in ("stdlib", "platstdlib")}
PACKAGES = {Path(sysconfig.get_path(name)).resolve() for name in ("purelib", "platlib")}  # often inside STDLIB
GUARD_FAILED = 3


def culprit(frame) -> Path | None:
    """The first file outside the standard library that the warning came through (`frame` innermost)."""
    while frame is not None:
        name = frame.f_code.co_filename
        path = Path(name).resolve()
        frozen = name.startswith("<")  # the import system's own modules, "<frozen importlib._bootstrap>"
        if not frozen and path != Path(__file__).resolve() and not in_stdlib(path):
            return path
        frame = frame.f_back
    return None


def in_stdlib(path: Path) -> bool:
    return any(path.is_relative_to(lib) for lib in STDLIB) and not any(path.is_relative_to(p) for p in PACKAGES)


def ours(path: Path | None) -> bool:
    return path is not None and path.is_relative_to(ROOT) and "site-packages" not in path.parts


def guard(message, category, filename, lineno, file=None, line=None) -> None:
    path = culprit(sys._getframe(1))
    if issubclass(category, EncodingWarning) and ours(path):
        print(f"EncodingWarning from the project's {path.relative_to(ROOT)}: {message}", flush=True)
        os._exit(GUARD_FAILED)


def test_the_app_starts_and_serves_its_page_with_encoding_warnings_as_errors():
    port = free_port()
    env = {**os.environ, **OFFLINE, "PYTHONIOENCODING": "utf-8"}
    env.pop("OPENAI_API_KEY", None)
    proc = subprocess.Popen([sys.executable, "-X", "warn_default_encoding", __file__, "--demo", "--port", str(port)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8")
    try:
        lines = wait_for_lines(proc, "running at")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30) as response:
            assert response.status == 200  # the page, its CSS and script inlined
        assert proc.poll() is None, lines
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode != GUARD_FAILED and "EncodingWarning from the project" not in out, out


if __name__ == "__main__":
    warnings.simplefilter("always", EncodingWarning)
    warnings.showwarning = guard
    sys.path.insert(0, str(ROOT))
    sys.argv = [str(ROOT / "app.py"), *sys.argv[1:]]
    runpy.run_path(str(ROOT / "app.py"), run_name="__main__")
