"""OpenAI's own rules, as the installed SDK and the API define them, through the real app.

Refine under both retention settings (OpenAI continues only stored responses), every request
body against the SDK's request types, and the fake's strictness itself: a lenient fake would
let the product be wrong while every test passes.
"""

from __future__ import annotations

import httpx
import pytest
from fake_openai import FAILED_CODES, prompt_of
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, TEST_SETTINGS, Page, image_b64, image_prompt, image_serial, urls, wait_until
from openai import AsyncOpenAI
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from openai_spec import problems

from hitl.backends import ImageOptions, ImageRequest
from hitl.backends.errors import UpstreamFailure, describe
from hitl.backends.openai_responses import ResponsesBackend
from hitl.core.stages import Candidate
from hitl.serving.config import load_settings


def sent_image(body: dict) -> tuple[str, int]:
    """(prompt, serial) of the image a Refine sent inline."""
    text, image = body["input"][0]["content"]
    assert image["type"] == "input_image" and image["detail"] == "auto"
    return prompt_of(image["image_url"].split(",", 1)[1])



# -- what the app sends ----------------------------------------------------------------------

@pytest.mark.parametrize("store", [False, True])
@pytest.mark.parametrize("partial_images", [0, 2])
def test_every_request_body_matches_the_sdk_types(store, partial_images):
    """Generate, Refine with the image inline and Refine by stored id, checked against the SDK's
    own request types: an unknown key, a value outside a Literal or a missing Required key fails."""
    settings = load_settings(**{**TEST_SETTINGS, "store_responses": store, "partial_images": partial_images})
    backend = ResponsesBackend(AsyncOpenAI(api_key="sk-unused", base_url="http://127.0.0.1:9"), settings)
    kept = Candidate.from_b64("iVBORw0KGgo=", prompt="p", response_id="resp_1" if store else None)
    options = ImageOptions(size="1024x1536", quality="low", background="transparent", output_format="webp")
    for request in (ImageRequest("a fox", options), ImageRequest("a fox", options, previous=kept, feedback="at night")):
        body = backend._arguments(request)
        kind = ResponseCreateParamsStreaming if partial_images else ResponseCreateParamsNonStreaming
        sent = {**body, "stream": True} if partial_images else body
        assert problems(sent, kind) == []
        assert body["store"] is store


def test_the_fake_rejects_what_openai_rejects(fake_server, fake):
    """400 invalid_request_error naming the param, as OpenAI answers."""
    good = {"model": "gpt-5.5", "input": "x", "tools": [{"type": "image_generation"}],
            "tool_choice": {"type": "image_generation"}}
    refine = [{"role": "user", "content": [{"type": "input_text", "text": "x"},
                                           {"type": "input_image", "image_url": "data:image/png;base64,AA"}]}]
    for body, param in (({**good, "bogus": 1}, "bogus"),
                        ({**good, "tools": [{"type": "image_generation", "quality": "ultra"}]}, "tools[0].quality"),
                        ({**good, "input": refine}, "input[0].content[1].detail")):
        answer = httpx.post(f"{fake_server.url}/responses", json=body, headers={"authorization": "Bearer sk-x"})
        assert answer.status_code == 400
        assert answer.json()["error"]["type"] == "invalid_request_error"
        assert answer.json()["error"]["param"] == param
    assert len(fake.invalid_requests) == 3
    fake.invalid_requests.clear()  # expected here; the fixture fails any other test that leaves one


def test_only_stored_responses_can_be_continued(fake_server, fake):
    body = {"model": "gpt-5.5", "input": "x", "tools": [{"type": "image_generation"}]}
    kept = httpx.post(f"{fake_server.url}/responses", json=body).json()["id"]
    gone = httpx.post(f"{fake_server.url}/responses", json={**body, "store": False}).json()["id"]
    assert httpx.post(f"{fake_server.url}/responses", json={**body, "previous_response_id": kept}).status_code == 200
    answer = httpx.post(f"{fake_server.url}/responses", json={**body, "previous_response_id": gone})
    assert answer.status_code == 400
    assert answer.json()["error"] == {"message": f"Previous response with id '{gone}' not found.",
                                      "type": "invalid_request_error", "param": "previous_response_id",
                                      "code": "previous_response_not_found"}


# -- Refine under store: false (the default) ------------------------------------------------

