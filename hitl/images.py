"""Small in-memory image helpers (never touching the disk)."""

from __future__ import annotations

import base64
import io

from PIL import Image

THUMB_SIDE = 192


def thumbnail_b64(b64: str) -> str:
    """A small WebP of a base64 image, for the candidate gallery (CPU-bound: call off the loop)."""
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        image.thumbnail((THUMB_SIDE, THUMB_SIDE))
        buffer = io.BytesIO()
        image.save(buffer, format="WEBP", quality=70)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
