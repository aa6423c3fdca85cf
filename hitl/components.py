"""Gradio components that show images from memory, so nothing is written to disk.

Stock `gr.Image` / `gr.Gallery` save every PIL image or array into GRADIO_TEMP_DIR to
serve it. These subclasses hand the browser the bytes inline as `data:` URLs, or a URL of
`image_route` that serves them from the session, and keep the stock frontend (download and
fullscreen buttons included) by keeping its block name.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr
from gradio.components.gallery import GalleryData, GalleryImage
from gradio.data_classes import ImageData

from .image_route import image_url
from .stages import Candidate


@dataclass(frozen=True)
class Linked:
    """A session's image that the page fetches by URL instead of receiving it inline."""

    candidate: Candidate
    session_hash: str


def _image_data(url: str, mime: str, name: str) -> ImageData:
    return ImageData(url=url, path=None, mime_type=mime, orig_name=name)


class MemoryImage(gr.Image):
    """Output-only image showing a `Candidate` inline, or a `Linked` one by URL."""

    def get_block_name(self) -> str:
        return "image"

    def postprocess(self, value: Candidate | Linked | None) -> ImageData | None:
        if value is None:
            return None
        candidate = value.candidate if isinstance(value, Linked) else value
        url = image_url(value.session_hash, candidate) if isinstance(value, Linked) else candidate.data_url
        return _image_data(url, candidate.mime, f"hitl-image.{candidate.mime.split('/')[-1]}")


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
