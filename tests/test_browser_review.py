"""Send for review in a real browser (issue 27): the owner and the reviewer in two browser contexts (two
people, two browsers), against the launched app and the fake OpenAI.

The reviewer watches a candidate arrive live, approves, asks for changes; the owner's page shows the verdict
by its watch alone (nothing reloads it); a revoked link stops at once; nothing on the reviewer's page, nor
any event its tab can send, spends the owner's money. Then the reviewer's page by keyboard alone, on a phone
(measured in the viewport, never scrolled) and under axe-core, light and dark. Waits are `expect(...)`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from browser import (
    FINAL_SRC,
    PREVIEW_SRC,
    button,
    expect_decoded,
    generate,
    image_origin,
    main_image,
    new_page,
    open_app,
)
from gradio_client import Client
from playwright.sync_api import Browser, Locator, Page, expect
from test_a11y import FAILING_IMPACTS, axe_script, axe_violations, report
from test_review_page import OPTIONS, Reviewer, owner_in_review, value
from test_review_page import send_for_review as send_token

from hitl.core.review import INVALID
from hitl.web import events as page_events

DESKTOP = {"viewport": {"width": 1280, "height": 900}}
SIZES = {
    "desktop": DESKTOP,
    "laptop-1280x720": {"viewport": {"width": 1280, "height": 720}},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True,
              "device_scale_factor": 3},
}
SCHEMES = ["light", "dark"]
APPROVED = "✓ Approved by you. Thank you!"
SENT = re.compile(r"^Sent: the owner sees your request")
# Every control on the reviewer's page besides the thumbnails: look, approve, ask for changes; nothing else.
ONLY_CONTROLS = ["BUTTON Fullscreen", "BUTTON The candidate under review", "BUTTON Approve this",
                 "TEXTAREA What should change?", "BUTTON Ask for changes"]
THUMBNAIL = re.compile(r"^BUTTON #\d+ .*\(thumbnail \d+ of \d+\)$")
expect.set_options(timeout=20_000)


@contextmanager
def person(browser: Browser, **options) -> Iterator[Page]:
    """One person's browser (a context of their own: their own session), closed after; no uncaught error."""
    context, page, errors = new_page(browser, **options)
    try:
        yield page
    finally:
        context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


def send_for_review(owner: Page) -> str:
    """The owner opens Send for review and sends: the absolute link shown once."""
    owner.locator("#send-review").get_by_text("Send for review").first.click()  # the panel's header
    button(owner, "send-review-link").click()
    link = owner.get_by_role("textbox", name="Review link", exact=True)  # named, though its label names the copy button
    expect(link).to_have_value(re.compile(r"^http://[^#]+/review#[\w-]{43}$"))
    return link.input_value()


def scripted_owner(url: str, prompts: int = 2) -> tuple[Client, str]:
    """An owner by script (quicker than a page): `prompts` candidates and a review link for them."""
    owner = Client(url, verbose=False)
    owner.predict("a fox for the art director", api_name="/generate")
    for _ in range(prompts - 1):
        owner.predict(api_name="/regenerate")
    return owner, url + owner.predict(60, False, api_name="/review_link")


def open_review(page: Page, link: str) -> None:
    page.goto(link)
    expect(button(page, "review-approve")).to_be_enabled()
    expect_decoded(page, page.locator("#review-image img"))


def tiles(page: Page) -> Locator:
    return page.locator("#review-gallery").get_by_role("button", name=re.compile(r"thumbnail \d+ of \d+", re.I))


def review_message(page: Page) -> Locator:
    return page.locator("#review-message").get_by_label("Message")


def token_of(link: str) -> str:
    return link.split("#", 1)[1]


# -- two people, live ----------------------------------------------------------------------------------------

