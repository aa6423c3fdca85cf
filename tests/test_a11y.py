"""Accessibility of the real page, checked by the axe-core engine in a real browser.

The app runs against the fake OpenAI (conftest's `app_url`); chromium is launched as in
test_browser.py (see chromium.py). axe-core is injected into the page and run on the whole
document at each stage a user goes through: prompt, generating (Cancel on screen, a preview
shown), review (one candidate, then two with the gallery, a batch of two as a grid, two side by side),
final, after Start Over (its Undo) and an error message. At a desktop and a phone viewport, each in
light and dark mode (the browser's colour scheme, which Gradio follows). Any "serious" or "critical"
violation fails the test; the failure lists every stage's findings, the moderate and minor ones included.
No control, heading or the title may hold an emoji: without a colour-emoji font (this Debian's Chromium
has none) it is a box. The message box must be in the page's colour scheme (not light pink on dark).

axe-core comes from npm, pinned in scripts/install-test-tools.sh (`npm install --no-save --prefix .ci/node
axe-core@...`); `HITL_AXE_JS` may point at another axe.min.js. A missing axe skips the test with
that hint, and fails it in CI (system_tools.missing).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from browser import new_page
from system_tools import missing

ROOT = Path(__file__).resolve().parent.parent
BUNDLED_AXE = ROOT / ".ci/node/node_modules/axe-core/axe.min.js"
AXE_HINT = ("axe-core is not installed: run `bash scripts/install-test-tools.sh` (it pins the version) "
            "or point HITL_AXE_JS at an axe.min.js")
FAILING_IMPACTS = ("critical", "serious")
IMPACT_ORDER = ("critical", "serious", "moderate", "minor")
SHOWN_TARGETS = 3  # selectors listed per violation

VIEWPORTS = {
    "desktop-1280x900": {"viewport": {"width": 1280, "height": 900}},
    "phone-375x812": {"viewport": {"width": 375, "height": 812}, "is_mobile": True, "has_touch": True,
                      "device_scale_factor": 2},
}
# Every gap between the fake's streamed events (latency / 3, with two partial images) stays under
# conftest's 1 s per-attempt read timeout, and the previews stay on screen for 1.6 s: time for a scan.
GENERATING_LATENCY = 2.4
PREVIEW_SRC = re.compile(r"^data:image/")
FINAL_SRC = re.compile(r"^gradio_api/hitl/image/")

expect.set_options(timeout=15_000)


# -- fixtures -------------------------------------------------------------------------------
def axe_script() -> Path:
    """axe.min.js; called from the test itself, so a missing one is the test's skip or failure (not a setup error)."""
    configured = os.environ.get("HITL_AXE_JS")
    path = Path(configured) if configured else BUNDLED_AXE
    if not path.is_file():
        missing(f"{AXE_HINT}\n(looked for {path})")
    return path


SCHEMES = ("light", "dark")  # the browser's prefers-color-scheme, which Gradio follows (its `dark` class)
LOOKS = [(viewport, scheme) for viewport in VIEWPORTS for scheme in SCHEMES]


@pytest.fixture(params=LOOKS, ids=[f"{viewport}-{scheme}" for viewport, scheme in LOOKS])
def page(request, browser: Browser):
    """A new tab at the parametrized viewport and colour scheme, in its own context (a fresh Gradio session)."""
    viewport, scheme = request.param
    context = browser.new_context(**VIEWPORTS[viewport], color_scheme=scheme)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


@pytest.fixture
def desktop(browser: Browser):
    """A new tab at a laptop's size, in its own context (a fresh Gradio session)."""
    context, page, errors = new_page(browser, viewport={"width": 1280, "height": 900})
    yield page
    context.close()
    assert errors == [], f"uncaught errors in the page: {errors}"


# -- helpers ----------------------------------------------------------------------------------
def button(page: Page, elem_id: str) -> Locator:
    return page.locator(f"button#{elem_id}")


