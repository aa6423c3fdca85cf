"""Screenshots of every stage for the README: `python scripts/screenshots.py`.

Launches the real app in-process against the fake OpenAI server of the tests (made slow, so
partial previews can be caught), drives headless chromium (which one: tests/chromium.py)
through the stages with Playwright and writes docs/screenshots/01-prompt.png … 10-reviewer.png
(the stages, then side by side, a painted region, a picture of your own, four at once, and Send for
review: the owner's link and the reviewer's page on a phone).
No key, no internet.

The fake's own images are 32 px squares; here a subclass draws a pixel-art lighthouse with
Pillow instead (partial previews are blockier versions of the same picture). Install
`fonts-noto-color-emoji` first if the title's emoji shows as a box.
"""

from __future__ import annotations

import argparse
import base64
import colorsys
import hashlib
import io
import os
import random
import re
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from chromium import CHROMIUM_ARGS, chromium_executable  # noqa: E402
from fake_openai import FakeOpenAI, prompt_of  # noqa: E402
from hitl.serving.config import load_settings  # noqa: E402
from hitl.web.ui import build_demo, launch_options  # noqa: E402
from PIL import Image, ImageDraw, ImageFilter  # noqa: E402
from PIL.PngImagePlugin import PngInfo  # noqa: E402
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

PROMPT = "Isometric pixel-art lighthouse on a tiny island at sunset"
VIEWPORT = {"width": 1280, "height": 900}
MAX_BYTES = 400_000
PIXEL = 4  # drawn at 1/4 size, scaled up without smoothing: crisp pixel art
SIZE = 768


class PictureFake(FakeOpenAI):
    """The test fake, drawing a picture per request instead of a flat square. The PNG keeps
    the fake's tEXt chunks, so `prompt_of` still tells previews from final images."""

    def image_b64(self, prompt: str, serial: int) -> str:
        partial = prompt.startswith("partial ")
        subject = prompt.split(": ", 1)[1] if partial else prompt
        picture = draw_scene(subject, serial)
        if partial:  # partial 0 is very blocky, partial 1 less so
            level = int(prompt.split()[1].rstrip(":"))
            cells = (12, 32)[min(level, 1)]
            picture = (picture.resize((cells, cells), Image.Resampling.BOX)
                       .resize((SIZE, SIZE), Image.Resampling.BICUBIC)
                       .filter(ImageFilter.GaussianBlur(6 - 3 * min(level, 1))))
        info = PngInfo()
        info.add_text("prompt", prompt)
        info.add_text("serial", str(serial))
        out = io.BytesIO()
        picture.save(out, "PNG", pnginfo=info, optimize=True)
        return base64.b64encode(out.getvalue()).decode()


def _mix(a: tuple, b: tuple, t: float) -> tuple:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def _hsv(h: float, s: float, v: float) -> tuple:
    return tuple(round(c * 255) for c in colorsys.hsv_to_rgb(h % 1.0, s, v))


