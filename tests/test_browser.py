"""The real page in a real browser: chromium (see chromium.py for which) driven by Playwright
against the app launched by conftest's fixtures (the fake OpenAI behind it, or demo mode).

One browser for this file, a new context (fresh cookies, fresh Gradio session) per test.
Waits on the page are `expect(...)` with a timeout; the one wait on the fake server's
counters polls with a deadline. No sleep stands in for an assertion.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from browser import (
    FINAL_SRC,
    PREVIEW_SRC,
    button,
    expect_decoded,
    expect_final_image,
    expect_fits_width,
    expect_no_horizontal_overflow,
    expect_no_injection,
    expect_stage,
    generate,
    generate_button,
    image_bytes,
    image_origin,
    main_image,
    message,
    new_page,
    open_app,
    prompt_box,
    thumbnails,
    wait_until_idle,
)
from helpers import TEST_SETTINGS, start_app, wait_until
from playwright.sync_api import Page, expect
from system_tools import which

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>**bold**'
expect.set_options(timeout=15_000)


# -- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def no_preview_app_url(fake_server, launch) -> str:
    """As conftest's slow_app_url, with partial images off: nothing comes back until the image is done."""
    return launch(**{**TEST_SETTINGS, "request_timeout": 10.0, "total_timeout": 30.0, "partial_images": 0},
                  base_url=fake_server.url)


@pytest.fixture(scope="module")
def ssr_app_url(fake_server):
    """The app as a Space may serve it: Gradio's Node server in front (SSR mode), Python behind."""
    if not os.environ.get("GRADIO_NODE_PATH"):  # which Gradio prefers to node on PATH
        which("node", "install Node.js (Gradio's SSR server runs on it) or set GRADIO_NODE_PATH")
    demo = start_app(launch={"ssr_mode": True}, **TEST_SETTINGS, base_url=fake_server.url)
    node = demo.node_process
    assert node is not None and node.poll() is None, "Gradio did not start its Node server"
    yield demo.local_url  # Node's port
    demo.close()
    node.terminate()
    node.wait(10)


@pytest.fixture
def page(browser):
    """A new desktop-sized tab in its own context; fails the test on any uncaught page error."""
    context, page, errors = new_page(browser, viewport=DESKTOP)
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def phone_page(browser):
    context, page, errors = new_page(browser, viewport=PHONE, is_mobile=True, has_touch=True,
                                      device_scale_factor=2)
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


