"""The whole loop against the real OpenAI API: `python -m pytest -m live` with OPENAI_API_KEY set.

Not part of the default run (pyproject.toml deselects the marker); skipped without a key. Five
images at the cheapest settings (quality low, 1024×1024): see the README for the cost.
"""

from __future__ import annotations

import io

import pytest
from gradio_client import Client
from helpers import MESSAGE, decode
from PIL import Image

pytestmark = pytest.mark.live
CHEAP = dict(size="1024x1024", quality="low", background="auto", output_format="png")


def real_image(result) -> Image.Image:
    assert result[MESSAGE] == "", result[MESSAGE]
    image = Image.open(io.BytesIO(decode(result)))
    image.load()
    assert image.size == (1024, 1024)
    return image


def test_generate_regenerate_refine_refine_approve(live_url):
    client = Client(live_url, verbose=False)
    first = real_image(client.predict("A small red paper boat on a calm pond, flat illustration",
                                      api_name="/generate", **CHEAP))
    second = real_image(client.predict(api_name="/regenerate", **CHEAP))
    assert second.tobytes() != first.tobytes()
    real_image(client.predict("Make the boat blue", api_name="/refine", **CHEAP))
    refined = real_image(client.predict("Add a yellow moon in the sky", api_name="/refine", **CHEAP))
    approved = client.predict(api_name="/approve")
    assert real_image(approved).tobytes() == refined.tobytes()
