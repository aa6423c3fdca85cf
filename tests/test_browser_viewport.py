"""What is in the viewport, not in the DOM (issue 23): bounding boxes against the window, never scrolled,
at a laptop (1280×720), a bigger one (1440×900), a phone (390×844, touch) and 200% zoom (a 1280×720
window zoomed: 640×360 CSS pixels at twice the density)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from browser import FINAL_SRC, PREVIEW_SRC, button, expect_decoded, generate_button, new_page, open_app, prompt_box
from playwright.sync_api import Locator, Page, expect

SIZES = {
    "1280x720": {"viewport": {"width": 1280, "height": 720}},
    "1440x900": {"viewport": {"width": 1440, "height": 900}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 3},
    "zoom200": {"viewport": {"width": 640, "height": 360}, "device_scale_factor": 2},
}
LAPTOPS = ["1280x720", "1440x900"]
ACTIONS = ["button#approve", "button#regenerate", "button#refine", "#paint-toggle", "button#compare"]
TILE = 160  # px, a batch tile's short side at least
expect.set_options(timeout=15_000)


@contextmanager
def tab(browser, size: str) -> Iterator[Page]:
    """A new session's tab at `size`, closed after; no uncaught error in its page."""
    context, page, errors = new_page(browser, **SIZES[size])
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def in_view(page: Page, locator: Locator, settle: float = 5.0) -> dict:
    """The element's box, asserted wholly inside the window as it is (the page never scrolled here),
    once the layout has settled: on a busy machine images still decoding can move it for a moment."""
    expect(locator).to_be_visible()
    view = page.viewport_size
    assert view is not None
    deadline = time.monotonic() + settle
    while True:
        box = locator.bounding_box()
        assert box is not None
        inside = box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= view["width"] + 0.5 \
            and box["y"] + box["height"] <= view["height"] + 0.5
        if inside or time.monotonic() > deadline:
            assert inside, (locator, box, view)
            return box
        page.wait_for_timeout(100)


def not_scrolled(page: Page) -> None:
    assert page.evaluate("window.scrollY") == 0


def four_at_once(page: Page, url: str, fake) -> None:
    open_app(page, url)
    prompt_box(page).fill("four kites")
    page.locator("#count").get_by_label("4", exact=True).check()
    generate_button(page).click()
    expect(button(page, "approve")).to_be_visible()
    expect(button(page, "cancel")).to_be_hidden()
    tiles = page.locator("#batch img")
    expect(tiles).to_have_count(4)
    for tile in tiles.all():
        expect(tile).to_have_attribute("src", FINAL_SRC)
        expect_decoded(page, tile)


@pytest.mark.parametrize("size", LAPTOPS)
def test_four_at_once_are_all_in_view_and_big_enough(browser, app_url, fake, size):
    with tab(browser, size) as page:
        four_at_once(page, app_url, fake)
        for tile in page.locator("#batch img").all():
            box = in_view(page, tile)
            assert min(box["width"], box["height"]) >= TILE, box
        for action in ("button#approve", "button#regenerate", "button#compare"):
            in_view(page, page.locator(action))
        not_scrolled(page)


@pytest.mark.parametrize("size", list(SIZES))
def test_a_focused_one_and_every_action_are_in_one_view(browser, app_url, fake, size):
    with tab(browser, size) as page:
        four_at_once(page, app_url, fake)
        page.evaluate("window.scrollTo(0, 0)")
        second = page.locator("#batch button.thumbnail-item").nth(1)
        src = second.locator("img").get_attribute("src")
        second.click()  # clicks reach the tile wherever it is; what is in view is measured after
        page.evaluate("window.scrollTo(0, 0)")
        image = page.locator("#image img")
        expect(image).to_have_attribute("src", src)  # the one clicked, at full size
        expect(page.locator("#batch")).to_be_hidden()
        expect_decoded(page, image)
        in_view(page, image)
        for action in ACTIONS:
            in_view(page, page.locator(action))
        button(page, "show-batch").click()  # and back to the grid
        expect(page.locator("#batch img")).to_have_count(4)
        expect(image).to_be_hidden()


