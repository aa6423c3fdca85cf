"""Offline demo backend: a deterministic Pillow picture drawn from the prompt.

Used when no OpenAI key is configured, so the app works on a fresh machine. The same
(prompt, variant) always gives the same picture; Regenerate bumps the variant.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from hitl.backends.base import ImageRequest, OnPartial
from hitl.core.stages import Candidate, Held
from hitl.serving.config import Settings

_SIDE = 512  # demo pictures are small: they only stand in for real ones


def _dimensions(size: str) -> tuple[int, int]:
    if size == "1536x1024":
        return _SIDE * 3 // 2, _SIDE
    if size == "1024x1536":
        return _SIDE, _SIDE * 3 // 2
    return _SIDE, _SIDE


def _palette(seed: bytes) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    return (seed[0], seed[1], seed[2]), (seed[3], seed[4], seed[5])


def render(request: ImageRequest) -> Image.Image:
    """Draw the picture for a request; pure and deterministic."""
    text = f"{request.prompt} + {request.feedback}" if request.feedback else request.prompt
    seed = hashlib.sha256(f"{text}\x00{request.variant}".encode()).digest()
    width, height = _dimensions(request.options.size)
    top, bottom = _palette(seed)
    gradient = Image.linear_gradient("L").resize((width, height))
    image = Image.composite(Image.new("RGB", (width, height), bottom),
                            Image.new("RGB", (width, height), top), gradient)
    draw = ImageDraw.Draw(image)
    for i in range(6):  # a few shapes placed by the hash, so each variant looks different
        x, y, r = seed[6 + i] * width // 256, seed[12 + i] * height // 256, 20 + seed[18 + i] // 3
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(seed[24 + i % 6], seed[i], seed[31 - i]))
    font = ImageFont.load_default(size=22)
    lines = textwrap.wrap(text, 36)[:8]
    draw.multiline_text((24, 24), "\n".join(lines), font=font, fill="white", stroke_width=2, stroke_fill="black")
    draw.text((24, height - 44), f"DEMO · variant {request.variant + 1}", font=font, fill="white",
              stroke_width=2, stroke_fill="black")
    return image


def encode(image: Image.Image, output_format: str) -> bytes:
    buffer = io.BytesIO()
    image = image.convert("RGB") if output_format == "jpeg" or image.mode not in ("RGB", "RGBA") else image
    image.save(buffer, format=output_format.upper())
    return buffer.getvalue()


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGBA")


def starting_from(previous: bytes, drawn: Image.Image) -> Image.Image:
    """The demo's answer to a picture of the user's own: the drawing over a faded copy of it."""
    own = _open(previous).convert("RGB").resize(drawn.size)
    return Image.blend(own, drawn.convert("RGB"), 0.5)


def repainted(previous: bytes, mask: bytes, drawn: Image.Image) -> Image.Image:
    """Edit region offline: the new drawing only where the mask is transparent (alpha 0), every
    other pixel of the picture painted on kept as it was."""
    old = _open(previous)
    painted = _open(mask).getchannel("A").point(lambda a: 255 if a == 0 else 0)
    return Image.composite(drawn.convert("RGBA").resize(old.size), old, painted)


def _picture(request: ImageRequest) -> Image.Image:
    drawn, previous = render(request), request.previous
    if previous is not None and request.mask is not None:
        return repainted(previous.image, request.mask, drawn)
    if previous is not None and not request.feedback:
        return starting_from(previous.image, drawn)
    return drawn


def _render_both(request: ImageRequest) -> tuple[bytes, bytes]:
    image = _picture(request)
    fmt = request.options.output_format
    preview = image.resize((image.width // 16, image.height // 16)).resize(image.size, Image.Resampling.NEAREST)
    return encode(preview.filter(ImageFilter.BLUR), fmt), encode(image, fmt)


class DemoBackend:
    """Renders locally, off the event loop; shows one blurred preview first, like the real API.
    Its images cost nothing; each carries what the real one would have cost (an estimate)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    async def generate(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        preview, final = await asyncio.to_thread(_render_both, request)
        mime = request.options.mime
        on_partial(Candidate(Held(preview), mime, request.prompt))  # drawn here as bytes: no base64 to decode
        would_cost = self.settings.prices.estimate(request.options.size, request.options.quality,
                                                   self.settings.image_model, request.prompt)
        return Candidate(Held(final), mime, request.prompt, revised_prompt="", cost=would_cost, estimated=True)
