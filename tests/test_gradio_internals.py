"""Every Gradio internal the app relies on (`hitl/web/gradio_internals.py`), checked against the
installed Gradio: when an upgrade moves one, this file says which, before users find out."""

from __future__ import annotations

import inspect
import time

import httpx
import pytest
from gradio import networking
from gradio_client import Client
from helpers import IMAGE, MESSAGE

from hitl.core.stages import Session, Stage
from hitl.web import gradio_internals


def wait_for(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.fixture
def demo(own_app):
    return own_app(closed_session_grace=3600)  # the app's own release stays out of the way


def test_a_sessions_state_is_read_without_creating_one(demo, fake):
    client = Client(demo.local_url, verbose=False)
    assert client.predict("internals", api_name="/generate")[MESSAGE] == ""
    (session,) = [v for v in gradio_internals.session_values(demo, client.session_hash) if isinstance(v, Session)]
    assert session.stage is Stage.USER_FEEDBACK and len(session.candidates) == 1
    before = len(gradio_internals.sessions(demo))
    assert list(gradio_internals.session_values(demo, "no-such-session")) == []
    assert len(gradio_internals.sessions(demo)) == before
    entries = gradio_internals.sessions(demo)
    assert all(hasattr(entry, "is_closed") and hasattr(entry, "state_data") for entry in entries)
    # The image route reaches the same store through the FastAPI app.
    assert [*gradio_internals.session_values(demo.server_app, client.session_hash)]


def test_a_closed_session_is_seen_closed_and_can_be_released(demo, fake, monkeypatch):
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")  # a closed stream is noticed at the next beat
    client = Client(demo.local_url, verbose=False)
    client.predict("closing", api_name="/generate")
    key = client.session_hash
    assert not gradio_internals.is_closed(demo, key)
    client.close()  # the heartbeat stream ends, as when a tab closes
    assert wait_for(lambda: gradio_internals.is_closed(demo, key)), "Gradio no longer marks closed sessions"
    gradio_internals.release(demo, key)
    assert list(gradio_internals.session_values(demo, key)) == []
    assert not gradio_internals.is_closed(demo, key)


def test_every_event_is_seen_with_its_request_and_session_hash(demo, fake):
    seen = []
    gradio_internals.on_every_event(demo, lambda request, session_hash: seen.append(
        (request.headers.get("x-probe"), session_hash)))
    client = Client(demo.local_url, verbose=False, headers={"x-probe": "probe"})
    client.predict(api_name="/history")
    assert ("probe", client.session_hash) in seen


def test_the_share_tunnel_is_opened_with_the_arguments_gradio_expects():
    params = list(inspect.signature(networking.setup_tunnel).parameters)
    assert params[:3] == ["local_host", "local_port", "share_token"] and len(params) == 5, params


def test_a_raw_rest_call_may_leave_out_trailing_parameters_and_nothing_is_printed(demo, fake, capfd):
    """The simple REST API with the first parameters only (no count, no image): they take their defaults;
    Gradio would refuse the call and print the values it got, an own key included, to the log."""
    key = "sk-proj-LeftOutTrailingParams0123456789abcdefTAIL"
    fake.fail_next("auth")
    posted = httpx.post(f"{demo.local_url}gradio_api/call/generate", timeout=10,
                        json={"data": ["raw call", "auto", "auto", "auto", "png", key]})
    answer = httpx.get(f"{demo.local_url}gradio_api/call/generate/{posted.json()['event_id']}", timeout=30).text
    assert "event: complete" in answer and "API key" in answer  # it ran: the fake refused the key
    assert fake.attempts == 1 and "tools" in fake.requests[0].body
    assert key not in capfd.readouterr().err


def test_sessions_keep_no_copy_of_the_page_config_and_deep_links_write_nothing(demo, fake, gradio_temp):
    """Gradio copies every block's config, with the last value each output sent, for each session, for
    deep links only; the app's sessions keep none (an API caller's image was held there as a data: URL),
    and the deep-link route, which writes those values to a file, answers 404."""
    client = Client(demo.local_url, verbose=False)
    assert client.predict("lean", api_name="/generate")[IMAGE]["url"].startswith("data:image/")
    entry = demo.state_holder.session_data[client.session_hash]
    assert isinstance(entry, gradio_internals.LeanSessionState)
    assert entry.config_values == {} and list(entry.components) == []
    assert any(isinstance(value, Session) for value in entry.state_data.values())  # gr.State kept, with its TTL
    assert entry._state_ttl
    answer = httpx.get(f"{demo.local_url}gradio_api/deep_link", params={"session_hash": client.session_hash})
    assert answer.status_code == 404 and not list(gradio_temp.rglob("deep_links"))


def test_the_loading_sign_goes_before_the_element_gradio_draws_the_app_into(app_url):
    page = httpx.get(app_url, timeout=10).text
    assert page.count("<gradio-app") == 1 and page.count('id="hitl-loading"') == 1
    assert page.index('id="hitl-loading"') < page.index("<gradio-app")
    assert gradio_internals.with_loading_sign(b"<p>no app here</p>", b"sign") == b"<p>no app here</p>"
