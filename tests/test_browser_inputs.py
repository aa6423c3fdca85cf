"""Your own pictures in a real browser (chromium via Playwright, see tests/browser.py): pick a starting
image, generate from it; paint a region with the mouse and edit it. The picked file is handed to the
page from memory (no file on disk), and the page sends it as a data: URL, never through an upload."""

from __future__ import annotations

import io

import pytest
from browser import (
    button,
    expect_decoded,
    expect_final_image,
    generate,
    image_bytes,
    main_image,
    new_page,
    open_app,
    thumbnails,
    wait_until_idle,
)
from PIL import Image
from playwright.sync_api import expect

expect.set_options(timeout=15_000)


@pytest.fixture
def page(browser):
    context, page, errors = new_page(browser, viewport={"width": 1280, "height": 900})
    uploads: list[str] = []
    page.on("request", lambda request: uploads.append(request.url) if "/upload" in request.url else None)
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"
    assert uploads == [], "a picture went through Gradio's upload route (which writes files)"


def png(size=(160, 120), colour="orange") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return buffer.getvalue()


def test_start_from_your_own_image(page, demo_url):
    open_app(page, demo_url)
    picker = page.get_by_label("Choose a file", exact=False)
    picker.set_input_files({"name": "notes.txt", "mimeType": "text/plain", "buffer": b"not a picture"})
    expect(page.locator("#upload-error")).to_contain_text("not a PNG, JPEG or WebP")
    own = png()
    picker.set_input_files({"name": "mine.png", "mimeType": "image/png", "buffer": own})
    preview = page.get_by_role("img", name="Your starting image")
    expect(preview).to_be_visible()
    expect(page.locator("#upload-error")).to_be_hidden()
    page.get_by_role("button", name="Remove image").click()
    expect(preview).to_be_hidden()
    picker.set_input_files({"name": "mine.png", "mimeType": "image/png", "buffer": own})
    expect(preview).to_be_visible()
    generate(page, "the same, at sunset")
    expect(thumbnails(page)).to_have_count(2)  # your picture, then the one made from it
    thumbnails(page).first.click()
    wait_until_idle(page)
    page.wait_for_function("() => document.querySelector('#image img')?.naturalWidth === 160")
    assert image_bytes(page, main_image(page).get_attribute("src")) == own


def test_paint_a_region_with_the_mouse_and_edit_it(page, demo_url):
    open_app(page, demo_url)
    first = generate(page, "a quiet street")
    toggle = page.get_by_role("button", name="Paint a region")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    canvas = page.locator("#paint-canvas")
    expect(canvas).to_be_visible()
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.5, steps=8)
    page.mouse.up()
    mask = page.evaluate("() => window.hitlStudio.mask()")
    assert mask.startswith("data:image/png;base64,")
    instruction = page.get_by_label("What to change there")
    instruction.fill("a red door")
    instruction.press("Enter")  # Enter in the box submits, like the button
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    expect(main_image(page)).not_to_have_attribute("src", first)
    edited = expect_final_image(page)
    expect_decoded(page, main_image(page))
    before = Image.open(io.BytesIO(image_bytes(page, first))).convert("RGB")
    after = Image.open(io.BytesIO(image_bytes(page, edited))).convert("RGB")
    assert after.size == before.size
    assert before.getpixel((5, before.height - 5)) == after.getpixel((5, after.height - 5))  # unpainted: kept
    centre = (int(before.width * 0.45), int(before.height * 0.4))
    assert before.getpixel(centre) != after.getpixel(centre)  # under the brush: repainted
    button(page, "approve").click()
    expect(button(page, "start-over")).to_be_visible()


def test_a_finger_paints_on_a_phone_without_scrolling_the_page(browser, demo_url):
    """Real touch input (Chrome's own touch events, which become pointer events): the drag paints."""
    context, page, errors = new_page(browser, viewport={"width": 375, "height": 812}, is_mobile=True,
                                      has_touch=True, device_scale_factor=2)
    open_app(page, demo_url)
    generate(page, "a quiet street")
    page.get_by_role("button", name="Paint a region").click()
    canvas = page.locator("#paint-canvas")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    scrolled = page.evaluate("() => window.scrollY")
    touch = context.new_cdp_session(page)
    x, y = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    touch.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for step in range(1, 9):
        touch.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x + step * 10, "y": y}]})
    touch.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    mask = page.evaluate("() => window.hitlStudio.mask()")
    assert mask.startswith("data:image/png;base64,")
    assert page.evaluate("() => window.scrollY") == scrolled  # the finger painted instead of scrolling
    context.close()
    assert errors == []