def test_the_reviewer_watches_a_new_candidate_arrive_and_approves_it_and_the_owner_sees_it(browser, slow_app_url,
                                                                                          fake):
    with person(browser, **DESKTOP) as owner, person(browser, **DESKTOP) as reviewer:
        open_app(owner, slow_app_url)
        generate(owner, "a fox for the art director")
        open_review(reviewer, send_for_review(owner))
        expect(tiles(reviewer)).to_have_count(1)

        fake.latency = 4.0  # slow enough for the previews to be seen
        button(owner, "regenerate").click()  # made after the reviewer opened the link
        expect(reviewer.locator("#review-progress .progress")).to_have_text("Making 1 image(s)…")
        expect(button(reviewer, "review-approve")).to_be_disabled()  # nothing to decide while it is drawn
        drawing = reviewer.locator("#review-gallery img").nth(1)
        expect(drawing).to_have_attribute("src", PREVIEW_SRC)  # a preview, live
        assert image_origin(reviewer, drawing.get_attribute("src"))[0].startswith("partial ")
        expect(tiles(reviewer).nth(1)).to_have_accessible_name(re.compile(r"^#2 · regenerate of #1 · \$"))
        expect(button(reviewer, "review-approve")).to_be_enabled()
        shown = reviewer.locator("#review-image img")
        expect(shown).to_have_attribute("src", FINAL_SRC)  # the owner's newest, as the owner sees it
        expect(reviewer.locator("#review-caption")).to_contain_text("#2 · regenerate of #1 · cost $")
        expect_decoded(reviewer, shown)
        approved = image_origin(reviewer, shown.get_attribute("src"))

        button(reviewer, "review-approve").click()
        expect(review_message(reviewer)).to_have_value(APPROVED)
        expect(owner.locator("#stage-final")).to_be_visible()  # the owner's page, by its watch alone
        expect(owner.locator("#review-verdict")).to_have_text("✓ Approved by the reviewer.")
        expect(main_image(owner)).to_have_attribute("src", FINAL_SRC)
        expect_decoded(owner, main_image(owner))
        assert image_origin(owner, main_image(owner).get_attribute("src")) == approved


def test_a_request_for_changes_appears_for_the_owner_and_one_click_puts_it_into_refine(browser, app_url, fake):
    with person(browser, **DESKTOP) as owner, person(browser, **DESKTOP) as reviewer:
        open_app(owner, app_url)
        generate(owner, "a fox, twice")
        button(owner, "regenerate").click()
        expect(owner.locator("#gallery img")).to_have_count(2)
        first = image_origin(owner, owner.locator("#gallery img").first.get_attribute("src"))
        open_review(reviewer, send_for_review(owner))

        tiles(reviewer).first.click()  # the reviewer looks at #1 (the owner shows #2)
        expect(reviewer.locator("#review-caption")).to_have_text("#1 · cost $0.055")
        reviewer.get_by_label("What should change?").fill("Warmer <b>light</b>, please")
        button(reviewer, "review-ask").click()
        expect(review_message(reviewer)).to_have_value(SENT)
        expect(reviewer.get_by_label("What should change?")).to_have_value("")

        verdict = owner.locator("#review-verdict")
        expect(verdict).to_have_text("The reviewer asks for changes to #1: Warmer <b>light</b>, please")
        expect(verdict.locator("b")).to_have_count(0)  # the comment is text, never markup
        button(owner, "use-request").click()
        expect(owner.get_by_label("Feedback", exact=True)).to_have_value("Warmer <b>light</b>, please")
        expect(main_image(owner)).to_have_attribute("src", FINAL_SRC)
        expect_decoded(owner, main_image(owner))
        assert image_origin(owner, main_image(owner).get_attribute("src")) == first  # Refine acts on #1
        expect(button(owner, "refine")).to_be_enabled()


def test_a_revoked_link_stops_working_at_once(browser, app_url, fake, monkeypatch):
    # "At once": the open page hears of it from the revoke itself, never from its watch's idle ping.
    monkeypatch.setattr(page_events, "WATCH_PING", 3600.0)
    with person(browser, **DESKTOP) as owner, person(browser, **DESKTOP) as reviewer:
        open_app(owner, app_url)
        generate(owner, "a fox, then a change of mind")
        link = send_for_review(owner)
        open_review(reviewer, link)
        script = Client(app_url, verbose=False)
        key = script.predict(token_of(link), api_name="/review_view")["candidates"][0]["key"]

        button(owner, "revoke-review").click()
        expect(review_message(reviewer)).to_have_value(INVALID)  # the open page, at once
        for gone in (button(reviewer, "review-approve"), button(reviewer, "review-ask"),
                     reviewer.locator("#review-image"), reviewer.locator("#review-gallery")):
            expect(gone).to_be_hidden()
        assert script.predict(token_of(link), key, api_name="/review_approve") == INVALID
        assert script.predict(token_of(link), key, "one more", api_name="/review_request_changes") == INVALID

        reviewer.reload()  # the same link, opened again: the plain page, nothing of the session
        expect(review_message(reviewer)).to_have_value(INVALID)
        expect(reviewer.locator("img:not(footer img)")).to_have_count(0)
        expect(button(owner, "approve")).to_be_enabled()  # the owner's work is untouched, still in review
        expect(owner.locator("#review-status")).to_have_text("")


