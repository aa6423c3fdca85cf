"""Remix in a real browser (issue 23, item 4): in review, edit the prompt and go again from the candidate on
screen; the new candidates say "remix of #N". Measured on screen: the control beside the picture is in view."""

from __future__ import annotations

import re

from browser import button, expect_final_image, generate, image_origin, new_page, open_app, thumbnails
from playwright.sync_api import Page, expect

expect.set_options(timeout=15_000)


def your_prompt(page: Page):
    return page.get_by_label("Your prompt", exact=True)


def in_view(page: Page, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    view = page.viewport_size
    assert box and view and box["y"] >= 0 and box["y"] + box["height"] <= view["height"], (selector, box, view)


def test_edit_the_prompt_in_review_and_remix_from_the_keyboard(browser, app_url, fake):
    context, page, errors = new_page(browser, viewport={"width": 1280, "height": 720})
    open_app(page, app_url)
    generate(page, "a harbour")
    box = your_prompt(page)
    expect(box).to_have_value("a harbour")
    expect(box).to_be_editable()
    in_view(page, "#your-prompt textarea")
    in_view(page, "button#remix")
    assert page.evaluate("window.scrollY") == 0
    box.fill("a harbour at dusk")
    box.press("Enter")  # Enter in the box remixes, like the button
    expect(thumbnails(page)).to_have_count(2)
    expect(thumbnails(page).nth(1)).to_have_accessible_name(re.compile(r"^#2 · remix of #1 “a harbour at dusk”"))
    assert image_origin(page, expect_final_image(page))[0] == "a harbour at dusk"  # what the fake was asked
    expect(box).to_have_value("a harbour at dusk")  # the prompt the session goes on with
    expect(button(page, "approve")).to_be_focused()  # where the user acts next
    box.fill("a harbour at night")
    box.press("Control+Enter")  # the page's shortcut from this box remixes too
    expect(thumbnails(page)).to_have_count(3)
    expect(thumbnails(page).nth(2)).to_have_accessible_name(re.compile(r"^#3 · remix of #2 “a harbour at night”"))
    context.close()
    assert errors == []


def test_remix_acts_on_the_candidate_on_screen(browser, app_url, fake):
    context, page, errors = new_page(browser, viewport={"width": 1440, "height": 900})
    open_app(page, app_url)
    generate(page, "a lighthouse")
    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    thumbnails(page).first.click()  # #1 on screen, not the newest
    expect(thumbnails(page).first).to_have_attribute("aria-current", "true")
    your_prompt(page).fill("a lighthouse in fog")
    button(page, "remix").click()
    expect(thumbnails(page)).to_have_count(3)
    expect(thumbnails(page).nth(2)).to_have_accessible_name(re.compile(r"^#3 · remix of #1 “a lighthouse in fog”"))
    expect(thumbnails(page).nth(2)).to_have_attribute("aria-current", "true")
    context.close()
    assert errors == []
