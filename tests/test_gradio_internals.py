"""Every Gradio internal the app relies on (`hitl/web/gradio_internals.py`), checked against the
installed Gradio: when an upgrade moves one, this file says which, before users find out."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import sys
import time

import gradio as gr
import httpx
import pytest
from gradio import networking, utils
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


def test_gradio_still_imports_matplotlib_in_every_step_and_an_absent_one_fails_at_once(monkeypatch):
    """What skip_absent_matplotlib relies on: Gradio's per-step context imports matplotlib by name."""
    source = inspect.getsource(utils.MatplotlibBackendMananger)
    assert source.count("import matplotlib") == 2
    monkeypatch.delitem(sys.modules, "matplotlib", raising=False)
    gradio_internals.skip_absent_matplotlib()
    if importlib.util.find_spec("matplotlib") is None:  # not installed here: the marker is set
        assert sys.modules["matplotlib"] is None
        with pytest.raises(ImportError):
            import matplotlib  # noqa: F401
    with utils.MatplotlibBackendMananger():
        pass


def counted(init, calls: list):
    def init_counted(self, *args, **kwargs):
        calls.append(self)
        init(self, *args, **kwargs)
    return init_counted


def test_show_hide_updates_and_left_out_outputs_send_what_gradio_sends_without_building_components(monkeypatch):
    """light_updates answers the page's visibility updates and left-out outputs itself: the same payload
    as Gradio's own postprocess, the same visibility in the session's copy of each block, and no
    component built for them (Gradio builds one per update dict, a quarter of the app's CPU under load)."""
    with gr.Blocks() as blocks:
        column, button, text = gr.Column(), gr.Button("Go"), gr.Textbox()
        state, picker, left_out = gr.State(0), gr.Dropdown(["a"]), gr.Textbox("kept")
        outputs = [state, column, button, text, picker, left_out]
        button.click(lambda: None, None, outputs, postprocess=False)
    (block_fn,) = blocks.fns.values()

    def predictions():  # fresh each time: Gradio's postprocess changes update dicts in place
        return {state: 42, column: gr.update(visible=False), button: gr.update(visible=True, value="Stop"),
                text: "plain", picker: gr.update(choices=["a", "b"], value=None)}

    async def both():
        theirs_state, ours_state = gradio_internals.LeanSessionState(blocks), gradio_internals.LeanSessionState(blocks)
        theirs = await blocks.postprocess_data(block_fn, predictions(), theirs_state)
        gradio_internals.light_updates(blocks)
        built = []
        for kind in (gr.Column, gr.Button):
            monkeypatch.setattr(kind, "__init__", counted(kind.__init__, built))
        ours = await blocks.postprocess_data(block_fn, predictions(), ours_state)
        return theirs, theirs_state, ours, ours_state, built

    theirs, theirs_state, ours, ours_state, built = asyncio.run(both())
    assert ours == theirs
    assert ours[1] == {"__type__": "update", "visible": False} and ours[5] == {"__type__": "update"}
    assert ours[4]["choices"] == [["a", "a"], ["b", "b"]]  # other updates are Gradio's own
    for block in (column, button, picker):
        assert ours_state[block._id].visible == theirs_state[block._id].visible
        assert ours_state[block._id].constructor_args == theirs_state[block._id].constructor_args
    assert ours_state[state._id] == theirs_state[state._id] == 42
    assert built == [], "a show/hide update built a component"


def test_plain_inputs_are_preprocessed_as_gradio_does_without_a_worker_thread(monkeypatch):
    """inline_preprocess: the same values and the same refusals as Gradio's preprocess, in the event loop
    (Gradio hands every input to a worker thread for a check that takes microseconds)."""
    import anyio

    with gr.Blocks() as blocks:
        inputs = [gr.Textbox(), gr.Radio([1, 2, 3]), gr.Number(0, minimum=0, precision=0), gr.Dropdown(["a", "b"]),
                  gr.BrowserState([]), gr.State("kept")]
        button = gr.Button()
        button.click(lambda *values: None, inputs, None)
    (block_fn,) = blocks.fns.values()

    async def preprocessed(values):
        return await blocks.preprocess_data(block_fn, list(values), gradio_internals.LeanSessionState(blocks))

    async def refusal(values):
        with pytest.raises(gr.Error) as refused:
            await preprocessed(values)
        return refused.value.message

    good = ["text", 2, 3.0, "b", ["x"], None]
    bad_choice, too_small = ["t", 9, 0, "a", [], None], ["t", 1, -1, "a", [], None]

    async def both():
        theirs = [await preprocessed(good), await refusal(bad_choice), await refusal(too_small)]
        gradio_internals.inline_preprocess(blocks)
        hops = []
        run_sync = anyio.to_thread.run_sync

        async def hop(fn, *args, **kwargs):
            hops.append(fn)
            return await run_sync(fn, *args, **kwargs)

        monkeypatch.setattr(anyio.to_thread, "run_sync", hop)
        ours = [await preprocessed(good), await refusal(bad_choice), await refusal(too_small)]
        return theirs, ours, hops

    theirs, ours, hops = asyncio.run(both())
    assert ours == theirs
    assert ours[0] == ["text", 2, 3, "b", ["x"], "kept"]
    assert "9" in ours[1] and "-1" in ours[2]
    assert hops == [], "an input went to a worker thread"
