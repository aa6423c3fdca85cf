"""Gradio components that show base64 images as `data:` URLs, so nothing is written to disk.

Stock `gr.Image` / `gr.Gallery` save every PIL image or array into GRADIO_TEMP_DIR to
serve it. These subclasses hand the browser the bytes inline instead, and keep the stock
frontend (download and fullscreen buttons included) by keeping its block name.
"""

from __future__ import annotations

import gradio as gr
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.data_classes import ImageData

from .stages import Candidate


def _image_data(url: str, mime: str, name: str) -> ImageData:
    return ImageData(url=url, path=None, mime_type=mime, orig_name=name)

from gradio.events import Dependency

class MemoryImage(gr.Image):
    """Output-only image showing a `Candidate` from memory."""

    def get_block_name(self) -> str:
        return "image"

    def postprocess(self, value: Candidate | None) -> ImageData | None:
        if value is None:
            return None
        extension = value.mime.split("/")[-1]
        return _image_data(value.data_url, value.mime, f"hitl-image.{extension}")
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component


class MemoryGallery(gr.Gallery):
    """Output-only gallery of candidate thumbnails."""

    def get_block_name(self) -> str:
        return "gallery"

    def postprocess(self, value: list[Candidate] | None) -> GalleryData:
        return GalleryData(root=[
            GalleryImage(image=_image_data(c.thumb_url, "image/webp", f"candidate-{i + 1}.webp"),
                         caption=f"#{i + 1}")
            for i, c in enumerate(value or [])
        ])
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component