"""The page's final images come by URL from the session that made them (hitl.web.image_route):
the owner gets the exact bytes, nobody else gets anything, and an image is served only while
its session still holds it."""

from __future__ import annotations

import gc
import re
from urllib.parse import urljoin

import httpx
from fake_openai import prompt_of
from helpers import Page, urls

from hitl.web import gradio_internals
from hitl.web.image_route import PATH

LINKED = PATH.lstrip("/").split("{")[0]  # "gradio_api/hitl/image/"
OPTIONS = ("auto", "auto", "auto", "png", "", 0)


def linked_image(page: Page, messages: list[dict]) -> str:
    """The URL of the image in an event's result message."""
    url = page.result(messages, "image")["url"]
    assert url.startswith(LINKED), url[:40]
    return url


def fetch(page: Page, url: str) -> httpx.Response:
    return page.http.get(urljoin(page.root + "/", url))


def drawn_for(response: httpx.Response) -> str:
    return prompt_of(response.content)[0]


def test_the_owner_gets_the_image_bytes_with_private_caching(own_app, fake):
    page = Page(own_app().local_url)
    url = linked_image(page, page.click("generate", "a kite", 1, *OPTIONS))
    got = fetch(page, url)
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert drawn_for(got) == "a kite"
    assert got.headers["cache-control"].startswith("private")  # never kept by shared caches
    assert got.headers["x-content-type-options"] == "nosniff"


def test_other_sessions_and_wrong_keys_get_nothing_and_create_nothing(own_app, fake):
    demo = own_app()
    mine, theirs = Page(demo.local_url), Page(demo.local_url)
    url = linked_image(mine, mine.click("generate", "mine", 1, *OPTIONS))
    theirs.click("generate", "theirs", 1, *OPTIONS)
    sessions = len(gradio_internals.sessions(demo))
    key = url.rsplit("/", 1)[1]
    assert mine.session_hash not in url  # the link names the image, not the session
    for wrong in (url.replace(key, key[::-1]),  # a made-up key
                  url.replace(key, ""),
                  url.replace(key, f"{mine.session_hash}/{key}"),  # the old form, with the session hash
                  url.replace(key, mine.session_hash)):
        assert fetch(theirs, wrong).status_code == 404, wrong
    assert len(gradio_internals.sessions(demo)) == sessions  # guesses leave no state behind
    assert drawn_for(fetch(mine, url)) == "mine"


def test_an_image_is_served_while_its_session_holds_it(own_app, fake):
    page = Page(own_app(max_candidates=2).local_url)
    first = linked_image(page, page.click("generate", "kept a while", 1, *OPTIONS))
    for _ in range(2):
        latest = linked_image(page, page.click("regenerate", 1, *OPTIONS))
    assert fetch(page, first).status_code == 404  # pushed out of the candidates (2 kept)
    approval = page.click("approve")
    assert page.result(approval, "image") == {"__type__": "update"}  # the image on screen: not sent again
    assert drawn_for(fetch(page, latest)) == "kept a while"  # the approved image, same URL
    page.click("start-over")
    assert fetch(page, latest).status_code == 404  # Start Over lets go of the images


def test_a_download_link_gives_nothing_but_its_image(own_app, fake):
    """The final stage's links (the image, the decision log) carry secrets of their own: neither holds
    the session hash, which would open the whole session (its events, /history, every candidate)."""
    demo = own_app()
    page = Page(demo.local_url)
    first = linked_image(page, page.click("generate", "first", 1, *OPTIONS))
    page.click("regenerate", 1, *OPTIONS)
    links = page.result(page.click("approve"), "download")
    assert page.session_hash not in links
    image, markdown_log, json_log = re.findall(r'href="([^"]+)"', links)
    assert drawn_for(fetch(page, image)) == "first" and image != first  # the approved one, second of two
    assert image.rsplit("/", 1)[1] not in markdown_log + json_log  # the log's secret is not the image's
    assert fetch(page, json_log).json()["versions"][1]["approved"]
    page.click("start-over")
    page.click("generate", "next", 1, *OPTIONS)  # Start Over's undo is let go: so are the image and its log
    gc.collect()
    assert [fetch(page, url).status_code for url in (image, markdown_log, json_log)] == [404] * 3


def test_the_gallery_links_the_images_the_page_has_already_fetched(app_url, fake):
    page = Page(app_url)
    first = linked_image(page, page.click("generate", "twice", 1, *OPTIONS))
    messages = page.click("regenerate", 1, *OPTIONS)
    second = linked_image(page, messages)
    gallery = page.result(messages, "gallery")["value"]  # shown now: an update
    # The same URLs as the images shown: the browser's cache answers.
    assert [item["image"]["url"] for item in gallery] == [first, second]
    assert urls(messages, "data:image/webp") == []  # no thumbnails made or sent for the page
