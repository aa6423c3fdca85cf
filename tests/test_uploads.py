"""Checking the pictures users send (hitl/core/uploads.py), the demo's region edit, and what the OpenAI
backends send with a mask. All in memory: every picture here is made in a BytesIO."""

from __future__ import annotations

import asyncio
import io
import struct
import time
import zlib

import pytest
from helpers import data_url, mask_png
from PIL import Image

from hitl.backends.base import ImageOptions, ImageRequest
from hitl.backends.demo import DemoBackend
from hitl.backends.openai_images import ImagesBackend
from hitl.backends.openai_responses import ResponsesBackend
from hitl.core.stages import Candidate
from hitl.core.uploads import (
    MAX_MASK_URL,
    MAX_SIDE,
    MAX_UPLOAD_URL,
    PictureError,
    check_mask,
    check_upload,
    decode_data_url,
)
from hitl.serving.config import load_settings


def encoded(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb(side: int) -> bytes:
    """A real decompression bomb: a 1-bit `side` × `side` PNG of zeros whose IDAT holds every row,
    compressed (a few dozen KB that decode to side² pixels)."""
    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (side + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


# -- starting images ------------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt, mime", [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp")])
def test_png_jpeg_and_webp_are_taken_as_they_are(fmt, mime):
    data = encoded(Image.new("RGB", (80, 60), "teal"), fmt)
    picture = check_upload(data_url(data, mime))
    assert (picture.data, picture.mime, picture.width, picture.height) == (data, mime, 80, 60)


def test_a_phone_photo_with_extra_frames_is_a_jpeg():
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), "red").save(buffer, "MPO", save_all=True, append_images=[Image.new("RGB", (64, 64))])
    assert check_upload(data_url(buffer.getvalue(), "image/jpeg")).mime == "image/jpeg"


