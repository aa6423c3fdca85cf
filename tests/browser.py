"""What the browser tests share: opening the app, finding its controls by what users see, reading the
images the page shows, and checking which stage's controls are on screen (Playwright, sync API)."""

from __future__ import annotations

import base64
import re
from urllib.parse import urljoin

from fake_openai import prompt_of
from playwright.sync_api import Browser, Locator, Page, expect

PREVIEW_SRC = re.compile(r"^data:image/")  # previews come inline in the stream
FINAL_SRC = re.compile(r"^gradio_api/hitl/image/")  # final images are fetched from the session

# Buttons by elem_id: the stage that owns them and the name a user (or screen reader) sees.
# Both "Start Over" buttons are listed: the review one (#discard) and the final one.
BUTTONS = {
    "generate": ("input", "Generate Image"),
    "approve": ("review", "Approve"),
    "regenerate": ("review", "Regenerate"),
    "refine": ("review", "Refine"),
    "discard": ("review", "Start Over"),
    "start-over": ("final", "Start Over"),
}
FIELDS = {"Prompt": "input", "Feedback": "review"}


def new_page(browser: Browser, **context_options):
    context = browser.new_context(**context_options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return context, page, errors


def open_app(page: Page, url: str) -> None:
    page.goto(url)
    expect(prompt_box(page)).to_be_visible()


def prompt_box(page: Page) -> Locator:
    return page.get_by_label("Prompt", exact=True)  # not "Revised prompt"


def button(page: Page, elem_id: str) -> Locator:
    return page.locator(f"button#{elem_id}")


def generate_button(page: Page) -> Locator:
    return page.get_by_role("button", name="Generate Image", exact=True)


def main_image(page: Page) -> Locator:
    return page.locator("#image img")


def thumbnails(page: Page) -> Locator:
    return page.locator("#gallery").get_by_role("button", name=re.compile(r"thumbnail \d+ of \d+", re.I))


def message(page: Page) -> Locator:
    return page.get_by_label("Message", exact=True)


def image_bytes(page: Page, src: str) -> bytes:
    """The bytes behind an <img> src: inline (a preview), or fetched with the page's cookies."""
    if src.startswith("data:"):
        return base64.b64decode(src.split(",", 1)[1], validate=True)
    response = page.request.get(urljoin(page.url, src))
    assert response.ok, (src, response.status)
    return response.body()


def image_origin(page: Page, src: str) -> tuple[str, int]:
    """(prompt, serial) the fake drew an image for, read from the image the <img> shows."""
    return prompt_of(base64.b64encode(image_bytes(page, src)).decode())


def expect_decoded(page: Page, img: Locator) -> None:
    """The browser has loaded and decoded the <img>'s picture (a broken link never gets a width)."""
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())


def expect_final_image(page: Page) -> str:
    """The image on screen is a final one, and the browser has loaded and decoded it; returns its src."""
    expect(main_image(page)).to_have_attribute("src", FINAL_SRC)
    expect_decoded(page, main_image(page))
    return main_image(page).get_attribute("src")



def wait_until_idle(page: Page) -> None:
    """The Cancel button shows only while a generation runs."""
    expect(button(page, "cancel")).to_be_hidden()


def expect_stage(page: Page, stage: str) -> None:
    """Exactly the controls of `stage` are on screen, and usable."""
    for elem_id, (owner, name) in BUTTONS.items():
        control = button(page, elem_id)
        if owner == stage:
            expect(control).to_be_visible()
            expect(control).to_have_accessible_name(name)
            expect(control).to_be_enabled()
        else:
            expect(control).to_be_hidden()
    for label, owner in FIELDS.items():
        field = page.get_by_label(label, exact=True)
        if owner == stage:
            expect(field).to_be_visible()
            expect(field).to_be_editable()
        else:
            expect(field).to_be_hidden()
    heading = page.get_by_role("heading", name="Approved ✓")
    (expect(heading).to_be_visible if stage == "final" else expect(heading).to_be_hidden)()


def generate(page: Page, text: str) -> str:
    """Type a prompt, click Generate Image, wait for the review stage; returns the image src."""
    prompt_box(page).fill(text)
    generate_button(page).click()
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    return expect_final_image(page)


def expect_no_injection(page: Page) -> None:
    assert page.evaluate("typeof window.__xss") == "undefined"
    expect(page.locator('img[src="x"]')).to_have_count(0)
    expect(page.locator("script", has_text="__xss")).to_have_count(0)
    expect(page.locator("strong", has_text="bold")).to_have_count(0)  # markdown not rendered either


def expect_fits_width(page: Page, locator: Locator, width: int) -> None:
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


def expect_no_horizontal_overflow(page: Page, width: int) -> None:
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width, f"page is {scroll_width}px wide in a {width}px viewport"