def test_a_chain_of_refines_sends_each_latest_image(client, fake):
    first = client.predict("a harbour", api_name="/generate")
    latest = ("a harbour", image_serial(first))
    for feedback in ("at night", "with snow", "in fog"):
        refined = client.predict(feedback, api_name="/refine")
        assert refined[MESSAGE] == "" and image_prompt(refined) == feedback
        assert sent_image(fake.requests[-1].body) == latest
        latest = (feedback, image_serial(refined))
    assert len(refined[CANDIDATES]) == 4
    assert all(r.body["store"] is False for r in fake.requests)


def test_refine_of_a_regenerated_and_of_a_picked_candidate(client, fake):
    first = client.predict("a kite", api_name="/generate")
    second = client.predict(api_name="/regenerate")
    client.predict("red", api_name="/refine")
    assert sent_image(fake.requests[-1].body) == ("a kite", image_serial(second))
    picked = client.predict(0, api_name="/select")
    assert image_b64(picked) == image_b64(first)
    client.predict("blue", api_name="/refine")
    assert sent_image(fake.requests[-1].body) == ("a kite", image_serial(first))


def test_refine_after_a_cancel_and_after_a_failure(client, fake):
    first = client.predict("a boat", api_name="/generate")
    fake.latency = 4.0
    job = client.submit(api_name="/regenerate")
    wait_until(lambda: fake.attempts == 2)
    job.cancel()
    wait_until(lambda: fake.disconnects == 1)
    fake.latency = 0.0
    client.predict("sails up", api_name="/refine")
    assert sent_image(fake.requests[-1].body) == ("a boat", image_serial(first))

    fake.fail_next("blocked_picture")
    blocked = client.predict(api_name="/regenerate")
    assert "blocked the picture" in blocked[MESSAGE]
    refined = client.predict("sails down", api_name="/refine")
    assert refined[MESSAGE] == "" and sent_image(fake.requests[-1].body)[0] == "sails up"


# -- Refine with stored responses (HITL_STORE_RESPONSES=1) -------------------------------------

@pytest.fixture(scope="module")
def stored_url(launch, fake_server):
    return launch(**TEST_SETTINGS, store_responses=True, base_url=fake_server.url)


def test_stored_responses_are_continued_by_id(stored_url, fake):
    client = Client(stored_url, verbose=False)
    client.predict("a harbour", api_name="/generate")
    for feedback in ("at night", "with snow", "in fog"):
        previous = f"resp_{fake.requests[-1].serial}"
        refined = client.predict(feedback, api_name="/refine")
        body = fake.requests[-1].body
        assert (body["previous_response_id"], body["input"], body["store"]) == (previous, feedback, True)
        assert image_prompt(refined) == feedback
    assert fake.invalid_requests == []


def test_a_stored_response_openai_no_longer_holds_falls_back_to_the_image(stored_url, fake):
    client = Client(stored_url, verbose=False)
    first = client.predict("a lighthouse", api_name="/generate")
    fake.stored.discard(f"resp_{image_serial(first)}")  # expired or deleted at OpenAI
    refined = client.predict("at dusk", api_name="/refine")
    assert refined[MESSAGE] == "" and image_prompt(refined) == "at dusk"
    assert [r.body.get("previous_response_id") for r in fake.requests[-2:]] == [f"resp_{image_serial(first)}", None]
    assert sent_image(fake.requests[-1].body) == ("a lighthouse", image_serial(first))


# -- failures inside a 200 answer ----------------------------------------------------------

def test_every_response_error_code_has_its_own_message():
    settings = load_settings(**TEST_SETTINGS)
    generic = "Something went wrong while generating the image. Try again."
    for code in FAILED_CODES:
        assert describe(UpstreamFailure(code), settings) != generic, code


def test_a_preview_from_a_blocked_call_gives_way_to_the_last_good_image(app_url, fake):
    page = Page(app_url)
    options = ("auto", "auto", "auto", "png", "", 0)
    good = page.result(page.click("generate", "a kite", 1, *options), "image")["url"]
    fake.fail_next("blocked_picture")
    messages = page.click("regenerate", 1, *options)
    # The previews were shown first (one or both: a page draws the latest preview when it looks).
    assert [url for url in urls(messages, "data:image/png") if url != good], "no preview was shown"
    assert page.result(messages, "image")["url"] == good
    assert "blocked the picture that was made (violence)" in page.result(messages, "status")["value"]

    first = Page(app_url)
    fake.fail_next("blocked_picture")
    messages = first.click("generate", "a kite", 1, *options)
    assert urls(messages, "data:image/png") and first.result(messages, "image") is None
