"""Gradio components that show images from memory, so nothing is written to disk.

Stock `gr.Image` / `gr.Gallery` save every PIL image or array into GRADIO_TEMP_DIR to
serve it. These subclasses hand the browser the bytes inline as `data:` URLs, or a URL of
`image_route` that serves them from the session, and keep the stock frontend (download and
fullscreen buttons included) by keeping its block name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import gradio as gr
from gradio.components.gallery import GalleryData, GalleryImage, GalleryVideo
from gradio.components.imageslider import SliderData
from gradio.data_classes import ImageData

from hitl.core.history import came_from
from hitl.core.stages import Candidate
from hitl.serving.costs import money
from hitl.serving.image_memory import PLACEHOLDER_MIME, PLACEHOLDER_URL, RELEASED
from hitl.web.image_route import image_url


@dataclass(frozen=True)
class Linked:
    """A session's image that the page fetches by URL instead of receiving it inline."""

    candidate: Candidate
    session_hash: str
    name: str = "hitl-image"  # what the image toolbar's Download saves it as, without the extension

    @property
    def url(self) -> str:
        return image_url(self.session_hash, self.candidate)


def _image_data(url: str, mime: str, stem: str) -> ImageData:
    return ImageData(url=url, path=None, mime_type=mime, orig_name=f"{stem}.{mime.split('/')[-1]}")


def _image(value: Candidate | Linked | None) -> ImageData | None:
    if isinstance(value, Linked):
        return _image_data(value.url, value.candidate.mime, value.name)
    if value is not None and value.released:
        return _image_data(PLACEHOLDER_URL, PLACEHOLDER_MIME, "hitl-image")
    return None if value is None else _image_data(value.data_url, value.mime, "hitl-image")  # encoded per answer


def _listed(item: Candidate | Linked, stem: str) -> ImageData:
    if isinstance(item, Linked):
        return _image_data(item.url, item.candidate.mime, stem)
    if item.released and not item.thumb:
        return _image_data(PLACEHOLDER_URL, PLACEHOLDER_MIME, stem)
    return _image_data(item.thumb_url, "image/webp" if item.thumb else item.mime, stem)  # encoded here


ON_SCREEN = "on screen"  # the caption's mark for the candidate under review (the page's script reads it too)
BESIDE = "beside it"  # the mark for the one compared with it


def _lineage(candidate: Candidate, numbers: dict[str, int]) -> str:
    """What made it, from which candidate: "refine of #2 “add snow”" (an upload says so; a first image says nothing)."""
    parent = None
    if candidate.parent is not None:
        parent = f"#{numbers[candidate.parent]}" if candidate.parent in numbers else "an earlier one"
    came = came_from(candidate.made_by, parent)
    said = candidate.instruction if len(candidate.instruction) <= 24 else candidate.instruction[:23] + "…"
    return " ".join([came, *([f"“{said}”"] if came and said else [])])


def _caption(number: int, candidate: Candidate, numbers: dict[str, int], mark: str = "") -> str:
    """"#3 · refine of #2 “add snow” · $0.041 · on screen": its number, lineage, cost (≈ when estimated), mark."""
    parts = [f"#{number}", _lineage(candidate, numbers)]
    if candidate.cost is not None:
        parts.append(f"{'≈' if candidate.estimated else ''}{money(candidate.cost)}")
    return " · ".join(part for part in [*parts, mark, RELEASED * candidate.released] if part)


def _gallery(items: Sequence[Candidate | Linked] | None, current: int = -1, compared: int = -1,
             drawing: Sequence[tuple[Candidate, str]] = ()) -> GalleryData:
    """The candidates, captioned, then the images still being made (inline thumbnails, with what they are at)."""
    candidates = [item.candidate if isinstance(item, Linked) else item for item in items or []]
    numbers = {candidate.key: i + 1 for i, candidate in enumerate(candidates)}
    marks = {current: ON_SCREEN, compared: BESIDE}
    tiles: list[GalleryImage | GalleryVideo] = [  # GalleryData's item type (only images here)
        GalleryImage(image=_listed(item, f"candidate-{i + 1}"),
                     caption=_caption(i + 1, candidate, numbers, marks.get(i, "")))
        for i, (item, candidate) in enumerate(zip(items or [], candidates, strict=True))]
    tiles += [GalleryImage(image=_listed(preview, f"new-{i + 1}"), caption=f"new {i + 1} · {state}")
              for i, (preview, state) in enumerate(drawing)]
    return GalleryData(root=tiles)


# What the page receives, for events that skip Gradio's postprocess (which runs each output of
# each streamed step in a worker thread).
def image_payload(value: Candidate | Linked | None) -> dict | None:
    image = _image(value)
    return None if image is None else image.model_dump()


def gallery_payload(items: Sequence[Candidate | Linked], current: int = -1, compared: int = -1,
                    drawing: Sequence[tuple[Candidate, str]] = ()) -> list[dict]:
    return _gallery(items, current, compared, drawing).model_dump()


def slider_payload(pair: tuple[Linked | None, Linked | None] | None) -> list[dict] | None:
    slider = _slider(pair)
    return None if slider is None else slider.model_dump()


def _slider(pair: tuple[Linked | None, Linked | None] | None) -> SliderData | None:
    return pair and SliderData(root=(_image(pair[0]), _image(pair[1])))


class MemoryImage(gr.Image):
    """Output-only image showing a `Candidate` inline, or a `Linked` one by URL."""

    def get_block_name(self) -> str:
        return "image"

    # Narrower than gr.Image's: output-only, it is given only what this app's handlers return.
    def postprocess(self, value: Candidate | Linked | None) -> ImageData | None:  # type: ignore[override]
        return _image(value)


@dataclass(frozen=True)
class Marked:
    """A session's candidates with the one on screen and the one beside it (indexes), for API answers."""

    candidates: list[Candidate]
    current: int = -1
    compared: int = -1


class MemoryGallery(gr.Gallery):
    """Output-only gallery of candidates: `Linked` full images (the browser holds them already
    from showing them, so they cost nothing more), or inline thumbnails for API callers."""

    def get_block_name(self) -> str:
        return "gallery"

    # Narrower than gr.Gallery's: output-only, it is given only what this app's handlers return.
    def postprocess(self, value: Marked | list[Candidate | Linked] | None) -> GalleryData:  # type: ignore[override]
        if isinstance(value, Marked):
            return _gallery(value.candidates, value.current, value.compared)
        return _gallery(value)


class MemoryImageSlider(gr.ImageSlider):
    """Output-only slider over two of the session's images, linked by URL (the stock one saves files)."""

    def get_block_name(self) -> str:
        return "imageslider"

    # Narrower than gr.ImageSlider's: output-only, it is given only what this app's handlers return.
    def postprocess(self, value: tuple[Linked, Linked] | None) -> SliderData | None:  # type: ignore[override]
        return _slider(value)
