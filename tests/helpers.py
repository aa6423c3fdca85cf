"""Small helpers for reading what the app returns through gradio_client."""

from __future__ import annotations

import base64

from fake_openai import prompt_of

# The named endpoints return (image, revised_prompt, candidates, message).
IMAGE, REVISED, CANDIDATES, MESSAGE = range(4)


def image_b64(result) -> str | None:
    """The base64 payload of the image output (a data: URL in an ImageData dict), or None."""
    image = result[IMAGE]
    if not image or not isinstance(image, dict) or not image.get("url"):
        return None
    assert image["url"].startswith("data:image/"), image["url"][:40]
    return image["url"].split(",", 1)[1]


def image_prompt(result) -> str:
    """The prompt the fake server drew the returned image for."""
    b64 = image_b64(result)
    assert b64, f"no image in result; message: {result[MESSAGE]!r}"
    return prompt_of(b64)[0]


def image_serial(result) -> int:
    return prompt_of(image_b64(result))[1]


def decode(result) -> bytes:
    return base64.b64decode(image_b64(result))
