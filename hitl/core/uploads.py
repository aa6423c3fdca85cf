"""Checking pictures that users send: a starting image for Generate, a mask for Edit region.

Both arrive as `data:` URLs inside the queue's JSON (the page's script reads the file in the
browser; API callers pass the string), so no byte goes through Gradio's upload route, which
writes files. Pure: no Gradio. Each check's message is for the user.

Limits (our own, conservative; OpenAI's are looser): a starting image up to 10 MB (OpenAI takes
images up to 50 MB, but each one is held in the session's memory) and 4096 px a side (OpenAI's
image models make at most 1536 px, so a bigger input only costs memory); a mask under 4 MB, as the
Images API requires ("a valid PNG file, less than 4MB, and ... the same dimensions as `image`").
The type is sniffed by Pillow from the bytes; the declared mime is never trusted.
"""

from __future__ import annotations

import base64
import binascii
import io
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_MASK_BYTES = 4 * 1024 * 1024 - 1  # "less than 4MB"
MAX_SIDE = 4096
MIN_SIDE = 16
# The data URL is base64 (4/3 of the bytes) plus a short header: anything longer is refused unread.
MAX_UPLOAD_URL = MAX_UPLOAD_BYTES * 4 // 3 + 100
MAX_MASK_URL = MAX_MASK_BYTES * 4 // 3 + 100
FORMATS = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
# Pillow's JPEG reader names a JPEG with extra frames (many phone photos) MPO: still a JPEG file.
MIMES = {**FORMATS, "MPO": "image/jpeg"}


class PictureError(ValueError):
    """A picture that cannot be used; the text is for the user."""


@dataclass(frozen=True)
class Picture:
    data: bytes
    mime: str  # what the bytes are, as Pillow found
    width: int
    height: int


def _megabytes(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB"


def decode_data_url(url: str, max_chars: int, what: str) -> bytes:
    """The bytes of a base64 `data:` URL (the declared type is ignored: the bytes are sniffed later)."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise PictureError(f"The {what} must be sent as a data: URL (data:image/png;base64,…).")
    if len(url) > max_chars:
        raise PictureError(f"The {what} is larger than {_megabytes(max_chars * 3 // 4)}: "
                           "use a smaller picture (fewer pixels or stronger compression).")
    header, comma, payload = url.partition(",")
    if not comma or not header.endswith(";base64"):
        raise PictureError(f"The {what} must be a base64 data: URL (data:image/png;base64,…).")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise PictureError(f"The {what} is not valid base64: pick the file again.") from None


def open_picture(data: bytes, max_bytes: int, what: str) -> Image.Image:
    """Open (not decode) the bytes with Pillow and check type, bytes and dimensions, all before
    any pixel is decoded: a decompression bomb is refused from its header. Pillow itself refuses
    pictures over twice `Image.MAX_IMAGE_PIXELS` (DecompressionBombError, turned into a message
    here) and warns above it; our side limit (at most 16.8 Mpx) refuses all it would warn about."""
    if len(data) > max_bytes:
        raise PictureError(f"The {what} is {_megabytes(len(data))}; the limit is {_megabytes(max_bytes)}.")
    try:
        image = Image.open(io.BytesIO(data), formats=list(FORMATS))
    except Image.DecompressionBombError:
        raise PictureError(f"The {what} has far too many pixels to open safely (a decompression bomb?): "
                           f"the limit is {MAX_SIDE} × {MAX_SIDE}.") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise PictureError(f"The {what} is not a PNG, JPEG or WebP picture (or the file is damaged).") from None
    width, height = image.size
    if max(width, height) > MAX_SIDE:
        raise PictureError(f"The {what} is {width} × {height} pixels; the limit is {MAX_SIDE} on each side. "
                           "Resize it and try again.")
    if min(width, height) < MIN_SIDE:
        raise PictureError(f"The {what} is {width} × {height} pixels: at least {MIN_SIDE} on each side, please.")
    return image


def _decoded(image: Image.Image, what: str) -> Image.Image:
    """Decode every pixel (bounded by the checks above), so a truncated or corrupt file fails here."""
    try:
        image.load()
    except (OSError, ValueError, SyntaxError):
        raise PictureError(f"The {what} could not be read: the file is damaged or incomplete.") from None
    return image


def check_upload(url: str) -> Picture:
    """A starting image: PNG, JPEG or WebP, bounded in bytes and pixels, fully decodable."""
    data = decode_data_url(url, MAX_UPLOAD_URL, "image")
    image = _decoded(open_picture(data, MAX_UPLOAD_BYTES, "image"), "image")
    return Picture(data, MIMES[image.format or ""], *image.size)  # Image.open always names the format


def check_mask(url: str, size: tuple[int, int]) -> bytes:
    """A mask for the picture of `size`: a PNG with alpha, the same size, under 4 MB, with a painted
    (fully transparent, alpha 0) area, as OpenAI defines masks."""
    data = decode_data_url(url, MAX_MASK_URL, "mask")
    image = open_picture(data, MAX_MASK_BYTES, "mask")
    if image.format != "PNG":
        raise PictureError("The mask must be a PNG (with transparency where the picture should change).")
    if image.size != tuple(size):
        raise PictureError(f"The mask is {image.width} × {image.height} pixels but the picture is "
                           f"{size[0]} × {size[1]}: paint on the picture on screen again.")
    if "A" not in image.getbands() and "transparency" not in image.info:
        raise PictureError("The mask has no transparency: the area to change must be fully transparent.")
    alpha = _decoded(image, "mask").convert("RGBA").getchannel("A")
    if alpha.point(lambda a: 255 if a == 0 else 0).getbbox() is None:
        raise PictureError("Nothing is painted: brush over the area to change, then click Edit region.")
    return data


def picture_size(data: bytes) -> tuple[int, int]:
    """The width and height of image bytes (read from the header only)."""
    with Image.open(io.BytesIO(data)) as image:
        return image.size