# -- nothing that spends money -------------------------------------------------------------------------------

def controls(page: Page) -> list[str]:
    """Every control on screen outside Gradio's footer, as "TAG name" ("BUTTON Approve this")."""
    return page.evaluate("""() => [...document.querySelectorAll('button, input, textarea, select, a[href]')]
        .filter(e => !e.closest('footer') && e.checkVisibility())
        .map(e => `${e.tagName} ${e.getAttribute('aria-label') || e.labels?.[0]?.innerText || e.innerText
                                   || e.querySelector('img')?.alt}`)""")


def test_the_reviewer_page_offers_nothing_that_spends_money(browser, app_url, fake):
    _, link = scripted_owner(app_url)
    with person(browser, **DESKTOP) as reviewer:
        open_review(reviewer, link)
        shown = controls(reviewer)
        assert [c for c in shown if not THUMBNAIL.match(c)] == ONLY_CONTROLS, shown  # no key, prompt or Generate
        assert len(shown) == len(ONLY_CONTROLS) + 2  # a thumbnail per candidate


def test_nothing_a_reviewers_tab_can_send_makes_an_image(app_url, fake):
    """Through the protocol: every event of the reviewer's page, the reviewer's API, and the owner's page
    events sent from the reviewer's tab (which has no session of the owner's to act on)."""
    owner, link = scripted_owner(app_url)
    calls = len(fake.requests)
    tab = Reviewer(app_url)
    assert len(value(tab, tab.open(token_of(link)), "review-gallery")) == 2
    tab.click("regenerate", *OPTIONS)  # the owner's events, from the reviewer's tab
    tab.click("refine", "make it night", *OPTIONS[1:])
    script = Client(app_url, verbose=False)
    key = script.predict(token_of(link), api_name="/review_view")["candidates"][0]["key"]
    assert script.predict(token_of(link), key, "Make it night", api_name="/review_request_changes") == ""
    assert value(tab, tab.click("review-approve"), "review-message") == APPROVED
    assert len(fake.requests) == calls, fake.requests[calls:]
    decisions = owner.predict(api_name="/history")["decisions"]
    assert [(d["decision"], d["by"]) for d in decisions] == [("changes requested", "reviewer"),
                                                             ("approved", "reviewer")]


# -- keyboard, phone, axe ------------------------------------------------------------------------------------

def focus_ring(page: Page) -> dict:
    """The focused element's outline, once its transitions are over, and the page's background behind it."""
    return page.evaluate("""async () => {
        const el = document.activeElement;
        await Promise.allSettled(el.getAnimations().map(a => a.finished));
        const style = getComputedStyle(el);
        let behind = el.parentElement, background = 'rgba(0, 0, 0, 0)';
        while (behind && (background = getComputedStyle(behind).backgroundColor) === 'rgba(0, 0, 0, 0)')
            behind = behind.parentElement;
        return {id: el.id, visible: el.matches(':focus-visible'), style: style.outlineStyle,
                width: parseFloat(style.outlineWidth), color: style.outlineColor, background};
    }""")