@pytest.mark.parametrize("size", list(SIZES))
def test_side_by_side_shows_both_at_once_each_with_its_approve(browser, app_url, fake, size):
    with tab(browser, size) as page:
        four_at_once(page, app_url, fake)
        button(page, "compare").click()
        page.evaluate("window.scrollTo(0, 0)")
        left, right = page.locator("#image img"), page.locator("#beside img")
        for side in (left, right):
            expect(side).to_have_attribute("src", FINAL_SRC)
            expect_decoded(page, side)
        assert left.get_attribute("src") != right.get_attribute("src")
        boxes = [in_view(page, side) for side in (left, right)]
        for approve in ("approve-left", "approve-right"):
            in_view(page, button(page, approve))
        # next to each other on a screen that has the width, one above the other on a phone
        beside = boxes[1]["x"] >= boxes[0]["x"] + boxes[0]["width"]
        assert beside if page.viewport_size["width"] > 480 else boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]
        right_src = right.get_attribute("src")
        button(page, "approve-right").click()
        expect(page.locator("#stage-final")).to_be_visible()
        expect(page.locator("#image img")).to_have_attribute("src", right_src)


def test_on_a_phone_the_progress_and_the_first_preview_show_after_generate(browser, slow_app_url, fake):
    with tab(browser, "phone") as page:
        fake.latency = 4.5
        open_app(page, slow_app_url)
        prompt_box(page).fill("a slow paper boat")
        generate_button(page).tap()
        in_view(page, page.locator("#progress [role=status]"))
        in_view(page, button(page, "cancel"))
        preview = page.locator("#image img")
        expect(preview).to_have_attribute("src", PREVIEW_SRC)
        in_view(page, preview)
        not_scrolled(page)
        button(page, "cancel").click()


@pytest.mark.parametrize("size", ["1280x720", "1440x900", "phone"])
def test_four_at_once_draw_in_view_each_in_its_tile(browser, slow_app_url, fake, size):
    with tab(browser, size) as page:
        fake.latency = 4.5
        open_app(page, slow_app_url)
        prompt_box(page).fill("four slow boats")
        page.locator("#count").get_by_label("4", exact=True).check()
        generate_button(page).tap() if size == "phone" else generate_button(page).click()
        in_view(page, page.locator("#progress [role=status]"))
        in_view(page, button(page, "cancel"))
        tiles = page.locator("#batch img")
        expect(tiles).to_have_count(4)
        expect(page.locator("#batch .caption-label").first).to_have_text(re.compile(r"^new 1"))
        for tile in tiles.all():
            expect(tile).to_have_attribute("src", PREVIEW_SRC)
            box = in_view(page, tile)
            assert min(box["width"], box["height"]) >= (TILE if size in LAPTOPS else 120), box
        not_scrolled(page)
        button(page, "cancel").click()


@pytest.mark.parametrize("size", ["1280x720", "phone"])
def test_paint_a_region_from_the_grid_brings_the_marked_one_up_to_paint_on(browser, app_url, fake, size):
    with tab(browser, size) as page:
        four_at_once(page, app_url, fake)
        marked = page.locator("#batch button[aria-current='true'] img").get_attribute("src")
        page.locator("#paint-toggle").click()
        expect(page.locator("#image img")).to_have_attribute("src", marked)
        page.evaluate("window.scrollTo(0, 0)")
        in_view(page, page.locator("#paint-canvas"))
        in_view(page, page.locator("#paint-toggle"))
        not_scrolled(page)  # in view at the top of the page, not brought there by a scroll


@pytest.mark.parametrize("size", ["1280x720", "phone"])
def test_the_accordions_arrows_are_inside_their_boxes(browser, app_url, size):
    with tab(browser, size) as page:
        open_app(page, app_url)
        arrows = page.locator("button.label-wrap .icon")
        expect(arrows.first).to_be_visible()
        for arrow in arrows.all():
            if not arrow.is_visible():
                continue
            box = arrow.bounding_box()
            block = arrow.locator("xpath=ancestor::*[contains(@class, 'block')][1]").bounding_box()
            assert box and block, (box, block)
            assert block["x"] <= box["x"] and box["x"] + box["width"] <= block["x"] + block["width"], (box, block)