# -- a. the whole workflow ------------------------------------------------------------
def test_generate_regenerate_select_approve_start_over(page, app_url, fake):
    open_app(page, app_url)
    expect(page.locator("#demo-notice")).to_be_hidden()  # a key is set: not demo mode
    first = generate(page, "a lighthouse at dawn")
    assert image_origin(page, first)[0] == "a lighthouse at dawn"
    expect(page.get_by_role("button", name="Approve", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Regenerate", exact=True)).to_be_visible()
    expect(generate_button(page)).to_be_hidden()
    expect(page.get_by_label("Revised prompt")).to_have_value("a lighthouse at dawn (revised)")
    expect(thumbnails(page)).to_have_count(0)  # one candidate: no gallery yet

    sources = [first]
    for count in (2, 3, 4):
        page.get_by_role("button", name="Regenerate", exact=True).click()
        expect(thumbnails(page)).to_have_count(count)
        wait_until_idle(page)
        expect(main_image(page)).not_to_have_attribute("src", sources[-1])
        src = expect_final_image(page)
        prompt, serial = image_origin(page, src)
        assert prompt == "a lighthouse at dawn"  # the final image, not a "partial ..." preview
        assert serial not in {image_origin(page, s)[1] for s in sources}
        sources.append(src)
    assert fake.attempts == 4

    # Picking an older candidate puts it on screen, and that is the one approved.
    thumbnails(page).nth(1).click()
    expect(main_image(page)).to_have_attribute("src", sources[1])
    page.get_by_role("button", name="Approve", exact=True).click()
    expect(page.get_by_role("heading", name="Approved ✓")).to_be_visible()
    expect(button(page, "start-over")).to_be_visible()
    expect(main_image(page)).to_have_attribute("src", sources[1])
    expect(page.get_by_role("button", name="Regenerate", exact=True)).to_be_hidden()

    button(page, "start-over").click()
    expect(generate_button(page)).to_be_visible()
    expect(prompt_box(page)).to_have_value("a lighthouse at dawn")
    expect(main_image(page)).to_have_count(0)
    assert fake.attempts == 4  # approving and starting over cost no generation


# -- b. one stage's controls at a time -------------------------------------------------
def test_only_the_current_stages_controls_are_visible(page, app_url, fake):
    open_app(page, app_url)
    expect_stage(page, "input")
    generate(page, "stage check")
    expect_stage(page, "review")
    button(page, "approve").click()
    expect(button(page, "start-over")).to_be_visible()
    expect_stage(page, "final")
    button(page, "start-over").click()
    expect(generate_button(page)).to_be_visible()
    expect_stage(page, "input")
    generate(page, "stage check again")
    expect_stage(page, "review")
    button(page, "discard").click()  # the review stage's own Start Over
    expect(generate_button(page)).to_be_visible()
    expect_stage(page, "input")


def test_preview_shows_while_generating_and_cancel_stops_it(page, slow_app_url, fake):
    fake.latency = 4.5  # three steps of 1.5 s: two partial images, then the final one
    open_app(page, slow_app_url)
    prompt_box(page).fill("slow one")
    generate_button(page).click()
    expect(button(page, "cancel")).to_be_visible()
    expect(main_image(page)).to_have_attribute("src", PREVIEW_SRC)
    assert image_origin(page, main_image(page).get_attribute("src"))[0].startswith("partial ")
    button(page, "cancel").click()
    wait_until_idle(page)
    expect_stage(page, "input")
    expect(prompt_box(page)).to_have_value("slow one")
    expect(main_image(page)).to_have_count(0)
    wait_until(lambda: fake.disconnects == 1)  # the upstream request was really dropped

    fake.latency = 0.0  # and the page goes on as if the cancelled run never happened
    prompt_box(page).fill("fast one")
    generate_button(page).click()
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    assert image_origin(page, expect_final_image(page))[0] == "fast one"
    expect(thumbnails(page)).to_have_count(0)


def test_cancel_shows_as_soon_as_the_image_call_starts(page, no_preview_app_url, fake):
    fake.latency = 4.0
    open_app(page, no_preview_app_url)
    prompt_box(page).fill("no previews")
    generate_button(page).click()
    expect(button(page, "cancel")).to_be_visible()  # long before any picture arrives
    wait_until(lambda: fake.attempts == 1)
    button(page, "cancel").click()
    wait_until_idle(page)
    expect_stage(page, "input")
    expect(prompt_box(page)).to_have_value("no previews")
    wait_until(lambda: fake.disconnects == 1)  # the upstream request was really dropped


# -- c. errors keep the work and the controls -------------------------------------------
def test_error_keeps_the_prompt_and_the_controls_usable(page, app_url, fake):
    open_app(page, app_url)
    fake.fail_next("moderation")
    prompt_box(page).fill("a risky idea")
    generate_button(page).click()
    expect(message(page)).to_have_value(re.compile("safety system"))
    expect(page.get_by_text("Error", exact=True)).to_have_count(0)  # no Gradio error overlay
    expect_stage(page, "input")
    expect(prompt_box(page)).to_have_value("a risky idea")
    expect(prompt_box(page)).to_be_editable()
    expect(generate_button(page)).to_be_enabled()
    expect(main_image(page)).to_have_count(0)

    # The user edits the prompt and tries again; real clicks, so an overlay would block them.
    prompt_box(page).press("End")
    prompt_box(page).press_sequentially(", gentler")
    generate_button(page).click()
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    assert image_origin(page, expect_final_image(page))[0] == "a risky idea, gentler"
    expect(message(page)).to_be_hidden()


def test_error_during_review_keeps_the_image_on_screen(page, app_url, fake):
    open_app(page, app_url)
    good = generate(page, "keep me")
    fake.fail_next("moderation")
    button(page, "regenerate").click()
    expect(message(page)).to_have_value(re.compile("safety system"))
    wait_until_idle(page)
    expect(main_image(page)).to_have_attribute("src", good)
    expect_stage(page, "review")
    expect(thumbnails(page)).to_have_count(0)  # the failure added no candidate

    button(page, "regenerate").click()  # still usable, and now it works
    expect(thumbnails(page)).to_have_count(2)
    expect(message(page)).to_be_hidden()
    wait_until_idle(page)
    expect(main_image(page)).not_to_have_attribute("src", good)


def test_feedback_is_kept_when_refine_fails_and_cleared_when_it_succeeds(page, app_url, fake):
    open_app(page, app_url)
    generate(page, "a harbour")
    feedback = page.get_by_label("Feedback", exact=True)
    feedback.fill("make it night")
    fake.fail_next("moderation")
    button(page, "refine").click()
    expect(message(page)).to_have_value(re.compile("safety system"))
    wait_until_idle(page)
    expect(feedback).to_have_value("make it night")  # a failure keeps it, to try again

    button(page, "refine").click()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    expect(feedback).to_have_value("")  # used: the new candidate's caption holds it
    page.reload()  # and no draft of it comes back
    expect(button(page, "approve")).to_be_visible()
    expect(thumbnails(page)).to_have_count(2)
    expect(feedback).to_have_value("")


# -- d. keyboard ----------------------------------------------------------------------------
def test_enter_generates_and_shift_enter_adds_a_line(page, app_url, fake):
    open_app(page, app_url)
    box = prompt_box(page)
    box.fill("line one")
    box.press("Shift+Enter")
    box.press_sequentially("line two")
    expect(box).to_have_value("line one\nline two")
    box.press("Enter")
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    assert image_origin(page, expect_final_image(page))[0] == "line one\nline two"
    # Had Shift+Enter submitted, "line one" alone would have been sent first.
    assert [r.body["input"] for r in fake.requests] == ["line one\nline two"]


# -- e. phone -----------------------------------------------------------------------------------
def test_phone_layout_fits_and_the_flow_works(phone_page, app_url, fake):
    page = phone_page
    open_app(page, app_url)
    expect_fits_width(page, prompt_box(page), PHONE["width"])
    expect_fits_width(page, generate_button(page), PHONE["width"])
    expect_no_horizontal_overflow(page, PHONE["width"])

    prompt_box(page).fill("a paper boat")
    generate_button(page).tap()
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    main_image(page).scroll_into_view_if_needed()
    expect_fits_width(page, main_image(page), PHONE["width"])
    for elem_id in ("approve", "regenerate"):
        expect_fits_width(page, button(page, elem_id), PHONE["width"])
    expect_no_horizontal_overflow(page, PHONE["width"])

    button(page, "regenerate").tap()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    expect_no_horizontal_overflow(page, PHONE["width"])
    button(page, "approve").tap()
    expect_fits_width(page, button(page, "start-over"), PHONE["width"])
    expect_fits_width(page, main_image(page), PHONE["width"])
    expect_no_horizontal_overflow(page, PHONE["width"])


# -- f. accessibility --------------------------------------------------------------------------
def test_images_have_alt_text(page, app_url, fake):
    open_app(page, app_url)
    generate(page, "described")
    expect(main_image(page)).to_have_attribute("alt", re.compile(r"\S"))
    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    for thumb in thumbnails(page).locator("img").all():
        expect(thumb).to_have_attribute("alt", re.compile(r"\S"))


# -- g. user text is inert -----------------------------------------------------------------------
def test_markup_in_the_prompt_is_shown_as_text(page, app_url, fake):
    open_app(page, app_url)
    generate(page, XSS)
    expect(page.get_by_label("Revised prompt")).to_have_value(XSS + " (revised)")
    expect(page.get_by_label("Revised prompt")).to_be_visible()
    expect_no_injection(page)
    button(page, "discard").click()
    expect(prompt_box(page)).to_have_value(XSS)

    fake.fail_next("refusal")
    generate_button(page).click()
    expect(message(page)).to_have_value(re.compile("can't help"))
    wait_until_idle(page)
    expect(prompt_box(page)).to_have_value(XSS)
    expect_no_injection(page)


# -- h. demo mode -------------------------------------------------------------------------------
def test_demo_mode_page_shows_the_notice_and_works(page, demo_url):
    open_app(page, demo_url)
    notice = page.locator("#demo-notice")
    expect(notice).to_be_visible()
    expect(notice).to_contain_text("Demo mode")
    first = generate(page, "a paper boat")
    assert image_bytes(page, first).startswith(b"\x89PNG\r\n\x1a\n")  # a real picture, drawn locally
    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    expect(main_image(page)).not_to_have_attribute("src", first)
    second = main_image(page).get_attribute("src")
    button(page, "approve").click()
    expect(button(page, "start-over")).to_be_visible()
    expect(main_image(page)).to_have_attribute("src", second)
    button(page, "start-over").click()
    expect(prompt_box(page)).to_have_value("a paper boat")
    expect(generate_button(page)).to_be_visible()


# -- behind Gradio's Node server (SSR mode), as on a Space -------------------------------------
def test_images_come_through_the_node_server(page, ssr_app_url, fake):
    open_app(page, ssr_app_url)
    first = generate(page, "server-side rendered")  # loaded and decoded by the browser, via Node
    assert image_origin(page, first)[0] == "server-side rendered"
    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    for thumb in thumbnails(page).locator("img").all():  # the gallery's images load too
        expect_decoded(page, thumb)
    thumbnails(page).nth(0).click()
    expect(main_image(page)).to_have_attribute("src", first)


# -- download, straight from the page's memory ---------------------------------------------
def test_download_gives_the_approved_image_bytes(page, app_url, fake):
    open_app(page, app_url)
    generate(page, "download me")
    button(page, "approve").click()
    expect(page.get_by_role("heading", name="Approved ✓")).to_be_visible()
    src = main_image(page).get_attribute("src")
    with page.expect_download() as download_info:
        page.locator("#image").get_by_role("link", name="Download image").click()  # the toolbar's one Tab stop
    download = download_info.value
    with open(download.path(), "rb") as saved:
        assert saved.read() == image_bytes(page, src)
    assert download.suggested_filename == "download-me-1.png"  # named after the prompt and the number


# -- g. one action at a time, progress, selection, undo, keyboard, phone (issue 13) ----------------
BUSY = "An image is being made: wait for it, or click Cancel."


def test_approve_and_enter_while_an_image_is_made_are_refused(page, slow_app_url, fake):
    open_app(page, slow_app_url)
    fake.latency = 2.0
    prompt_box(page).fill("one at a time")
    generate_button(page).click()
    expect(button(page, "cancel")).to_be_visible()
    prompt_box(page).press("Enter")  # a second paid generation, if it were allowed (the server refuses too)
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    assert fake.attempts == 1
    first = expect_final_image(page)

    button(page, "regenerate").click()
    expect(button(page, "cancel")).to_be_visible()
    button(page, "approve").click()
    expect(message(page)).to_have_value(BUSY)
    expect(page.locator("#stage-final")).to_be_hidden()
    wait_until_idle(page)
    expect(message(page)).to_be_hidden()  # the refusal does not outlive the run
    expect(thumbnails(page)).to_have_count(2)
    regenerated = expect_final_image(page)
    assert regenerated != first
    button(page, "approve").click()
    expect(page.locator("#stage-final")).to_be_visible()
    assert image_origin(page, expect_final_image(page)) == image_origin(page, regenerated)


def test_progress_says_what_is_happening_from_the_click(page, slow_app_url, fake):
    open_app(page, slow_app_url)
    fake.latency = 3.0
    prompt_box(page).fill("progress please")
    generate_button(page).click()
    progress = page.locator("#progress [role=status]")
    expect(progress).to_contain_text(re.compile(r"Making your image|preview 1 of 2"))
    expect(progress).to_contain_text("preview 1 of 2")
    expect(progress.locator(".elapsed")).to_have_text(re.compile(r"^[1-9]\d* s$"))
    wait_until_idle(page)
    expect(progress).to_have_count(0)


def test_the_candidate_on_screen_is_marked(page, app_url, fake):
    open_app(page, app_url)
    generate(page, "marked")
    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    current = page.locator('#gallery button[aria-current="true"]')
    expect(current).to_have_count(1)
    expect(current).to_have_accessible_name(re.compile(r"on screen \(thumbnail 2 of 2\)"))
    thumbnails(page).first.click()
    expect(current).to_have_accessible_name(re.compile(r"on screen \(thumbnail 1 of 2\)"))
    page.get_by_label("Feedback", exact=True).fill("make it blue")
    button(page, "refine").click()
    expect(thumbnails(page)).to_have_count(3)
    expect(current).to_have_count(1)
    expect(current).to_have_accessible_name(re.compile(r"on screen \(thumbnail 3 of 3\)"))


def two_candidates(page: Page, text: str) -> str:
    """Generate, then Regenerate once; returns the src of the second (final) image on screen."""
    generate(page, text)
    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    return expect_final_image(page)


def test_start_over_can_be_undone(page, app_url, fake):
    open_app(page, app_url)
    shown = two_candidates(page, "keep me")
    button(page, "discard").click()
    expect(generate_button(page)).to_be_visible()
    undo = button(page, "undo")
    expect(undo).to_be_visible()
    undo.click()
    expect(button(page, "approve")).to_be_visible()
    expect(thumbnails(page)).to_have_count(2)
    expect(main_image(page)).to_have_attribute("src", shown)
    expect(undo).to_be_hidden()


def focused_id(page: Page) -> str:
    return page.evaluate("document.activeElement.id || document.activeElement.closest('[id]')?.id || ''")


def test_keyboard_only_flow_with_visible_focus(page, app_url, fake):
    open_app(page, app_url)
    page.keyboard.type("keyboard only")  # the prompt has focus on load
    page.keyboard.press("Enter")
    expect(button(page, "approve")).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineWidth")
    assert float(outline.removesuffix("px")) >= 3, outline  # a ring you can see
    page.keyboard.press("Enter")  # Approve
    download = page.get_by_role("link", name="Download", exact=True)
    expect(download).to_be_focused()
    for _ in range(3):  # past the decision log's two links
        page.keyboard.press("Tab")
    expect(button(page, "reopen")).to_be_focused()
    page.keyboard.press("Tab")
    expect(button(page, "start-over")).to_be_focused()
    page.keyboard.press("Enter")
    expect(prompt_box(page)).to_be_focused()


def test_the_approved_image_has_a_visible_download_button(page, app_url, fake):
    open_app(page, app_url)
    generate(page, "download me")
    button(page, "approve").click()
    download = page.get_by_role("link", name="Download", exact=True)
    expect(download).to_be_visible()
    box = download.bounding_box()
    assert box["height"] >= 44 and box["width"] >= 44, box
    with page.expect_download() as saved:
        download.click()
    assert image_origin(page, expect_final_image(page))[0] == "download me"
    assert saved.value.suggested_filename == "download-me-1.png"
    with page.expect_download() as log:
        page.get_by_role("link", name="Markdown", exact=True).click()
    assert log.value.suggested_filename == "decision-log.md"
    assert "Prompt: download me" in Path(log.value.path()).read_text(encoding="utf-8")


def test_phone_review_fits_one_screen_with_44px_targets(phone_page, app_url, fake):
    page = phone_page
    open_app(page, app_url)
    generate(page, "phone first")
    button(page, "regenerate").tap()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    page.evaluate("window.scrollTo(0, 0)")
    image, approve, regenerate = (main_image(page).bounding_box(), button(page, "approve").bounding_box(),
                                  button(page, "regenerate").bounding_box())
    assert image["y"] >= 0 and max(approve["y"] + approve["height"], regenerate["y"] + regenerate["height"]) \
        <= PHONE["height"], (image, approve, regenerate)
    for target in (button(page, "approve"), button(page, "regenerate"), button(page, "discard"),
                   *page.locator("#image button").all()):
        box = target.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, (target, box)
    gallery = page.locator("#gallery .grid-container").bounding_box()
    newest = thumbnails(page).last.bounding_box()
    assert newest["x"] + newest["width"] <= gallery["x"] + gallery["width"], "the newest candidate is off to the side"


# -- h. a reload loses nothing; prompt history (issue 16) -------------------------------------------
def test_a_reload_brings_back_the_stage_the_candidates_and_the_approval(page, app_url, fake):
    open_app(page, app_url)
    shown = image_origin(page, two_candidates(page, "survive a reload"))
    page.reload()
    expect(button(page, "approve")).to_be_visible()
    expect(thumbnails(page)).to_have_count(2)
    assert image_origin(page, expect_final_image(page)) == shown
    button(page, "approve").click()
    expect(page.locator("#stage-final")).to_be_visible()
    page.reload()
    expect(page.locator("#stage-final")).to_be_visible()
    assert image_origin(page, expect_final_image(page)) == shown
    assert fake.attempts == 2  # nothing was made again


def test_another_browser_or_a_forged_token_gets_a_fresh_session(browser, page, app_url, fake):
    open_app(page, app_url)
    generate(page, "mine alone")
    stranger, other, _ = new_page(browser, viewport=DESKTOP)
    try:
        open_app(other, app_url)
        expect(generate_button(other)).to_be_visible()
        expect(button(other, "approve")).to_be_hidden()
        # A token made up in the browser's storage is refused the same way.
        other.evaluate("() => { for (const k of Object.keys(localStorage)) localStorage.setItem(k, 'forged'); }")
        other.reload()
        expect(generate_button(other)).to_be_visible()
        expect(main_image(other)).to_have_count(0)
    finally:
        stranger.close()


def test_recent_prompts_are_offered_and_can_be_cleared(page, app_url, fake):
    open_app(page, app_url)
    for text in ("first prompt", "second prompt"):
        generate(page, text)
        button(page, "discard").click()
        expect(generate_button(page)).to_be_visible()
    page.reload()
    expect(prompt_box(page)).to_have_value("second prompt")  # the page load is in: the session's prompt is back
    generate(page, "third prompt")  # after a reload: the kept prompts are added to, not replaced
    button(page, "discard").click()
    expect(generate_button(page)).to_be_visible()
    page.reload()
    recent = page.get_by_label("Recent prompts")
    recent.click()
    expect(page.get_by_role("option")).to_have_count(3)
    expect(page.get_by_role("option").first).to_contain_text("third prompt")  # newest first
    page.get_by_role("option", name="first prompt").click()
    expect(prompt_box(page)).to_have_value("first prompt")
    button(page, "forget").click()
    page.get_by_label("Recent prompts").click()
    expect(page.get_by_role("option")).to_have_count(0)
    page.reload()  # and it stays forgotten
    page.get_by_label("Recent prompts").click()
    expect(page.get_by_role("option")).to_have_count(0)


# -- i. keyboard first (issue 15) ------------------------------------------------------------------
def test_keyboard_shortcuts_review_and_never_fire_while_typing(page, app_url, fake):
    open_app(page, app_url)
    expect(page.locator("#keys")).to_be_hidden()  # the hint belongs to review
    prompt_box(page).fill("keys only")
    prompt_box(page).press("Control+Enter")
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    expect(page.locator("#keys")).to_contain_text("approve")
    feedback = page.get_by_label("Feedback", exact=True)
    feedback.fill("r and a stay letters here")  # typing: no shortcut fires
    expect(feedback).to_have_value("r and a stay letters here")
    assert fake.attempts == 1
    page.locator("body").click(position={"x": 5, "y": 5})  # leave the text box
    page.keyboard.press("r")
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    current = page.locator('#gallery button[aria-current="true"]')
    expect(current).to_have_accessible_name(re.compile(r"thumbnail 2 of 2"))
    page.keyboard.press("ArrowLeft")
    expect(current).to_have_accessible_name(re.compile(r"thumbnail 1 of 2"))
    first = expect_final_image(page)
    page.keyboard.press("a")
    expect(page.locator("#stage-final")).to_be_visible()
    assert image_origin(page, expect_final_image(page)) == image_origin(page, first)


def test_escape_cancels_even_from_the_prompt_box(page, slow_app_url, fake):
    open_app(page, slow_app_url)
    fake.latency = 4.0
    prompt_box(page).fill("stop me")
    prompt_box(page).press("Enter")
    expect(button(page, "cancel")).to_be_visible()
    expect(prompt_box(page)).to_be_focused()  # focus stays where the user typed
    page.keyboard.press("Escape")
    wait_until_idle(page)
    expect(generate_button(page)).to_be_visible()
    wait_until(lambda: fake.disconnects == 1)


def test_several_images_at_once_then_compare_two_and_approve_the_right_one(page, slow_app_url, fake):
    fake.latency = 2.0
    open_app(page, slow_app_url)
    prompt_box(page).fill("a kite")
    page.locator("#count").get_by_label("3", exact=True).check()
    generate_button(page).click()
    expect(page.locator("#gallery .caption-label", has_text="new 3")).to_be_visible()  # a tile each, while drawn
    expect(button(page, "approve")).to_be_visible()
    wait_until_idle(page)
    expect(thumbnails(page)).to_have_count(3)
    assert fake.attempts == 3
    expect(page.locator("#regenerate-count").get_by_label("3", exact=True)).to_be_checked()  # the same count
    expect(page.locator("#batch img")).to_have_count(3)  # the three as a grid: the picture
    expect(main_image(page)).to_be_hidden()
    page.keyboard.press("c")  # compare: the one on screen (#3) and the newest other (#2), next to each other
    pair = page.locator("#image img, #beside img")
    expect(pair).to_have_count(2)
    expect(page.locator("#batch")).to_be_hidden()
    thumbnails(page).nth(0).click()  # while comparing, a thumbnail goes to the right
    expect(thumbnails(page).nth(0)).to_have_accessible_name(re.compile(r"^#1 · .*beside it"))
    for side in range(2):
        expect(pair.nth(side)).to_have_attribute("src", FINAL_SRC)
        expect_decoded(page, pair.nth(side))
    first = page.locator("#beside img").get_attribute("src")
    button(page, "approve-right").click()
    expect_stage(page, "final")
    assert expect_final_image(page) == first