def test_the_type_is_sniffed_never_taken_from_the_url():
    png = encoded(Image.new("RGB", (40, 40), "red"))
    assert check_upload(data_url(png, "image/jpeg")).mime == "image/png"  # a PNG disguised as JPEG
    for fmt in ("GIF", "BMP", "TIFF"):
        disguised = data_url(encoded(Image.new("RGB", (40, 40)), fmt), "image/png")
        with pytest.raises(PictureError, match="not a PNG, JPEG or WebP"):
            check_upload(disguised)
    with pytest.raises(PictureError, match="not a PNG, JPEG or WebP"):
        check_upload(data_url(b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/png"))


@pytest.mark.parametrize("url, problem", [
    ("https://example.com/cat.png", "data: URL"),
    ("/tmp/cat.png", "data: URL"),
    ("data:image/png,rawbytes", "base64 data: URL"),
    ("data:image/png;base64,@@not base64@@", "not valid base64"),
])
def test_anything_but_a_base64_data_url_is_refused(url, problem):
    with pytest.raises(PictureError, match=problem):
        check_upload(url)


def test_too_many_bytes_are_refused_before_decoding():
    with pytest.raises(PictureError, match="larger than 10.0 MB"):
        decode_data_url("data:image/png;base64," + "A" * MAX_UPLOAD_URL, MAX_UPLOAD_URL, "image")


def test_huge_dimensions_are_refused_from_the_header():
    wide = encoded(Image.new("1", (MAX_SIDE + 1, 16)))
    with pytest.raises(PictureError, match=f"{MAX_SIDE + 1} × 16 pixels; the limit is {MAX_SIDE}"):
        check_upload(data_url(wide))
    with pytest.raises(PictureError, match="at least 16"):
        check_upload(data_url(encoded(Image.new("RGB", (8, 8)))))


def test_a_decompression_bomb_is_refused_without_being_decoded():
    past_pillows_limit = bomb(20_000)  # 400 Mpx: more than twice Image.MAX_IMAGE_PIXELS
    assert len(past_pillows_limit) < 100_000 and 20_000 ** 2 > 2 * Image.MAX_IMAGE_PIXELS
    started = time.perf_counter()
    with pytest.raises(PictureError, match="decompression bomb"):
        check_upload(data_url(past_pillows_limit))
    assert time.perf_counter() - started < 5, "refused from the header, not after decoding"
    under_pillows_limit = bomb(6_000)  # 36 Mpx: Pillow would decode it; our own side limit does not
    with pytest.raises(PictureError, match="6000 × 6000 pixels; the limit is 4096"):
        check_upload(data_url(under_pillows_limit))


def test_a_damaged_picture_is_refused_with_a_message():
    png = encoded(Image.effect_noise((200, 200), 64).convert("RGB"))
    with pytest.raises(PictureError, match="damaged"):
        check_upload(data_url(png[: len(png) // 2]))


# -- masks ----------------------------------------------------------------------------------------------
def test_a_mask_with_a_painted_area_of_the_pictures_size_is_taken():
    mask = mask_png((64, 48), (0, 0, 10, 10))
    assert check_mask(data_url(mask), (64, 48)) == mask


@pytest.mark.parametrize("mask, problem", [
    (mask_png((64, 64), (0, 0, 10, 10)), "64 × 64 pixels but the picture is 64 × 48"),
    (mask_png((64, 48), None), "Nothing is painted"),
    (encoded(Image.new("RGB", (64, 48))), "no transparency"),
    (encoded(Image.new("RGBA", (64, 48)).convert("RGB"), "JPEG"), "must be a PNG"),
    (b"GIF89a not a picture", "not a PNG, JPEG or WebP"),
])
def test_a_mask_that_breaks_openais_rules_is_refused(mask, problem):
    with pytest.raises(PictureError, match=problem):
        check_mask(data_url(mask), (64, 48))


def test_a_mask_of_4_mb_or_more_is_refused():
    with pytest.raises(PictureError, match="larger than 4.0 MB"):
        check_mask("data:image/png;base64," + "A" * MAX_MASK_URL, (64, 48))


# -- backends -------------------------------------------------------------------------------------------
def _candidate(size=(96, 64), response_id=None) -> Candidate:
    return Candidate(encoded(Image.effect_noise(size, 80).convert("RGB")), "image/png", "a street",
                     response_id=response_id)


def test_demo_region_edit_repaints_only_the_painted_area():
    before = _candidate()
    box = (10, 8, 50, 40)
    request = ImageRequest("a street", ImageOptions(), previous=before, feedback="a red door",
                           mask=mask_png((96, 64), box))
    after = asyncio.run(DemoBackend(load_settings(api_key=None)).generate(request, lambda _: None))
    old = Image.open(io.BytesIO(before.image)).convert("RGB")
    new = Image.open(io.BytesIO(after.image)).convert("RGB")
    assert new.size == old.size
    changed = [(x, y) for x in range(96) for y in range(64) if old.getpixel((x, y)) != new.getpixel((x, y))]
    assert changed, "the painted area was redrawn"
    assert all(box[0] <= x < box[2] and box[1] <= y < box[3] for x, y in changed), "pixels outside the mask changed"


def test_responses_sends_the_mask_with_the_image_inline_and_action_edit():
    settings = load_settings(api_key="sk-test", store_responses=True)
    mask = mask_png((96, 64), (0, 0, 5, 5))
    previous = _candidate(response_id="resp_7")  # stored, yet a mask goes with the image itself
    arguments = ResponsesBackend(None, settings)._arguments(
        ImageRequest("a street", previous=previous, feedback="a red door", mask=mask))
    tool = arguments["tools"][0]
    assert tool["action"] == "edit" and tool["input_image_mask"] == {"image_url": data_url(mask)}
    assert "previous_response_id" not in arguments
    content = arguments["input"][0]["content"]
    assert content == [{"type": "input_text", "text": "a red door"},
                       {"type": "input_image", "image_url": previous.data_url, "detail": "auto"}]


def test_a_starting_image_is_sent_as_the_input_image_with_the_prompt():
    own = _candidate()
    arguments = ResponsesBackend(None, load_settings(api_key="sk-test"))._arguments(
        ImageRequest("a street at night", previous=own))
    assert arguments["tools"][0]["action"] == "edit" and "input_image_mask" not in arguments["tools"][0]
    assert arguments["input"][0]["content"][0] == {"type": "input_text", "text": "a street at night"}


def test_images_api_edits_with_image_and_mask():
    sent = {}

    class Images:
        async def edit(self, **arguments):
            sent.update(arguments)
            raise RuntimeError("stop here")

    class Client:
        images = Images()

    mask, previous = mask_png((96, 64), (0, 0, 5, 5)), _candidate()
    backend = ImagesBackend(Client(), load_settings(api_key="sk-test", partial_images=0))
    with pytest.raises(RuntimeError):
        asyncio.run(backend._attempt(ImageRequest("a street", previous=previous, feedback="a door", mask=mask),
                                     lambda _: None, stream=False))
    assert sent["mask"] == ("mask.png", mask, "image/png") and sent["prompt"] == "a door"
    assert sent["image"] == ("image.png", previous.image, "image/png")