def prompt_box(page: Page) -> Locator:
    return page.locator("#prompt textarea")


def main_image(page: Page) -> Locator:
    return page.locator("#image img")


def message(page: Page) -> Locator:
    return page.get_by_label("Message", exact=True)


def thumbnails(page: Page) -> Locator:
    return page.locator("#gallery").get_by_role("button", name=re.compile(r"thumbnail \d+ of \d+", re.I))


def wait_until_idle(page: Page) -> None:
    expect(button(page, "cancel")).to_be_hidden()


def expect_final_image(page: Page) -> None:
    expect(main_image(page)).to_have_attribute("src", FINAL_SRC)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=main_image(page).element_handle())


def settle(page: Page) -> None:
    """The pointer off every control and their colour transitions over, so the colours axe measures
    are the resting ones (a click leaves the pointer hovering where the next stage puts a button)."""
    page.mouse.move(0, 0)
    page.evaluate("""async () => await Promise.allSettled(
        document.getAnimations().filter(a => a instanceof CSSTransition).map(a => a.finished))""")


def axe_violations(page: Page, axe_js: Path) -> list[dict]:
    """axe-core's violations for the whole document as it is now, at rest."""
    settle(page)
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(axe_js))
    return page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")


def lighter_text(box: Locator) -> bool:
    """Whether the text is lighter than its background (dark mode), by their relative luminance."""
    return box.evaluate("""(e) => {
        const style = getComputedStyle(e);
        const luminance = (css) => css.match(/[\\d.]+/g).slice(0, 3).map(Number)
            .map((c) => c / 255).map((c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4))
            .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
        return luminance(style.color) > luminance(style.backgroundColor); }""")


def pictographs(page: Page) -> list[str]:
    """The page's title and the visible names of its controls and headings that hold an emoji (a pictograph):
    without a colour-emoji font, as on this Debian's Chromium, each shows as an empty box."""
    return page.evaluate("""() => [document.title, ...[...document.querySelectorAll(
        "button, a, h1, h2, h3, label, legend, [role=button], [role=link]")]
        .filter((e) => e.checkVisibility()).map((e) => e.textContent.trim())]
        .filter((text) => /\\p{Extended_Pictographic}/u.test(text))""")


def contrast_details(node: dict) -> str:
    """For a color-contrast node: the colours and ratios axe measured."""
    found = []
    for check in node.get("any", []):
        data = check.get("data") or {}
        if isinstance(data, dict) and "contrastRatio" in data:
            found.append(f"{data.get('fgColor')} on {data.get('bgColor')}: {data.get('contrastRatio')}:1, "
                         f"needs {data.get('expectedContrastRatio')} ({data.get('fontSize')}, "
                         f"{data.get('fontWeight')})")
    return "; ".join(found)


def describe(violation: dict) -> list[str]:
    nodes = violation["nodes"]
    lines = [f"  [{violation['impact']}] {violation['id']}: {violation['help']} ({len(nodes)} node(s))"]
    for node in nodes[:SHOWN_TARGETS]:
        detail = contrast_details(node) if violation["id"] == "color-contrast" else ""
        lines.append(f"      {node['target']}" + (f"  {detail}" if detail else ""))
    if len(nodes) > SHOWN_TARGETS:
        lines.append(f"      ... and {len(nodes) - SHOWN_TARGETS} more")
    return lines


def report(found: dict[str, list[dict]]) -> str:
    """Every stage's violations, worst first."""
    lines = []
    for stage, violations in found.items():
        if not violations:
            continue
        lines.append(f"{stage}:")
        for violation in sorted(violations, key=lambda v: IMPACT_ORDER.index(v["impact"] or "minor")):
            lines.extend(describe(violation))
    return "\n".join(lines)


