"""Small in-memory image helpers (never touching the disk)."""

from __future__ import annotations

import io

from PIL import Image

THUMB_SIDE = 192


def thumbnail(data: bytes) -> bytes:
    """A small WebP of an image's bytes, for the candidate gallery (CPU-bound: call off the loop)."""
    with Image.open(io.BytesIO(data)) as image:
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=70)
    return buffer.getvalue()
