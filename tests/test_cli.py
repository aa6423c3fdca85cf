"""`python app.py` as a person runs it: --help, local serving, --share with no tunnel."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from helpers import free_port

APP = Path(__file__).resolve().parent.parent / "app.py"
# Any outside request the app makes goes to a closed loopback port: the share tunnel fails
# at once, as it does on a machine without internet, and nothing leaves this machine.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1,localhost"}


def start(*args: str, **env: str) -> subprocess.Popen:
    environment = {**os.environ, **OFFLINE, **env}
    environment.pop("OPENAI_API_KEY", None)
    return subprocess.Popen([sys.executable, str(APP), *args], env=environment, encoding="utf-8",
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def wait_for_lines(proc: subprocess.Popen, needle: str, limit: float = 60) -> list[str]:
    lines, deadline = [], time.monotonic() + limit
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip())
        if needle in line:
            return lines
    raise AssertionError(f"{needle!r} not printed; got {lines}")


def serves(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:
        return response.status == 200 and b"HITL Image Studio" in response.read()


def test_help_lists_the_options():
    out = subprocess.run([sys.executable, str(APP), "--help"], capture_output=True, encoding="utf-8", check=True).stdout
    for option in ("--share", "--host", "--port", "--demo"):
        assert option in out


def test_share_without_a_tunnel_keeps_serving_and_says_so_once():
    port = free_port()
    proc = start("--share", "--port", str(port))
    try:
        lines = wait_for_lines(proc, "No share link")
        assert serves(port)
        assert any("demo mode" in line for line in lines)
        assert not any("set `share=True`" in line or "status.gradio.app" in line for line in lines)
    finally:
        proc.terminate()
        proc.wait(10)


def test_share_is_ignored_on_a_space():
    port = free_port()
    proc = start("--share", "--port", str(port), SYSTEM="spaces")
    try:
        lines = wait_for_lines(proc, "running at")
        assert any("--share ignored" in line for line in lines)
        assert serves(port)
    finally:
        proc.terminate()
        proc.wait(10)


def test_what_startup_built_is_frozen_out_of_the_garbage_collectors_way(monkeypatch):
    """app.py freezes what is alive once the app is up (Gradio, the page, the server), so the cyclic
    collector's full passes no longer walk it again and again under load (hitl.serving.memory.freeze_startup)."""
    import gc
    import logging

    import gradio as gr

    import app

    launched = []
    monkeypatch.setattr(gr.Blocks, "block_thread", lambda demo: launched.append(demo))  # return, don't serve
    monkeypatch.setattr(app, "return_freed_images_to_the_os", lambda: None)  # not this test's allocator
    monkeypatch.setattr(logging, "basicConfig", lambda **kwargs: None)  # nor its logging
    gc.unfreeze()
    try:
        app.main(["--demo", "--port", str(free_port())])
        assert len(launched) == 1
        assert gc.get_freeze_count() > 10_000  # Gradio's and the page's objects, built before
    finally:
        gc.unfreeze()
        for demo in launched:
            demo.close()