# -- the test ---------------------------------------------------------------------------------
def test_no_serious_or_critical_axe_violations_at_any_stage(page, app_url, fake):
    axe_js = axe_script()
    found: dict[str, list[dict]] = {}
    emoji: dict[str, list[str]] = {}

    def scan(stage: str) -> None:
        found[stage] = axe_violations(page, axe_js)
        emoji[stage] = pictographs(page)

    page.goto(app_url)
    expect(prompt_box(page)).to_be_visible()
    expect(button(page, "generate")).to_be_visible()
    dark = page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    body = expect(page.locator("body"))
    (body.to_have_class if dark else body.not_to_have_class)(re.compile(r"\bdark\b"))  # Gradio follows the browser
    scan("prompt")

    fake.latency = GENERATING_LATENCY
    prompt_box(page).fill("a lighthouse at dawn")
    button(page, "generate").click()
    expect(button(page, "cancel")).to_be_visible()
    expect(main_image(page)).to_have_attribute("src", PREVIEW_SRC)
    scan("generating")
    # The scan saw the generating stage only if it was still on screen when the scan ended.
    expect(button(page, "cancel")).to_be_visible(timeout=0)
    expect(main_image(page)).to_have_attribute("src", PREVIEW_SRC, timeout=0)

    expect(button(page, "approve")).to_be_visible()
    expect(button(page, "regenerate")).to_be_visible()
    wait_until_idle(page)
    expect_final_image(page)
    fake.latency = 0.0
    scan("review")

    button(page, "regenerate").click()
    expect(thumbnails(page)).to_have_count(2)
    wait_until_idle(page)
    expect_final_image(page)
    scan("review with gallery")

    page.locator("#regenerate-count").get_by_label("2", exact=True).check()
    button(page, "regenerate").click()
    expect(page.locator("#batch img")).to_have_count(2)
    wait_until_idle(page)
    scan("review, a batch as a grid")

    button(page, "compare").click()
    expect(page.locator("#beside img")).to_have_attribute("src", FINAL_SRC)
    scan("side by side")
    button(page, "end-compare").click()
    expect(page.locator("#batch img")).to_have_count(2)  # back to the grid; Approve takes the marked one

    button(page, "approve").click()
    expect(button(page, "start-over")).to_be_visible()
    expect(button(page, "approve")).to_be_hidden()
    expect_final_image(page)
    scan("final")

    button(page, "start-over").click()
    expect(button(page, "generate")).to_be_visible()
    expect(button(page, "undo")).to_be_visible()
    scan("after Start Over")
    fake.fail_next("quota")
    button(page, "generate").click()
    expect(message(page)).to_have_value(re.compile("quota"))
    wait_until_idle(page)
    scan("error")
    assert lighter_text(message(page)) == dark, "the message box is not in the page's colour scheme"

    assert not any(emoji.values()), f"emoji where a font may have none: {emoji}"
    failing = {stage: [v for v in violations if v["impact"] in FAILING_IMPACTS] for stage, violations in found.items()}
    if any(failing.values()):
        others = {stage: [v for v in violations if v["impact"] not in FAILING_IMPACTS]
                  for stage, violations in found.items()}
        text = "serious or critical accessibility violations (axe-core):\n" + report(failing)
        if any(others.values()):
            text += "\n\nalso found (moderate/minor, not failing):\n" + report(others)
        pytest.fail(text, pytrace=False)


def focused(page: Page) -> str:
    """What has the keyboard's focus: its radio group (the fieldset's id) and value, or its tag."""
    return page.evaluate("""() => { const e = document.activeElement;
        return e.type === "radio" ? `${e.closest("fieldset").id}=${e.value}` : e.tagName.toLowerCase(); }""")


