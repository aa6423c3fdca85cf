"""Shared fixtures: a fake OpenAI server on loopback and launched copies of the real app."""

from __future__ import annotations

import os
import socket
import sys
import tempfile
from pathlib import Path

# Before Gradio is imported: its cache goes to a folder the tests can inspect, no analytics.
GRADIO_TEMP = Path(tempfile.mkdtemp(prefix="hitl-gradio-"))
os.environ["GRADIO_TEMP_DIR"] = str(GRADIO_TEMP)
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
LIVE_KEY = os.environ.pop("OPENAI_API_KEY", None)  # tests choose their key explicitly; `-m live` uses this one
sys.path.insert(0, str(Path(__file__).parent))

import pytest  # noqa: E402
from gradio_client import Client  # noqa: E402

from fake_openai import FakeOpenAI  # noqa: E402
from hitl.config import load_settings  # noqa: E402
from hitl.ui import build_demo, launch_options  # noqa: E402

TEST_KEY = "sk-test-1234567890abcdefghijklmnopqrstuvwxyzSECRET"
# Fast, generous defaults for tests; individual tests override what they examine.
TEST_SETTINGS = dict(api_key=TEST_KEY, request_timeout=1.0, total_timeout=8.0, max_attempts=3,
                     partial_images=2, ip_limit=100_000, session_limit=100_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def fake_server():
    fake = FakeOpenAI()
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake(fake_server):
    """The shared fake, emptied of requests and faults, with no latency. A test fails if the app sent
    a body that breaks the SDK's request types, or the fake answered outside the SDK's models."""
    fake_server.reset()
    fake_server.latency = 0.0
    yield fake_server
    invalid, violations = list(fake_server.invalid_requests), list(fake_server.violations)
    fake_server.reset()
    assert not invalid, f"the app sent requests OpenAI would reject: {invalid}"
    assert not violations, f"the fake answered outside the SDK's models: {violations}"


def start_app(launch: dict | None = None, **overrides):
    """The real app, launched on a free loopback port as app.py launches it (plus `launch`);
    returns its Blocks."""
    settings = load_settings(**overrides)
    demo = build_demo(settings)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                quiet=True, **launch_options(settings), **(launch or {}))
    return demo


@pytest.fixture(scope="session")
def launch():
    """Factory: launch the real app with settings overrides; returns its local URL."""
    demos = []

    def _launch(**overrides) -> str:
        demos.append(start_app(**overrides))
        return demos[-1].local_url

    yield _launch
    for demo in demos:
        demo.close()


@pytest.fixture
def own_app(fake_server):
    """Factory: launch the app against the fake and hand back the Blocks, to look at its session store."""
    demos = []

    def _start(**overrides):
        demos.append(start_app(**{**TEST_SETTINGS, **overrides}, base_url=fake_server.url))
        return demos[-1]

    yield _start
    for demo in demos:
        demo.close()


@pytest.fixture(scope="session")
def app_url(fake_server, launch) -> str:
    """The app against the fake OpenAI, with partial previews on."""
    return launch(**TEST_SETTINGS, base_url=fake_server.url)


@pytest.fixture(scope="session")
def demo_url(launch) -> str:
    """The app with no key: offline demo mode."""
    return launch(**{**TEST_SETTINGS, "api_key": None})


@pytest.fixture
def client(app_url) -> Client:
    """A new user session (each gradio_client.Client has its own gr.State)."""
    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def live_url(launch) -> str:
    """The app against the real OpenAI API, on the key from the environment (`-m live` only)."""
    if not LIVE_KEY:
        pytest.skip("set OPENAI_API_KEY to run the live test against the real OpenAI API")
    return launch(api_key=LIVE_KEY, request_timeout=180, total_timeout=300, partial_images=1)