def draw_scene(prompt: str, serial: int) -> Image.Image:
    """A lighthouse on an island under a sunset sky; colours and layout vary per image."""
    rng = random.Random(hashlib.sha256(f"{prompt}\x00{serial}".encode()).digest())
    n = SIZE // PIXEL
    img = Image.new("RGB", (n, n))
    d = ImageDraw.Draw(img)
    hue = rng.random()
    horizon = int(n * rng.uniform(0.58, 0.66))
    top, low = _hsv(hue + 0.62, 0.65, 0.35), _hsv(hue + 0.05, 0.75, 1.0)
    bands = 10  # banded sky, like a limited palette
    for y in range(horizon):
        d.line([(0, y), (n, y)], fill=_mix(top, low, round(y / horizon * bands) / bands))
    for _ in range(rng.randint(8, 20)):  # stars in the dark part of the sky
        x, y = rng.randrange(n), rng.randrange(horizon // 3)
        d.point((x, y), fill=(255, 250, 230))
    sun_x, sun_r = int(n * rng.uniform(0.2, 0.8)), rng.randint(9, 15)
    sun = _hsv(hue + 0.1, 0.55, 1.0)
    d.ellipse([sun_x - sun_r - 4, horizon - sun_r - 4, sun_x + sun_r + 4, horizon + sun_r + 4],
              fill=_mix(low, sun, 0.5))
    d.ellipse([sun_x - sun_r, horizon - sun_r, sun_x + sun_r, horizon + sun_r], fill=sun)
    for _ in range(rng.randint(2, 4)):  # flat clouds
        cx, cy, w = rng.randrange(n), rng.randrange(8, horizon - 20), rng.randint(18, 40)
        shade = _mix(low, (255, 255, 255), 0.45)
        d.rectangle([cx - w, cy, cx + w, cy + 3], fill=shade)
        d.rectangle([cx - w // 2, cy - 3, cx + w // 2, cy], fill=shade)
    sea_top, sea_low = _hsv(hue + 0.58, 0.7, 0.55), _hsv(hue + 0.62, 0.8, 0.22)
    for y in range(horizon, n):
        d.line([(0, y), (n, y)], fill=_mix(sea_top, sea_low, round((y - horizon) / (n - horizon) * 6) / 6))
    for y in range(horizon + 2, n, 4):  # the sun's reflection
        half = max(2, sun_r - (y - horizon) // 4) + rng.randint(-2, 2)
        d.line([(sun_x - half, y), (sun_x + half, y)], fill=_mix(sun, sea_top, 0.35))
    # island
    ix = int(n * rng.uniform(0.3, 0.7))
    iy = horizon + int((n - horizon) * 0.55)
    d.ellipse([ix - 44, iy - 12, ix + 44, iy + 14], fill=(214, 190, 140))
    d.ellipse([ix - 38, iy - 16, ix + 38, iy + 8], fill=(72, 128, 70))
    d.ellipse([ix - 30, iy - 19, ix + 10, iy], fill=(92, 150, 84))
    # lighthouse: a tapering striped tower, a lamp room and a beam
    base, height = iy - 10, rng.randint(62, 78)
    stripes = [(240, 240, 236), _hsv(hue + 0.98, 0.8, 0.85)]
    for i in range(height):
        y = base - i
        half = round(9 - 4 * i / height)
        d.line([(ix - half, y), (ix + half, y)], fill=stripes[(i // 10) % 2])
        d.point((ix + half, y), fill=(150, 150, 150))
    lamp = base - height
    d.rectangle([ix - 7, lamp - 2, ix + 7, lamp], fill=(40, 40, 48))
    d.rectangle([ix - 5, lamp - 10, ix + 5, lamp - 3], fill=(255, 226, 120))
    d.polygon([(ix - 7, lamp - 10), (ix, lamp - 17), (ix + 7, lamp - 10)], fill=(40, 40, 48))
    beam = Image.new("RGBA", (n, n))
    direction = rng.choice((-1, 1))
    ImageDraw.Draw(beam).polygon(
        [(ix, lamp - 7), (ix + direction * n, lamp - 30), (ix + direction * n, lamp + 12)], fill=(255, 236, 170, 70))
    img = Image.alpha_composite(img.convert("RGBA"), beam).convert("RGB")
    return img.resize((SIZE, SIZE), Image.Resampling.NEAREST)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shown_prompt(page: Page) -> str:
    src = page.locator("#image img").get_attribute("src") or ""
    return prompt_of(src.split(",", 1)[1])[0] if src.startswith("data:image/png") else ""


def save(page: Page, path: Path, full_page: bool = True) -> None:
    """A screenshot (of the whole page, or of the window); re-encoded with a 256-colour palette if it is too large."""
    data = page.screenshot(full_page=full_page)
    if len(data) > MAX_BYTES:
        out = io.BytesIO()
        Image.open(io.BytesIO(data)).convert("RGB").quantize(256).save(out, "PNG", optimize=True)
        data = out.getvalue()
    path.write_bytes(data)
    print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path} ({len(data) // 1024} KB)")


def paint(page: Page) -> None:
    """Paint a stroke over the sea and say what to change there (not sent: the screenshot shows the tool)."""
    page.get_by_role("button", name="Paint a region").click()
    box = page.locator("#paint-canvas").bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.15, box["y"] + box["height"] * 0.82)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.55, box["y"] + box["height"] * 0.86, steps=12)
    page.mouse.up()
    page.get_by_label("What to change there").fill("a small sailing boat with a red sail")
    page.mouse.move(0, 0)


def send_for_review(page: Page, browser: Browser, out: Path) -> None:
    """The owner's Send for review with its link, and the reviewer's page on a phone (a reviewer on the go
    is the common case); then the link is revoked and the panel closed, as the later screenshots expect."""
    panel = page.locator("#send-review").get_by_text("Send for review").first  # the panel's header
    panel.click()
    page.locator("button#send-review-link").click()
    link = page.locator("#review-link").locator("textarea, input")
    expect(link).to_have_value(re.compile(r"/review#"))
    page.locator("#review-panel").scroll_into_view_if_needed()
    page.mouse.move(0, 0)
    save(page, out / "09-send-for-review.png", full_page=False)
    phone = browser.new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                             device_scale_factor=2)
    phone.goto(link.input_value())
    expect(phone.locator("button#review-approve")).to_be_enabled()
    picture = phone.locator("#review-image img")
    phone.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=picture.element_handle())
    phone.get_by_label("What should change?").fill("Warmer light on the tower, please")
    save(phone, out / "10-reviewer.png", full_page=False)
    phone.close()
    page.locator("button#revoke-review").click()
    expect(page.locator("button#revoke-review")).to_be_hidden()
    panel.click()
    page.evaluate("window.scrollTo(0, 0)")


def several(page: Page, fake: PictureFake, out: Path) -> None:
    """Start from a picture of your own and ask for four at once: a tile each while they are drawn."""
    own = io.BytesIO()
    draw_scene("your own photo", 7).resize((384, 384)).save(own, "PNG")
    page.get_by_label("Choose a file", exact=False).set_input_files(
        {"name": "lighthouse.png", "mimeType": "image/png", "buffer": own.getvalue()})
    expect(page.get_by_role("img", name="Your starting image")).to_be_visible()
    prompt = page.get_by_label("Prompt", exact=True)
    prompt.fill("The same lighthouse in a winter storm")
    page.locator("#count").get_by_label("4", exact=True).check()
    save(page, out / "07-upload.png")
    fake.latency = 3.0
    page.get_by_role("button", name="Generate Image", exact=True).click()
    expect(page.locator("#gallery .caption-label", has_text="new 4")).to_be_visible()
    page.mouse.move(0, 0)
    save(page, out / "08-several.png")
    expect(page.locator("#cancel")).to_be_hidden()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--chromium", default=chromium_executable(),
                        help="chromium binary (default: $HITL_CHROMIUM, else a system chromium, else Playwright's own)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    fake = PictureFake(latency=3.0)
    fake.start()
    settings = load_settings(api_key="sk-screenshots-not-a-real-key", base_url=fake.url, partial_images=2,
                             request_timeout=30.0, total_timeout=60.0, ip_limit=1000, session_limit=1000,
                             call_rate=1000.0, call_burst=1000)
    demo = build_demo(settings)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(), quiet=True,
                **launch_options(settings))
    expect.set_options(timeout=30_000)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=args.chromium, headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(demo.local_url)
            prompt = page.get_by_label("Prompt", exact=True)
            expect(prompt).to_be_visible()
            prompt.fill(PROMPT)
            prompt.blur()
            save(page, args.out / "01-prompt.png")

            page.get_by_role("button", name="Generate Image", exact=True).click()
            deadline = time.monotonic() + 30
            while not shown_prompt(page).startswith("partial "):
                assert time.monotonic() < deadline, "no partial preview appeared"
                time.sleep(0.05)
            save(page, args.out / "02-preview.png")
            assert shown_prompt(page).startswith("partial "), "the final image came before the screenshot"

            approve = page.get_by_role("button", name="Approve", exact=True)
            expect(approve).to_be_visible()
            expect(page.locator("#cancel")).to_be_hidden()
            fake.latency = 0.5
            thumbs = page.locator("#gallery").get_by_role("button", name=re.compile(r"thumbnail \d+ of \d+", re.I))
            for count in (2, 3):
                page.get_by_role("button", name="Regenerate", exact=True).click()
                expect(thumbs).to_have_count(count)
                expect(page.locator("#cancel")).to_be_hidden()
            page.mouse.move(0, 0)
            save(page, args.out / "03-review.png")
            send_for_review(page, browser, args.out)

            page.locator("button#compare").click()
            sides = page.locator("#image img, #beside img")  # next to each other
            expect(sides).to_have_count(2)
            for side in sides.all():
                page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=side.element_handle())
            save(page, args.out / "05-compare.png")
            page.locator("button#end-compare").click()

            paint(page)
            save(page, args.out / "06-region.png")

            approve.click()
            expect(page.locator("#start-over")).to_be_visible()
            save(page, args.out / "04-final.png")

            page.locator("button#start-over").click()
            several(page, fake, args.out)
            browser.close()
    finally:
        demo.close()
        fake.stop()


if __name__ == "__main__":
    main()
