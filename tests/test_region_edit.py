"""Paint a region to change (/edit_region) and start from your own image (/generate's `image`), through
gradio_client against the launched app: the strict fake behind it (Responses and Images API), and demo mode.
Pictures travel as data: URL strings, so nothing goes through Gradio's upload route."""

from __future__ import annotations

import io

from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, Page, data_url, decode, image_b64, image_prompt, mask_png, wait_until
from PIL import Image

from hitl.core.runner import BUSY


def mask_url(size: tuple[int, int], box: tuple[int, int, int, int] | None) -> str:
    return data_url(mask_png(size, box))


def own_picture(size=(120, 90), fmt="PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "orange").save(buffer, format=fmt)
    return buffer.getvalue()


def size_of(result) -> tuple[int, int]:
    return Image.open(io.BytesIO(decode(result))).size


def versions(client: Client) -> list[dict]:
    return client.predict(api_name="/history")["versions"]


# -- Edit region against the fake -----------------------------------------------------------------------
def test_edit_region_sends_the_mask_with_the_image_and_makes_a_child_candidate(client, fake):
    shown = client.predict("a harbour", api_name="/generate")
    edited = client.predict(mask_url(size_of(shown), (0, 0, 16, 16)), "a red boat here", api_name="/edit_region")
    assert edited[MESSAGE] == "" and len(edited[CANDIDATES]) == 2
    assert image_prompt(edited) == "a red boat here"
    body = fake.requests[-1].body
    tool = body["tools"][0]
    assert tool["action"] == "edit" and tool["input_image_mask"]["image_url"].startswith("data:image/png;base64,")
    assert "previous_response_id" not in body
    image = [part for part in body["input"][0]["content"] if part["type"] == "input_image"][0]
    assert image["image_url"] == "data:image/png;base64," + image_b64(shown)  # the candidate painted on
    assert fake.masks == [size_of(shown)]  # the strict fake took it: a PNG mask of the image's size
    tree = versions(client)
    assert [(v["made_by"], v["parent"], v["instruction"]) for v in tree] == [
        ("generate", None, ""), ("edit_region", 1, "a red boat here")]


def test_the_strict_fake_answers_400_to_a_mask_of_the_wrong_size(fake_server, fake):
    from openai import BadRequestError, OpenAI

    sdk = OpenAI(api_key="sk-test", base_url=fake_server.url, max_retries=0)
    picture = data_url(own_picture((64, 64)))
    try:
        sdk.responses.create(model="gpt-5", input=[{"role": "user", "content": [
            {"type": "input_text", "text": "x"}, {"type": "input_image", "image_url": picture, "detail": "auto"}]}],
            tools=[{"type": "image_generation", "action": "edit",
                    "input_image_mask": {"image_url": mask_url((32, 32), (0, 0, 4, 4))}}])
    except BadRequestError as refused:
        assert refused.body["param"] == "tools[0].input_image_mask" and "differs" in refused.body["message"]
    else:
        raise AssertionError("a mask of another size was accepted")
    fake.invalid_requests.clear()  # expected here: the fixture would fail the test on it


def test_images_api_edits_with_the_mask(own_app, fake):
    demo = own_app(api_style="images")
    client = Client(demo.local_url, verbose=False)
    shown = client.predict("a meadow", api_name="/generate")
    edited = client.predict(mask_url(size_of(shown), (8, 8, 24, 24)), "a white horse", api_name="/edit_region")
    assert edited[MESSAGE] == "" and image_prompt(edited) == "a white horse"
    assert fake.requests[-1].path.endswith("/images/edits") and fake.masks == [size_of(shown)]


def test_a_bad_mask_is_refused_before_any_call_and_the_image_stays(client, fake):
    shown = client.predict("a harbour", api_name="/generate")
    for mask, problem in ((mask_url((7, 7), None), "at least 16"), ("", "Nothing is painted"),
                          (mask_url(size_of(shown), None), "Nothing is painted"),
                          (mask_url((64, 64), (0, 0, 9, 9)), "paint on the picture")):
        refused = client.predict(mask, "a boat", api_name="/edit_region")
        assert problem in refused[MESSAGE] and image_b64(refused) == image_b64(shown)
        assert len(refused[CANDIDATES]) == 1
    empty = client.predict(mask_url(size_of(shown), (0, 0, 4, 4)), "  ", api_name="/edit_region")
    assert empty[MESSAGE].startswith("The instruction is empty")
    assert fake.attempts == 1


def test_edit_region_follows_the_stage_rules(client, fake):
    mask = mask_url((32, 32), (0, 0, 8, 8))
    assert client.predict(mask, "a boat", api_name="/edit_region")[MESSAGE].startswith("There is no image to review")
    client.predict("a harbour", api_name="/generate")
    client.predict(api_name="/approve")
    refused = client.predict(mask, "a boat", api_name="/edit_region")
    assert refused[MESSAGE].startswith("This image is already approved") and image_b64(refused) is None
    assert fake.attempts == 1


def test_edit_region_waits_its_turn_and_counts_against_the_limits(own_app, fake):
    client = Client(own_app(session_limit=2).local_url, verbose=False)
    shown = client.predict("a harbour", api_name="/generate")
    mask = mask_url(size_of(shown), (0, 0, 8, 8))
    fake.latency = 1.0
    running = client.submit(api_name="/regenerate")
    wait_until(lambda: fake.attempts == 2)
    assert client.predict(mask, "a boat", api_name="/edit_region")[MESSAGE] == BUSY
    assert running.result(timeout=30)[MESSAGE] == ""
    fake.latency = 0.0
    limited = client.predict(mask, "a boat", api_name="/edit_region")
    assert limited[MESSAGE].startswith("Generation limit reached") and fake.attempts == 2


def test_edit_region_respects_the_session_budget(app_url, fake):
    """Through the page's own event (the budget is the page's): refused by CheckBudget, nothing sent."""
    page = Page(app_url)
    page.click("generate", "a harbour", 1, "1024x1024", "high", "auto", "png", "", 0)
    messages = page.click("edit-region", "a boat", "1024x1024", "high", "auto", "png", "", 0.0001,
                          mask_url((32, 32), (0, 0, 8, 8)))
    status = page.result(messages, "status")
    assert "would take the session past its $0.000 budget" in (status["value"] if isinstance(status, dict) else status)
    assert fake.attempts == 1


# -- Edit region in demo mode ---------------------------------------------------------------------------
def test_demo_region_edit_keeps_every_pixel_outside_the_mask(demo_url):
    client = Client(demo_url, verbose=False)
    shown = client.predict("a quiet street", api_name="/generate")
    box = (100, 100, 300, 260)
    edited = client.predict(mask_url(size_of(shown), box), "a red door", api_name="/edit_region")
    assert edited[MESSAGE] == ""
    old = Image.open(io.BytesIO(decode(shown))).convert("RGB")
    new = Image.open(io.BytesIO(decode(edited))).convert("RGB")
    outside = [(x, y) for x in range(0, old.width, 3) for y in range(0, old.height, 3)
               if not (box[0] <= x < box[2] and box[1] <= y < box[3])]
    assert all(old.getpixel(p) == new.getpixel(p) for p in outside)
    assert sum(old.getpixel((x, y)) != new.getpixel((x, y)) for x in range(100, 300, 4) for y in range(100, 260, 4))
    assert versions(client)[-1]["made_by"] == "edit_region"


# -- Start from your own image --------------------------------------------------------------------------
def test_generate_from_your_own_image_sends_it_and_keeps_it_as_the_parent(client, fake):
    picture = own_picture()
    made = client.predict("the same, at night", "auto", "auto", "auto", "png", "", 1, data_url(picture, "image/jpeg"),
                          api_name="/generate")
    assert made[MESSAGE] == "" and image_prompt(made) == "the same, at night"
    body = fake.requests[-1].body
    assert body["tools"][0]["action"] == "edit"
    parts = body["input"][0]["content"]
    assert parts[0] == {"type": "input_text", "text": "the same, at night"}
    assert parts[1]["image_url"] == data_url(picture, "image/png")  # the sniffed type, not the declared one
    assert len(made[CANDIDATES]) == 2
    tree = versions(client)
    assert [(v["made_by"], v["parent"], v["cost_usd"]) for v in tree][0] == ("upload", None, 0.0)
    assert (tree[1]["made_by"], tree[1]["parent"]) == ("generate", 1)


def test_existing_callers_of_generate_keep_working(client, fake):
    made = client.predict("a lighthouse", "1024x1024", "low", "auto", "png", "", api_name="/generate")
    assert made[MESSAGE] == "" and len(made[CANDIDATES]) == 1 and isinstance(fake.requests[-1].body["input"], str)


def test_a_bad_starting_image_is_refused_with_the_prompt_kept_and_nothing_sent(client, fake):
    gif = io.BytesIO()
    Image.new("RGB", (40, 40)).save(gif, format="GIF")
    for image, problem in ((data_url(gif.getvalue()), "not a PNG, JPEG or WebP"),
                           (data_url(own_picture((5000, 20))), "the limit is 4096"),
                           ("C:/Users/me/cat.png", "data: URL")):
        refused = client.predict("a cat", "auto", "auto", "auto", "png", "", 1, image, api_name="/generate")
        assert problem in refused[MESSAGE] and image_b64(refused) is None
    assert client.predict(api_name="/history")["stage"] == "initial_input"
    assert fake.attempts == 0


def test_demo_mode_generates_from_your_own_image(demo_url):
    client = Client(demo_url, verbose=False)
    made = client.predict("a sunny version", "auto", "auto", "auto", "png", "", 1, data_url(own_picture()),
                          api_name="/generate")
    assert made[MESSAGE] == "" and len(made[CANDIDATES]) == 2
    kept = client.predict(0, api_name="/select")
    assert decode(kept) == own_picture()  # the first version is the user's picture, byte for byte


def test_a_starting_image_over_the_limit_is_refused_by_the_server(client, fake):
    """Gradio's queue takes a JSON body of any size (no limit on /queue/join; max_file_size is for its
    upload route), so the server's own check is the one that holds, before anything is decoded."""
    huge = "data:image/png;base64," + "A" * (11 * 1024 * 1024 * 4 // 3)
    refused = client.predict("a cat", "auto", "auto", "auto", "png", "", 1, huge, api_name="/generate")
    assert refused[MESSAGE].startswith("The image is larger than 10.0 MB") and fake.attempts == 0
