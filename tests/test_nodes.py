"""The PocketFlow nodes and flows, run directly with in-process backends."""

from __future__ import annotations

import asyncio
from datetime import date

import openai
from helpers import cancel_the_next, data_url, mask_png

from hitl.backends.demo import DemoBackend
from hitl.core.flows import FLOWS
from hitl.core.runner import Preview, Runtime, Started, run_action
from hitl.core.stages import Action, Candidate, Session, Stage, to_shared
from hitl.core.uploads import PictureError
from hitl.serving.config import load_settings
from hitl.serving.shared_counters import MemoryCounters

SETTINGS = load_settings(api_key=None, session_limit=100, ip_limit=100)
TODAY = date(2026, 11, 27)


class FailingBackend:
    """A backend whose upstream always fails with the given exception."""

    def __init__(self, exc: Exception):
        self.exc, self.calls = exc, 0

    async def generate(self, request, on_partial):
        self.calls += 1
        raise self.exc


def run(action: Action, session: Session, backend=None, settings=SETTINGS, **inputs) -> dict:
    shared = to_shared(session, settings=settings, counters=MemoryCounters(100, 3600), client_ip="a", now=0.0,
                       backend=backend or DemoBackend(SETTINGS), on_start=lambda: None,
                       on_partial=lambda *_, **__: None, wall_now=0.0, today=TODAY, **{"budget": 0, **inputs})
    asyncio.run(FLOWS[action]().run_async(shared))
    return shared


def test_generate_makes_a_candidate_and_moves_to_review():
    shared = run(Action.GENERATE, Session(), task_input="  a kite\x00 ", options={})
    assert shared["stage"] is Stage.USER_FEEDBACK
    assert shared["input_used_by_process"] == "a kite"  # cleaned before use
    assert len(shared["candidates"]) == 1 and not shared["candidates"][0].thumb  # the page needs none
    assert shared["error_message"] == ""


def test_thumbnails_are_made_when_asked_small_and_webp():
    shared = run(Action.GENERATE, Session(), task_input="a kite", options={}, thumbnails=True)
    (candidate,) = shared["candidates"]
    thumb = candidate.thumb
    assert thumb[:4] == b"RIFF" and thumb[8:12] == b"WEBP"
    assert len(thumb) < len(candidate.image) / 4


def test_blank_prompt_stops_before_the_backend():
    backend = FailingBackend(AssertionError("must not be called"))
    shared = run(Action.GENERATE, Session(), backend, task_input=" \n\t ", options={})
    assert backend.calls == 0
    assert "empty" in shared["error_message"]
    assert shared["stage"] is Stage.INITIAL_INPUT


def test_a_refusal_names_what_it_is_about_so_the_page_shows_it_beside_its_cause():
    blank = run(Action.GENERATE, Session(), task_input=" ", options={})["error_message"]
    picture = run(Action.GENERATE, Session(), task_input="a kite", options={},
                  upload_input=data_url(b"not a picture"))["error_message"]
    options = run(Action.GENERATE, Session(), task_input="a kite", options={"size": "huge"})["error_message"]
    assert (blank.about, picture.about, getattr(options, "about", "")) == ("prompt", "picture", "")
    assert "not a PNG, JPEG or WebP" in picture


def test_too_long_prompt_stops_before_the_backend():
    backend = FailingBackend(AssertionError("must not be called"))
    shared = run(Action.GENERATE, Session(), backend, task_input="x" * (SETTINGS.max_prompt_chars + 1), options={})
    assert backend.calls == 0 and "limit" in shared["error_message"]


def test_invalid_options_are_explained():
    shared = run(Action.GENERATE, Session(), task_input="a kite",
                 options={"background": "transparent", "output_format": "jpeg"})
    assert "transparent" in shared["error_message"] and not shared["candidates"]


def test_a_failure_keeps_the_candidates_and_says_what_happened():
    kept = Candidate(b"OLD", prompt="p")
    session = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="p", candidates=[kept], selected=0, made=1)
    response = openai._base_client.httpx2.Response(401, request=openai._base_client.httpx2.Request("POST", "http://x"))
    backend = FailingBackend(openai.AuthenticationError("bad key sk-abc", response=response, body=None))
    shared = run(Action.REGENERATE, session, backend, options={})
    assert backend.calls == 1
    assert shared["candidates"] == [kept] and shared["selected"] == 0
    assert "API key" in shared["error_message"] and "sk-abc" not in shared["error_message"]