def expect_one_tab_stop(page: Page, group: str, checked: str, after: str) -> None:
    """Focus is on `group`'s `checked` choice: the right arrow picks `after`, Tab leaves the group and
    Shift+Tab comes back to the choice now checked. Gradio renames its radios on every change, so the
    arrow's change is what puts the group's one name to the test."""
    assert focused(page) == f"{group}={checked}"
    page.keyboard.press("ArrowRight")
    assert focused(page) == f"{group}={after}"
    expect(page.locator(f"#{group} input[value='{after}']")).to_be_checked()
    page.keyboard.press("Tab")
    assert not focused(page).startswith(f"{group}=")
    page.keyboard.press("Shift+Tab")
    assert focused(page) == f"{group}={after}"


def test_a_radio_group_is_one_tab_stop_and_arrow_keys_move_within_it(desktop, app_url, fake):
    """As a native radio group: Tab enters at the checked choice and leaves the group, arrows pick."""
    desktop.goto(app_url)
    button(desktop, "generate").focus()
    desktop.keyboard.press("Tab")
    expect_one_tab_stop(desktop, "count", "1", "2")
    expect(desktop.locator("#estimate")).to_contain_text("for 2 images")

    prompt_box(desktop).fill("a lighthouse at dawn")
    button(desktop, "generate").click()
    expect(button(desktop, "approve")).to_be_visible()
    wait_until_idle(desktop)
    desktop.locator("#regenerate-count input:checked").focus()  # in step with Images: 2
    expect_one_tab_stop(desktop, "regenerate-count", "2", "3")


def test_a_loading_sign_shows_until_the_app_is_ready(browser, desktop, app_url):
    """Before Gradio's scripts have arrived (on a slow connection, many seconds) the page is not blank: the
    sign is in the HTML itself. Without JavaScript the app never comes, so the sign is what shows meanwhile."""
    context, waiting, _ = new_page(browser, java_script_enabled=False)
    waiting.goto(app_url)
    sign = waiting.get_by_role("status")
    expect(sign).to_be_visible()
    expect(sign).to_have_text("Loading HITL Image Studio…")
    context.close()

    desktop.goto(app_url)
    expect(prompt_box(desktop)).to_be_visible()
    expect(desktop.locator("#hitl-loading")).to_be_hidden()  # gone once the app is drawn


def tab_stops(page: Page, container: str, limit: int = 6) -> list[str]:
    """The names of the Tab stops inside `container`, in order, from the focused one on."""
    stops: list[str] = []
    while len(stops) < limit and page.evaluate("(c) => !!document.activeElement.closest(c)", container):
        stops.append(page.evaluate("""() => document.activeElement.getAttribute("aria-label")
            || document.activeElement.textContent.trim()"""))
        page.keyboard.press("Tab")
    return stops


def test_the_image_toolbar_and_the_tiles_name_what_they_do(desktop, app_url, fake):
    """Gradio's Download is a link around a button (two Tab stops, a name only through the inner one), and its
    picture a button for a select event this page does not use. One named stop each; tiles show whole captions."""
    desktop.goto(app_url)
    prompt_box(desktop).fill("a lighthouse at dawn")
    button(desktop, "generate").click()
    expect(button(desktop, "approve")).to_be_visible()
    wait_until_idle(desktop)
    expect_final_image(desktop)
    toolbar = desktop.locator("#image")
    expect(toolbar.get_by_role("link", name="Download image", exact=True)).to_be_visible()
    toolbar.get_by_role("button", name="Fullscreen").focus()
    assert tab_stops(desktop, "#image") == ["Fullscreen", "Download image"]
    with desktop.expect_download() as saved:
        toolbar.get_by_role("link", name="Download image").click()
    assert saved.value.suggested_filename.endswith(".png")

    button(desktop, "regenerate").click()
    expect(thumbnails(desktop)).to_have_count(2)
    wait_until_idle(desktop)
    for tile in thumbnails(desktop).all():  # the caption as it is cut on the tile, and whole in its tooltip
        expect(tile).to_have_attribute("title", tile.locator(".caption-label").inner_text().strip())
    expect(thumbnails(desktop).last).to_have_attribute("title", re.compile(r"^#2 · regenerate of #1 · \$"))