def contrast(one: str, two: str) -> float:
    """WCAG contrast ratio of two computed `rgb(...)` colours."""
    def luminance(color: str) -> float:
        channels = [int(c) / 255 for c in re.findall(r"\d+", color)[:3]]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b
    light, dark = sorted((luminance(one), luminance(two)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def tab_to(page: Page, elem_id: str, key: str = "Tab", limit: int = 12) -> None:
    """Press `key` until focus is on `elem_id`; then its focus ring is there and can be seen (3 px, 3:1)."""
    for _ in range(limit):
        page.keyboard.press(key)
        ring = focus_ring(page)
        if ring["id"] == elem_id:
            break
    assert ring["id"] == elem_id, f"{key} never reached #{elem_id}"
    assert ring["visible"] and ring["style"] == "solid" and ring["width"] >= 3, ring
    assert contrast(ring["color"], ring["background"]) >= 3, ring


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_reviewer_decides_by_keyboard_alone(browser, app_url, fake, scheme):
    _, link = scripted_owner(app_url)
    with person(browser, **DESKTOP, color_scheme=scheme) as reviewer:
        open_review(reviewer, link)
        tab_to(reviewer, "review-approve")
        reviewer.keyboard.press("Tab")
        expect(reviewer.get_by_label("What should change?")).to_be_focused()
        reviewer.keyboard.type("A wider crop")
        tab_to(reviewer, "review-ask")
        reviewer.keyboard.press("Space")
        expect(review_message(reviewer)).to_have_value(SENT)
        tab_to(reviewer, "review-approve", "Shift+Tab")
        reviewer.keyboard.press("Enter")
        expect(review_message(reviewer)).to_have_value(APPROVED)


def in_view(page: Page, locator: Locator) -> dict:
    """The element's box, wholly inside the window as it is (the page never scrolled)."""
    expect(locator).to_be_visible()
    box, view = locator.bounding_box(), page.viewport_size
    assert box is not None and view is not None
    assert box["x"] >= 0 and box["y"] >= 0, (locator, box)
    assert box["x"] + box["width"] <= view["width"] + 0.5 and box["y"] + box["height"] <= view["height"] + 0.5, \
        (locator, box, view)
    return box


@pytest.mark.parametrize("size", ["phone", "laptop-1280x720"])
def test_the_candidate_and_both_decisions_fit_one_screen(browser, app_url, fake, size):
    _, link = scripted_owner(app_url)
    with person(browser, **SIZES[size]) as reviewer:
        open_review(reviewer, link)
        picture = in_view(reviewer, reviewer.locator("#review-image img"))
        assert min(picture["width"], picture["height"]) >= 240, picture  # big enough to judge
        for control in (button(reviewer, "review-approve"), reviewer.get_by_label("What should change?"),
                        button(reviewer, "review-ask")):
            assert in_view(reviewer, control)["height"] >= 44  # a finger's target
        width = SIZES[size]["viewport"]["width"]
        assert reviewer.evaluate("document.documentElement.scrollWidth") <= width
        assert reviewer.evaluate("window.scrollY") == 0
        for tile in tiles(reviewer).all():
            box = tile.bounding_box()
            assert box is not None and min(box["width"], box["height"]) >= 44, box
        if SIZES[size].get("has_touch"):  # a tap picks a candidate, a tap approves it
            tiles(reviewer).first.tap()
            expect(reviewer.locator("#review-caption")).to_have_text("#1 · cost $0.055")
            button(reviewer, "review-approve").tap()
            expect(review_message(reviewer)).to_have_value(APPROVED)


@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_no_serious_or_critical_axe_violations_on_the_reviewers_page(browser, slow_app_url, fake, size, scheme):
    axe_js = axe_script()
    owner = owner_in_review(slow_app_url)  # the page's own events: a job with previews, as a browser's
    found: dict[str, list[dict]] = {}
    with person(browser, **SIZES[size], color_scheme=scheme) as reviewer:
        open_review(reviewer, slow_app_url + "review#" + send_token(owner))
        found["open"] = axe_violations(reviewer, axe_js)

        fake.latency = 6.0
        making = threading.Thread(target=owner.click, args=("regenerate", *OPTIONS))
        making.start()
        expect(reviewer.locator("#review-gallery img").nth(1)).to_have_attribute("src", PREVIEW_SRC)
        found["a candidate being made"] = axe_violations(reviewer, axe_js)
        # The scan saw it being made only if it still was when the scan ended.
        expect(reviewer.locator("#review-progress .progress")).to_be_visible(timeout=0)
        making.join()

        expect(button(reviewer, "review-ask")).to_be_enabled()
        reviewer.get_by_label("What should change?").fill("Less fog")
        button(reviewer, "review-ask").click()
        expect(review_message(reviewer)).to_have_value(SENT)
        found["changes asked"] = axe_violations(reviewer, axe_js)

        owner.click("revoke-review")  # the plain page
        expect(review_message(reviewer)).to_have_value(INVALID)
        found["not valid"] = axe_violations(reviewer, axe_js)

    failing = {state: [v for v in violations if v["impact"] in FAILING_IMPACTS] for state, violations in found.items()}
    assert not any(failing.values()), "serious or critical accessibility violations (axe-core):\n" + report(failing)