def test_session_limit_refuses_with_the_wait():
    settings = load_settings(api_key=None, session_limit=1, ip_limit=100, limit_window=60)
    shared = to_shared(Session(generations=[0.0]), settings=settings, counters=MemoryCounters(100, 60),
                       client_ip="a", now=10.0, wall_now=10.0, backend=DemoBackend(settings),
                       on_partial=lambda *_, **__: None,
                       task_input="a kite", options={})
    asyncio.run(FLOWS[Action.GENERATE]().run_async(shared))
    assert shared["error_message"] == "Generation limit reached. Try again in 50 s."
    assert not shared["candidates"]


def test_a_session_budget_with_no_price_for_the_image_model_refuses_rather_than_never_counting():
    unpriced = load_settings(api_key=None, session_limit=100, ip_limit=100, image_model="someone-elses-model")
    backend = FailingBackend(AssertionError("must not be called"))
    shared = run(Action.GENERATE, Session(), backend, unpriced, task_input="a kite", options={}, budget=1.0)
    assert shared["error_message"].startswith("No price is known for this image model") and backend.calls == 0
    shared = run(Action.GENERATE, Session(), None, unpriced, task_input="a kite", options={}, budget=0)
    assert shared["error_message"] == "" and len(shared["candidates"]) == 1  # no budget: it goes


def test_select_and_approve_any_candidate():
    a, b = Candidate(b"A"), Candidate(b"B")
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[a, b], selected=1)
    selected = run(Action.SELECT, session, select_index=0)
    assert selected["selected"] == 0
    session.selected = 0
    approved = run(Action.APPROVE, session)
    assert approved["final_result"] is a and approved["stage"] is Stage.FINAL


def test_select_out_of_range_is_refused():
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[Candidate(b"A")], selected=0)
    shared = run(Action.SELECT, session, select_index=5)
    assert shared["selected"] == 0 and "no candidate" in shared["error_message"]


def test_start_over_clears_images():
    image = Candidate(b"A")
    session = Session(stage=Stage.FINAL, candidates=[image], selected=0, final_result=image)
    shared = run(Action.START_OVER, session)
    assert shared["stage"] is Stage.INITIAL_INPUT and shared["candidates"] == [] and shared["final_result"] is None


def test_refine_passes_the_current_candidate_and_feedback():
    seen = {}

    class Recording(DemoBackend):
        async def generate(self, request, on_partial):
            seen["request"] = request
            return await super().generate(request, on_partial)

    current = Candidate.from_b64("iVBORw0KGgo=", prompt="p")
    session = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="p", candidates=[current], selected=0, made=1)
    shared = run(Action.REFINE, session, Recording(SETTINGS), feedback="  make it blue ", options={})
    request = seen["request"]
    assert request.previous is current and request.feedback == "make it blue" and request.prompt == "p"
    assert len(shared["candidates"]) == 2


class Recording(DemoBackend):
    """The demo backend, keeping every request it was asked."""

    def __init__(self, settings):
        super().__init__(settings)
        self.requests = []

    async def generate(self, request, on_partial):
        self.requests.append(request)
        return await super().generate(request, on_partial)


def reviewing(*prompts: str) -> Session:
    """A session in review with one candidate per prompt, the last on screen."""
    candidates = [Candidate(mask_png((64, 64), None), prompt=p) for p in prompts]  # any real picture
    return Session(stage=Stage.USER_FEEDBACK, input_used_by_process=prompts[-1], candidates=candidates,
                   selected=len(candidates) - 1, made=len(candidates))


def test_remix_makes_the_candidate_on_screen_again_from_the_edited_prompt():
    session = reviewing("a harbour", "a harbour")
    session.selected = 0
    backend = Recording(SETTINGS)
    shared = run(Action.REMIX, session, backend, remix_input="  a harbour at dusk\x00 ", count=2, options={})
    assert [(r.prompt, r.previous, r.feedback) for r in backend.requests] == [
        ("a harbour at dusk", session.candidates[0], "")] * 2  # the picture is sent with the new prompt itself
    remixed = shared["candidates"][2:]
    assert [(c.made_by, c.parent, c.instruction, c.prompt) for c in remixed] == [
        ("remix", session.candidates[0].key, "a harbour at dusk", "a harbour at dusk")] * 2
    assert shared["input_used_by_process"] == "a harbour at dusk"  # Regenerate goes on from the remix
    assert shared["stage"] is Stage.USER_FEEDBACK and shared["error_message"] == ""


def test_a_remix_that_fails_or_is_refused_keeps_the_prompt_it_had():
    backend = FailingBackend(RuntimeError("upstream down"))
    failed = run(Action.REMIX, reviewing("a harbour"), backend, remix_input="at dusk", options={})
    assert backend.calls == 1 and failed["input_used_by_process"] == "a harbour"
    assert len(failed["candidates"]) == 1 and failed["error_message"]
    empty = run(Action.REMIX, reviewing("a harbour"), Recording(SETTINGS), remix_input=" \n ", options={})
    assert "empty" in empty["error_message"] and empty["input_used_by_process"] == "a harbour"


