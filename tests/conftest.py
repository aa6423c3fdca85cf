"""Shared fixtures: a fake OpenAI server on loopback and launched copies of the real app."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest
from fake_openai import FakeOpenAI
from helpers import TEST_SETTINGS, start_app

LIVE_KEY = pytest.StashKey[str | None]()


def pytest_configure(config):
    """Before any test module imports Gradio (it reads these at import): its cache goes to a folder
    the tests inspect, analytics stay off, and the environment's key is set aside, so tests choose
    their key explicitly and only `-m live` uses it."""
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="hitl-gradio-")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    config.stash[LIVE_KEY] = os.environ.pop("OPENAI_API_KEY", None)


def pytest_collection_modifyitems(items):
    """Mark `redis` every test that uses the redis-server fixtures (tests that start one otherwise are
    marked in their file), so a machine without one (macOS and Windows in CI) deselects them with
    `-m "not redis"` rather than failing them."""
    for item in items:
        if "redis_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.redis)


@pytest.fixture(scope="session")
def gradio_temp() -> Path:
    """Where Gradio would cache files: no image may ever land here."""
    return Path(os.environ["GRADIO_TEMP_DIR"])


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
    quiet(fake_server)
    fake_server.reset()
    fake_server.latency = 0.0
    yield fake_server
    invalid, violations = list(fake_server.invalid_requests), list(fake_server.violations)
    fake_server.reset()
    assert not invalid, f"the app sent requests OpenAI would reject: {invalid}"
    assert not violations, f"the fake answered outside the SDK's models: {violations}"


def quiet(fake: FakeOpenAI, still: float = 0.3, limit: float = 15.0) -> None:
    """Wait until the fake has answered nothing for `still` seconds (at most `limit`): jobs outlive the tabs
    that asked for them, so a test's job may still call the shared fake when the next test begins, and
    would take that test's faults and latencies or count among its calls."""
    deadline, calm_since = time.monotonic() + limit, time.monotonic()
    while time.monotonic() < deadline:
        if fake.handling:
            calm_since = time.monotonic()
        elif time.monotonic() - calm_since >= still:
            return
        time.sleep(0.05)


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
def slow_app_url(fake_server, launch) -> str:
    """The app against the fake with attempt timeouts long enough for images of several seconds."""
    return launch(**{**TEST_SETTINGS, "request_timeout": 20.0, "total_timeout": 40.0}, base_url=fake_server.url)


@pytest.fixture(scope="module")
def browser():
    """One chromium for a test module (see `chromium.launched` for why not the session)."""
    from chromium import launched

    with launched() as browser:
        yield browser


@pytest.fixture(scope="session")
def demo_url(launch) -> str:
    """The app with no key: offline demo mode."""
    return launch(**{**TEST_SETTINGS, "api_key": None})


@pytest.fixture
def client(app_url):
    """A new user session (each gradio_client.Client has its own gr.State)."""
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def live_url(launch, pytestconfig) -> str:
    """The app against the real OpenAI API, on the key from the environment (`-m live` only)."""
    key = pytestconfig.stash[LIVE_KEY]
    if not key:
        pytest.skip("set OPENAI_API_KEY to run the live test against the real OpenAI API")
    return launch(api_key=key, request_timeout=180, total_timeout=300, partial_images=1)
