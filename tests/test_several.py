"""Several candidates per click, side by side comparison, and lineage in the captions, through the named
API and the page's own protocol, against the strict fake and in demo mode."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from helpers import CANDIDATES, IMAGE, MESSAGE, TEST_SETTINGS, Page, image_b64, urls, wait_until

from hitl.core.validation import InputError, check_count

OPTIONS = ("auto", "auto", "auto", "png", "")  # size, quality, background, output format, own key


def captions(result) -> list[str]:
    return [tile["caption"] for tile in result[CANDIDATES]]


def test_four_images_are_asked_for_side_by_side_and_all_kept(client, fake):
    fake.latency = 1.0
    result = client.predict("a kite", *OPTIONS, 4, api_name="/generate")
    assert result[MESSAGE] == "" and len(result[CANDIDATES]) == 4
    starts = sorted(request.at for request in fake.requests)
    assert len(starts) == 4 and starts[-1] - starts[0] < 0.9  # all four under way before the first was done
    assert result[IMAGE]["url"].endswith(image_b64(result))  # the last one is on screen
    cost = captions(result)[0].split(" · ")[1]  # what each cost is test_costs' business; here: one each
    assert cost.startswith("$")
    assert captions(result) == [f"#1 · {cost}", f"#2 · {cost}", f"#3 · {cost}", f"#4 · {cost} · on screen"]


def test_regenerate_takes_a_count_and_the_captions_tell_the_lineage(client, fake):
    first = client.predict("a kite", api_name="/generate")
    cost = captions(first)[0].split(" · ")[1]
    result = client.predict(*OPTIONS, 2, api_name="/regenerate")
    assert fake.attempts == 3
    assert captions(result)[1:] == [f"#2 · regenerate of #1 · {cost}", f"#3 · regenerate of #1 · {cost} · on screen"]
    refined = client.predict("add a very long string of snow flakes", api_name="/refine")
    assert captions(refined)[-1] == f"#4 · refine of #3 “add a very long string …” · {cost} · on screen"


def test_when_some_fail_the_others_are_kept_and_the_message_says_how_many_and_why(client, fake):
    fake.fail_next("blocked_prompt")
    result = client.predict("a kite", *OPTIONS, 3, api_name="/generate")
    assert len(result[CANDIDATES]) == 2 and image_b64(result)
    assert result[MESSAGE].startswith("1 of 3 images failed: ") and "blocked your prompt" in result[MESSAGE]
    fake.fail_next("moderation", "moderation")
    again = client.predict(*OPTIONS, 2, api_name="/regenerate")
    assert again[MESSAGE].startswith("All 2 images failed: ") and len(again[CANDIDATES]) == 2  # nothing lost
    assert again[MESSAGE].count("safety") == 1  # one reason, said once


def test_a_count_outside_one_to_four_is_refused_before_any_call(client, fake):
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio's own check of the choices
        client.predict("a kite", *OPTIONS, 5, api_name="/generate")
    assert fake.attempts == 0
    for wrong in (0, 5, "many"):  # and ours, for whatever reaches the flow another way
        with pytest.raises(InputError, match="choose 1 to 4"):
            check_count(wrong)
    assert check_count(None) == 1 and check_count("3") == 3


def test_each_image_counts_against_the_limits(launch, fake_server, fake):
    url = launch(**{**TEST_SETTINGS, "session_limit": 3}, base_url=fake_server.url)
    client = Client(url, verbose=False)
    client.predict("a kite", *OPTIONS, 2, api_name="/generate")
    refused = client.predict(*OPTIONS, 2, api_name="/regenerate")  # 2 + 2 > 3
    assert refused[MESSAGE].startswith("Generation limit reached for 2 images.") and fake.attempts == 2
    assert client.predict(*OPTIONS, 1, api_name="/regenerate")[MESSAGE] == ""  # one still fits


def test_cancel_stops_every_image_of_the_click(client, fake):
    fake.latency = 4.0
    job = client.submit("cancel us", *OPTIONS, 3, api_name="/generate")
    wait_until(lambda: fake.attempts == 3)
    job.cancel()
    wait_until(lambda: fake.disconnects == 3)  # all three upstream requests dropped
    fake.latency = 0.0
    after = client.predict("next one", api_name="/generate")  # nothing was kept: still in initial_input
    assert after[MESSAGE] == "" and len(after[CANDIDATES]) == 1


def test_the_page_streams_each_image_into_its_own_tile(app_url, fake):
    """Each image's previews go to its own tile (small WebP thumbnails); only the first image's previews
    go on screen; the end shows the candidates, linked from the session."""
    page = Page(app_url)
    messages = page.click("generate", "a kite", 3, *OPTIONS, 0)
    drawing = urls(messages, "new ")  # the tiles' captions, as streamed (Gradio sends changes as diffs)
    assert {caption.split(" · ")[0] for caption in drawing} == {"new 1", "new 2", "new 3"}
    assert any(caption.endswith("ready") for caption in drawing)
    assert urls(messages, "data:image/webp")  # tiles are thumbnails, not full previews
    final = page.result(messages, "gallery")
    final = final["value"] if "__type__" in final else final
    assert [tile["caption"].split(" · ")[0] for tile in final] == ["#1", "#2", "#3"]
    assert all(tile["image"]["url"].startswith("gradio_api/hitl/image/") for tile in final)


def test_compare_two_and_approve_the_right_one(client, fake):
    made = client.predict("a kite", *OPTIONS, 3, api_name="/generate")
    on_screen = image_b64(made)
    compared = client.predict(0, api_name="/compare")
    assert compared[MESSAGE] == "" and image_b64(compared) == on_screen  # the image stays the one on screen
    assert compared[CANDIDATES][0]["caption"].endswith("beside it")
    assert client.predict(7, api_name="/compare")[MESSAGE] == "There is no candidate 7: pick one of the 3 shown."
    approved = client.predict(0, api_name="/approve")
    assert approved[MESSAGE] == "" and image_b64(approved) != on_screen
    versions = client.predict(api_name="/history")["versions"]
    assert [v["number"] for v in versions if v["approved"]] == [1]  # the first of three, numbered from 1


def test_the_page_puts_two_side_by_side_and_a_thumbnail_click_changes_the_right_one(app_url, fake):
    page = Page(app_url)
    page.click("generate", "a kite", 3, *OPTIONS, 0)
    messages = page.click("compare")
    left, right = page.result(messages, "slider")["value"]  # the wipe slider, an option below the two
    assert page.result(messages, "beside") == right  # on the right, next to the one on screen
    assert left["url"] != right["url"]
    assert all(side["url"].startswith("gradio_api/hitl/image/") for side in (left, right))
    assert page.result(messages, "compare-bar") == {"__type__": "update", "visible": True}
    assert page.result(messages, "approve-left")["visible"] is True
    ended = page.click("end-compare")
    assert page.result(ended, "compare-bar") == {"__type__": "update", "visible": False}


@pytest.mark.parametrize("count", [2])
def test_demo_mode_makes_several_different_pictures(demo_url, count):
    client = Client(demo_url, verbose=False)
    result = client.predict("a kite", *OPTIONS, count, api_name="/generate")
    assert result[MESSAGE] == "" and len({tile["image"]["url"] for tile in result[CANDIDATES]}) == count


def test_compare_and_approve_by_index_keep_the_stage_rules(client, fake):
    assert client.predict(0, api_name="/compare")[MESSAGE].startswith("There is no image to review yet")
    client.predict("a kite", *OPTIONS, 2, api_name="/generate")
    assert client.predict(-1, api_name="/compare")[MESSAGE] == ""  # nothing beside it: fine, nothing changes
    assert client.predict(5, api_name="/approve")[MESSAGE] == "There is no candidate 5: pick one of the 2 shown."
    client.predict(0, api_name="/approve")
    assert client.predict(1, api_name="/compare")[MESSAGE].startswith("This image is already approved")
    assert client.predict(1, api_name="/approve")[MESSAGE].startswith("This image is already approved")


def test_the_pool_of_image_calls_counts_each_image_not_each_click(launch, fake_server, fake):
    """HITL_MAX_CONCURRENT bounds the image calls under way, all sessions together: four at once on a pool
    of two run two, then two."""
    url = launch(**{**TEST_SETTINGS, "max_concurrent": 2, "request_timeout": 5.0}, base_url=fake_server.url)
    fake.latency = 1.0
    result = Client(url, verbose=False).predict("a kite", *OPTIONS, 4, api_name="/generate")
    assert result[MESSAGE] == "" and len(result[CANDIDATES]) == 4
    starts = sorted(request.at for request in fake.requests)
    assert starts[1] - starts[0] < 0.5 and starts[2] - starts[0] > 0.9  # the third waited for a free call
