"""Beyond the core loop: refine, options, candidates, own key, Images API, cancel."""

from __future__ import annotations

import pytest
from fake_openai import prompt_of
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, TEST_KEY, TEST_SETTINGS, Page, image_b64, image_prompt, urls, wait_until


def test_refine_sends_the_candidate_and_the_feedback(client, fake):
    first = client.predict("a harbour", api_name="/generate")
    refined = client.predict("make it night time", api_name="/refine")
    assert image_prompt(refined) == "make it night time"  # the fake draws the text it received
    assert len(refined[CANDIDATES]) == 2
    body = fake.requests[-1].body
    assert body["store"] is False and "previous_response_id" not in body  # OpenAI keeps nothing to continue
    text, image = body["input"][0]["content"]
    assert text == {"type": "input_text", "text": "make it night time"}
    assert image["image_url"] == "data:image/png;base64," + image_b64(first) and image["detail"] == "auto"
    assert body["tools"][0]["action"] == "edit"
    assert image_b64(refined) != image_b64(first)


def test_api_callers_get_candidates_as_small_inline_thumbnails(client, fake):
    client.predict("thumbs", api_name="/generate")
    result = client.predict(api_name="/regenerate")
    thumbs = [item["image"]["url"] for item in result[CANDIDATES]]
    assert len(thumbs) == 2 and all(url.startswith("data:image/webp;base64,") for url in thumbs)
    assert all(len(url) < len(image_b64(result)) for url in thumbs)


def test_refine_needs_feedback(client, fake):
    client.predict("a harbour", api_name="/generate")
    result = client.predict("   ", api_name="/refine")
    assert "feedback is empty" in result[MESSAGE]
    assert fake.attempts == 1


def test_options_reach_the_image_tool(client, fake):
    client.predict("a logo", "1024x1536", "high", "transparent", "webp", api_name="/generate")
    tool = fake.requests[-1].body["tools"][0]
    assert (tool["size"], tool["quality"], tool["background"], tool["output_format"]) == (
        "1024x1536", "high", "transparent", "webp")


def test_invalid_option_combination_is_explained_without_a_call(client, fake):
    result = client.predict("a logo", "auto", "auto", "transparent", "jpeg", api_name="/generate")
    assert "transparent" in result[MESSAGE].lower() and fake.attempts == 0


def test_candidate_history_is_capped(launch, fake_server, fake):
    url = launch(**{**TEST_SETTINGS, "max_candidates": 3, "partial_images": 0}, base_url=fake_server.url)
    client = Client(url, verbose=False)
    client.predict("many", api_name="/generate")
    for _ in range(4):
        result = client.predict(api_name="/regenerate")
    assert len(result[CANDIDATES]) == 3


def test_own_key_is_used_for_this_call_only_and_never_returned(launch, fake_server, fake):
    url = launch(**{**TEST_SETTINGS, "api_key": None}, base_url=fake_server.url)  # no server key
    own = "sk-own-key-of-a-visitor-0123456789"
    result = Client(url, verbose=False).predict("with my key", key=own, api_name="/generate")
    assert image_prompt(result) == "with my key"
    assert fake.requests[-1].headers["authorization"] == f"Bearer {own}"
    assert own not in repr(result)
    demo = Client(url, verbose=False).predict("no key", api_name="/generate")  # another visitor
    assert fake.attempts == 1 and image_b64(demo)  # drawn locally, in demo mode


def test_server_key_is_used_when_the_visitor_has_none(client, fake):
    client.predict("server key", api_name="/generate")
    assert fake.requests[-1].headers["authorization"] == f"Bearer {TEST_KEY}"


@pytest.mark.parametrize("partial_images", [0, 2])
def test_images_api_fallback(launch, fake_server, fake, partial_images):
    url = launch(**{**TEST_SETTINGS, "api_style": "images", "partial_images": partial_images},
                 base_url=fake_server.url)
    client = Client(url, verbose=False)
    first = client.predict("via images api", api_name="/generate")
    assert image_prompt(first) == "via images api"
    assert fake.requests[-1].path == "/v1/images/generations"
    refined = client.predict("add a moon", api_name="/refine")
    assert fake.requests[-1].path == "/v1/images/edits"
    assert image_prompt(refined) == "add a moon"


def test_the_api_answers_once_with_the_final_image(client, fake):
    """Previews are for the page (browser tests); an API caller gets one message, the final image."""
    fake.latency = 0.6
    job = client.submit("previews please", api_name="/generate")
    result = job.result(timeout=30)
    assert image_prompt(result) == "previews please"  # not a "partial ..." preview
    assert len(job.outputs()) == 1
    assert fake.requests[-1].body["tools"][0]["partial_images"] == 2  # streamed upstream all the same


def test_the_page_gets_each_preview_once_inline_then_the_final_image_by_url(app_url, fake):
    """Previews stream inline, each sent once; the final image is a URL (fetched once, as bytes)
    in the result message, which is what reliably replaces a preview on screen."""
    fake.latency = 0.3
    page = Page(app_url)
    for button, values in (("generate", ("a kite", 1, "auto", "auto", "auto", "png", "", 0)),
                           ("regenerate", (1, "auto", "auto", "auto", "png", "", 0))):
        messages = page.click(button, *values)
        inline = urls(messages, "data:image/png")
        assert [prompt_of(url.split(",", 1)[1])[0] for url in inline] == ["partial 0: a kite", "partial 1: a kite"]
        final = page.result(messages, "image")["url"]
        assert final.startswith("gradio_api/hitl/image/"), button
        assert final in urls(messages[:-1], "gradio_api/"), button  # shown once streaming ends, too


def test_cancel_stops_the_request_and_keeps_the_session(client, fake):
    fake.latency = 4.0
    job = client.submit("cancel me", api_name="/generate")
    wait_until(lambda: fake.attempts == 1)
    job.cancel()
    wait_until(lambda: fake.disconnects == 1)  # the upstream request was dropped
    fake.latency = 0.0
    after = client.predict("next one", api_name="/generate")  # still in initial_input
    assert image_prompt(after) == "next one" and after[MESSAGE] == ""
