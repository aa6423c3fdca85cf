"""The fake OpenAI's pictures: real PNGs (drawn by Pillow) that name their prompt and serial, so tests can
tell which request an image answers; as large as a benchmark asks."""

from __future__ import annotations

import base64
import io

from fake_openai import png_for, prompt_of
from PIL import Image


def test_an_image_names_its_prompt_in_utf8_and_its_serial():
    png = png_for("un cerf-volant ☂ au-dessus de Zürich 🪁", 7)
    assert prompt_of(png) == prompt_of(base64.b64encode(png).decode()) == ("un cerf-volant ☂ au-dessus de Zürich 🪁", 7)
    assert b"iTXt" in png and b"tEXt" not in png  # UTF-8 text belongs in iTXt (tEXt is Latin-1)
    with Image.open(io.BytesIO(png)) as image:
        image.verify()


def test_images_differ_by_prompt_and_serial_and_are_32_pixels_square():
    colours = set()
    for prompt, serial in [("a fox", 1), ("a fox", 2), ("a kite", 1)]:
        with Image.open(io.BytesIO(png_for(prompt, serial))) as image:
            assert image.size == (32, 32) and image.mode == "RGB"
            colours.add(image.getpixel((0, 0)))
    assert len(colours) == 3 and png_for("a fox", 1) == png_for("a fox", 1)


def test_a_padded_image_has_exactly_the_size_asked_and_stays_readable():
    for size in (2_000, 50_000, 1 << 20):
        png = png_for("a fox", 3, pad_to=size)
        assert len(png) == size and prompt_of(png) == ("a fox", 3)
    assert len(png_for("a fox", 3, pad_to=10)) < 2_000  # smaller than the picture itself: left as it is