def test_remix_is_refused_outside_review_before_any_call():
    backend = FailingBackend(AssertionError("must not be called"))
    shared = run(Action.REMIX, Session(), backend, remix_input="at dusk", options={})
    assert backend.calls == 0 and "Generate Image" in shared["error_message"]


def collect(action: Action, session: Session, **inputs) -> list:
    async def items():
        return [item async for item in run_action(action, session, Runtime.create(SETTINGS), **inputs)]

    return asyncio.run(items())


def test_runner_says_started_then_streams_previews_then_the_new_session():
    items = collect(Action.GENERATE, Session(), task_input="a kite", options={})
    assert isinstance(items[0], Started)  # the image call has begun: Cancel can show
    assert isinstance(items[1], Preview) and not items[1].ready  # the demo backend's blurred preview
    assert items[2] == Preview(0, items[-1].candidates[0], ready=True)  # then the image, as it is done
    assert isinstance(items[-1], Session) and items[-1].stage is Stage.USER_FEEDBACK


def test_runner_says_nothing_started_when_a_guard_refuses():
    items = collect(Action.GENERATE, Session(), task_input="   ", options={})
    assert len(items) == 1 and "empty" in items[0].error_message  # nothing to cancel was ever shown


def test_runner_cancellation_leaves_the_session_as_it_was():
    class Slow(DemoBackend):
        async def generate(self, request, on_partial):
            await asyncio.sleep(30)

    runtime = Runtime.create(SETTINGS)
    runtime.service.backend_for = lambda key: Slow(SETTINGS)
    session = Session()

    async def cancel_midway():
        items = run_action(Action.GENERATE, session, runtime, task_input="a kite", options={})
        assert isinstance(await items.__anext__(), Started)
        await cancel_the_next(items, after=0.1)

    asyncio.run(cancel_midway())
    assert session == Session()


def test_an_address_past_its_limit_is_refused_before_its_picture_is_decoded(monkeypatch):
    """Cheap refusals first: a caller past their limit sending a big picture (or a mask) costs a few
    comparisons, never a decode in the shared thread pool."""
    import hitl.core.nodes as nodes

    decoded = []

    def decoding(what: str):
        def spy(*args):
            decoded.append(what)
            raise PictureError(f"the {what} was decoded")
        return spy

    monkeypatch.setattr(nodes, "check_upload", decoding("upload"))
    monkeypatch.setattr(nodes, "check_mask", decoding("mask"))
    settings = load_settings(api_key=None, session_limit=100, ip_limit=1, limit_window=60)
    counters = MemoryCounters(1, 60)
    asyncio.run(counters.take("203.0.113.9", 0.0))  # the address's one generation is spent
    big = data_url(mask_png((4096, 4096), (0, 0, 4096, 4096)))
    on_screen = Candidate(b"PNG", prompt="p")
    for action, session, inputs in (
            (Action.GENERATE, Session(), {"task_input": "a kite", "upload_input": big}),
            (Action.EDIT_REGION, Session(stage=Stage.USER_FEEDBACK, input_used_by_process="p",
                                         candidates=[on_screen], selected=0, made=1),
             {"instruction": "a boat", "mask_input": big})):
        backend = FailingBackend(AssertionError("must not be called"))
        shared = to_shared(session, settings=settings, counters=counters, client_ip="203.0.113.9", now=1.0,
                           wall_now=1.0, today=TODAY, backend=backend, on_start=lambda: None,
                           on_partial=lambda *_, **__: None, options={}, budget=0, **inputs)
        asyncio.run(FLOWS[action]().run_async(shared))
        assert shared["error_message"].startswith("Generation limit reached"), shared["error_message"]
        assert backend.calls == 0
    assert decoded == []


def test_a_giant_prompt_is_refused_by_its_length_before_any_cleaning(monkeypatch):
    import hitl.core.validation as validation

    cleaned = []
    monkeypatch.setattr(validation, "clean_text", lambda text: cleaned.append(text) or text)
    backend = FailingBackend(AssertionError("must not be called"))
    shared = run(Action.GENERATE, Session(), backend, task_input="x\u200b" * (1 << 20), options={})  # 2 MiB
    assert shared["error_message"].startswith("The prompt is 2,097,152 characters long; the limit is 32,000")
    assert cleaned == [] and backend.calls == 0
