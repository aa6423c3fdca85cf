"""Your own pictures in a real browser (chromium via Playwright, see tests/browser.py): pick a starting
image, generate from it; paint a region with the mouse and edit it. The picked file is handed to the
page from memory (no file on disk), and the page sends it as a data: URL, never through an upload."""

from __future__ import annotations

import io
import re

import pytest
from browser import (
    button,
    expect_stage,
    generate_button,
    message,
    prompt_box,
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


# -- messages: checked when picked, beside their cause, gone once it is fixed, no layout jump ------------------
def tops(page) -> dict:
    """Where the prompt, the picture input and what follows them are (page coordinates; never scrolled here)."""
    boxes = {selector: page.locator(selector).bounding_box() for selector in ("#prompt textarea", ".hitl-upload-drop",
                                                                              "#recent-row", "#count")}
    assert page.evaluate("window.scrollY") == 0 and all(boxes.values()), boxes
    return {selector: (box["y"], box["height"]) for selector, box in boxes.items()}


def paste(page, data: bytes, name: str = "pasted.png") -> None:
    """Ctrl+V of a picture, as the clipboard hands it to the page: a File in the paste event."""
    page.evaluate("""([bytes, name]) => {
        const files = new DataTransfer();
        files.items.add(new File([new Uint8Array(bytes)], name, { type: "image/png" }));
        document.dispatchEvent(new ClipboardEvent("paste", { clipboardData: files, bubbles: true }));
    }""", [list(data), name])


def test_a_picture_is_checked_as_it_is_picked_beside_the_picker_without_moving_anything(page, demo_url):
    open_app(page, demo_url)
    picker, error = page.get_by_label("Choose a file", exact=False), page.locator("#upload-error")
    before = tops(page)
    for name, data, said in (
            ("notes.png", b"a text file that claims to be a PNG", "“notes.png” is not a PNG, JPEG or WebP picture."),
            ("wide.png", png((5000, 20)), "“wide.png” is 5000 × 20 pixels; the limit is 4096 on each side."),
            ("huge.png", png()[:16] + bytes(10 * 1024 * 1024), "“huge.png” is 10.0 MB; the limit is 10 MB.")):
        picker.set_input_files({"name": name, "mimeType": "image/png", "buffer": data})
        expect(error).to_have_text(re.compile("^" + re.escape(said)))
        expect(page.locator("#upload-hint")).to_be_hidden()  # the message takes the hint's place
        assert page.evaluate("window.hitlStudio.upload()") == ""  # refused: nothing to send
        assert tops(page) == before, name
    paste(page, png())
    expect(error).to_be_hidden()  # a good picture pasted: the message about the last one goes
    expect(page.get_by_role("img", name="Your starting image")).to_be_visible()
    expect(page.locator("#upload-hint")).to_be_visible()
    assert page.evaluate("window.hitlStudio.upload()").startswith("data:image/png;base64,")


def test_a_message_goes_when_its_cause_is_fixed_and_comes_and_goes_without_a_jump(page, demo_url):
    open_app(page, demo_url)
    before = tops(page)
    generate_button(page).click()  # no prompt
    expect(message(page)).to_have_value(re.compile("prompt is empty"))
    assert tops(page) == before  # its place was kept for it
    prompt_box(page).fill("a kite")
    expect(message(page)).to_be_hidden()  # typed: the cause is gone
    prompt_box(page).fill("  ")
    expect(message(page)).to_be_visible()  # blank again: so is the message
    page.get_by_label("Choose a file", exact=False).set_input_files(
        {"name": "mine.png", "mimeType": "image/png", "buffer": png()})
    expect(message(page)).to_be_hidden()  # a picture picked: the empty prompt is no longer the news
    generate_button(page).click()  # still no prompt: said again, so shown again
    expect(message(page)).to_be_visible()
    above_the_preview = ("#prompt textarea", ".hitl-upload-drop", "#count")  # the picked picture's preview moves
    assert {k: v for k, v in tops(page).items() if k in above_the_preview} == \
        {k: v for k, v in before.items() if k in above_the_preview}


def test_the_servers_word_on_a_picture_shows_beside_the_picker(page, demo_url):
    """A picture the page let through (here handed over as is) is checked again on the server; what it says
    shows in the picker, not at the top, and goes when another picture is picked."""
    open_app(page, demo_url)
    page.evaluate("window.hitlStudio.upload = () => 'data:image/png;base64,' + btoa('not a picture at all')")
    prompt_box(page).fill("a kite")
    before = tops(page)
    generate_button(page).click()
    error = page.locator("#upload-error")
    expect(error).to_have_text("The image is not a PNG, JPEG or WebP picture (or the file is damaged).")
    expect(message(page)).to_be_hidden()  # said once, beside its cause
    expect_stage(page, "input")
    assert tops(page) == before
    paste(page, png())
    expect(error).to_be_hidden()
