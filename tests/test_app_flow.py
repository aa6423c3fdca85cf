"""The whole workflow through gradio_client against the launched app and the fake OpenAI."""

from __future__ import annotations

import threading

from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, REVISED, image_b64, image_prompt, image_serial


def test_generate_regenerate_approve_start_over(client, fake):
    first = client.predict("a lighthouse at dawn", api_name="/generate")
    assert image_prompt(first) == "a lighthouse at dawn"
    assert first[REVISED] == "a lighthouse at dawn (revised)"
    assert first[MESSAGE] == ""

    again = client.predict(api_name="/regenerate")
    assert image_prompt(again) == "a lighthouse at dawn"  # same prompt ...
    assert image_serial(again) != image_serial(first)  # ... new image
    assert len(again[CANDIDATES]) == 2

    final = client.predict(api_name="/approve")
    assert image_b64(final) == image_b64(again)  # the one on screen is the one approved

    reset = client.predict(api_name="/start_over")
    assert image_b64(reset) is None and reset[MESSAGE] == ""
    assert fake.attempts == 2

    # The request really used the Responses API with the image tool forced.
    body = fake.requests[0].body
    assert fake.requests[0].path == "/v1/responses"
    assert body["tool_choice"] == {"type": "image_generation"}
    assert body["tools"][0]["type"] == "image_generation"
    assert body["tools"][0]["model"] != "gpt-image-1"


def test_the_next_generation_after_start_over_uses_the_new_prompt(client, fake):
    client.predict("first idea", api_name="/generate")
    client.predict(api_name="/approve")
    client.predict(api_name="/start_over")
    second = client.predict("second idea", api_name="/generate")
    assert image_prompt(second) == "second idea"
    assert len(second[CANDIDATES]) == 1


def test_wrong_stage_actions_make_no_call_and_return_no_image(client, fake):
    for endpoint in ("/approve", "/regenerate"):
        result = client.predict(api_name=endpoint)
        assert image_b64(result) is None
        assert "Generate Image" in result[MESSAGE]
    client.predict("a cat", api_name="/generate")
    client.predict(api_name="/approve")
    for endpoint in ("/approve", "/regenerate"):
        result = client.predict(api_name=endpoint)
        assert image_b64(result) is None, endpoint
        assert "Start Over" in result[MESSAGE]
    assert fake.attempts == 1


def test_generate_in_review_is_refused(client, fake):
    client.predict("a cat", api_name="/generate")
    result = client.predict("a dog", api_name="/generate")
    assert image_b64(result) is None
    assert "review" in result[MESSAGE]
    assert fake.attempts == 1


def test_refusal_text_is_shown_and_next_success_clears_it(client, fake):
    fake.fail_next("refusal")
    failed = client.predict("something", api_name="/generate")
    assert "without an image" in failed[MESSAGE] and "can't help" in failed[MESSAGE]
    ok = client.predict("something else", api_name="/generate")
    assert ok[MESSAGE] == "" and image_prompt(ok) == "something else"


def test_error_keeps_the_last_good_image(client, fake):
    good = client.predict("keep me", api_name="/generate")
    fake.fail_next("moderation")
    failed = client.predict(api_name="/regenerate")
    assert "safety system" in failed[MESSAGE]
    assert image_b64(failed) == image_b64(good)
    assert len(failed[CANDIDATES]) == 1


def test_demo_mode_works_without_a_key(demo_url):
    client = Client(demo_url, verbose=False)
    first = client.predict("a paper boat", api_name="/generate")
    second = client.predict(api_name="/regenerate")
    assert image_b64(first) and image_b64(second) and image_b64(first) != image_b64(second)
    final = client.predict(api_name="/approve")
    assert image_b64(final) == image_b64(second)


def test_no_image_file_reaches_the_disk(client, fake, demo_url, gradio_temp):
    client.predict("nothing on disk", api_name="/generate")
    client.predict(api_name="/regenerate")
    client.predict(api_name="/approve")
    Client(demo_url, verbose=False).predict("demo too", api_name="/generate")
    images = [p for p in gradio_temp.rglob("*") if p.is_file() and p.suffix.lower() in
              {".png", ".webp", ".jpg", ".jpeg", ".gif", ".bmp"}]
    assert images == []


def test_two_users_do_not_wait_for_each_other(app_url, fake):
    """Both upstream requests are in flight at once: the app does not serialise users."""
    fake.latency = 1.0
    results = {}

    def run(name):
        results[name] = Client(app_url, verbose=False).predict(name, api_name="/generate")

    threads = [threading.Thread(target=run, args=(n,)) for n in ("user one", "user two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert {image_prompt(r) for r in results.values()} == {"user one", "user two"}
    first, second = sorted(r.at for r in fake.requests)
    assert second - first < fake.latency  # the second started before the first could finish
