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

from .costs import money
from .image_memory import PLACEHOLDER_MIME, PLACEHOLDER_URL, RELEASED
from .image_route import image_url
from .stages import Candidate


@dataclass(frozen=True)
class Linked:
    """A session's image that the page fetches by URL instead of receiving it inline."""

    candidate: Candidate
    session_hash: str

    @property
    def url(self) -> str:
        return image_url(self.session_hash, self.candidate)


def _image_data(url: str, mime: str, stem: str) -> ImageData:
    return ImageData(url=url, path=None, mime_type=mime, orig_name=f"{stem}.{mime.split('/')[-1]}")


def _image(value: Candidate | Linked | None) -> ImageData | None:
    if isinstance(value, Linked):
        return _image_data(value.url, value.candidate.mime, "hitl-image")
    if value is not None and value.released:
        return _image_data(PLACEHOLDER_URL, PLACEHOLDER_MIME, "hitl-image")
    return value and _image_data(value.data_url, value.mime, "hitl-image")  # encoded here, for this answer


def _listed(item: Candidate | Linked, stem: str) -> ImageData:
    if isinstance(item, Linked):
        return _image_data(item.url, item.candidate.mime, stem)
    if item.released and not item.thumb:
        return _image_data(PLACEHOLDER_URL, PLACEHOLDER_MIME, stem)
    return _image_data(item.thumb_url, "image/webp" if item.thumb else item.mime, stem)  # encoded here


ON_SCREEN = "on screen"  # the caption's mark for the candidate under review (the page's script reads it too)


def _caption(number: int, candidate: Candidate, current: bool) -> str:
    """"#2 · $0.041 · on screen": its number, what it cost (≈ when estimated), and the mark."""
    parts = [f"#{number}"]
    if candidate.cost is not None:
        parts.append(f"{'≈' if candidate.estimated else ''}{money(candidate.cost)}")
    return " · ".join(parts + [ON_SCREEN] * current + [RELEASED] * candidate.released)


def _gallery(items: list[Candidate | Linked] | None, current: int = -1) -> GalleryData:
    return GalleryData(root=[GalleryImage(image=_listed(item, f"candidate-{i + 1}"),
                                          caption=_caption(i + 1, getattr(item, "candidate", item), i == current))
                             for i, item in enumerate(items or [])])


# What the page receives, for events that skip Gradio's postprocess (which runs each output of
# each streamed step in a worker thread).
def image_payload(value: Candidate | Linked | None) -> dict | None:
    image = _image(value)
    return image and image.model_dump()


def gallery_payload(items: list[Candidate | Linked], current: int = -1) -> list[dict]:
    return _gallery(items, current).model_dump()


class MemoryImage(gr.Image):
    """Output-only image showing a `Candidate` inline, or a `Linked` one by URL."""

    def get_block_name(self) -> str:
        return "image"

    def postprocess(self, value: Candidate | Linked | None) -> ImageData | None:
        return _image(value)


class MemoryGallery(gr.Gallery):
    """Output-only gallery of candidates: `Linked` full images (the browser holds them already
    from showing them, so they cost nothing more), or inline thumbnails for API callers."""

    def get_block_name(self) -> str:
        return "gallery"

    def postprocess(self, value: list[Candidate | Linked] | None) -> GalleryData:
        return _gallery(value)
