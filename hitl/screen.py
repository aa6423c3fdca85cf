"""What one page event has on screen, and the outputs that bring the page up to a session.

An update dict is what changes a component's visibility, and an unchanged plain value adds
nothing to the stream. So a `Screen` sends an update only where something is shown or hidden,
plain values elsewhere, and leaves the image and the stage boxes out (skipped) when they did not
change; `gradio_internals.light_updates` answers those updates and skips without the component
Gradio would build for each. Page events skip Gradio's postprocess, so the image and gallery go
out as the page receives them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import gradio as gr

from .components import Linked, gallery_payload, image_payload, slider_payload
from .costs import money
from .image_route import image_url
from .log_route import log_url
from .page import CANCEL, COMPARE, UNDO, Page
from .runner import Preview
from .stages import Candidate, Session, Stage

UNKNOWN = object()  # the picture on screen is not known (Cancel may come at any moment)


def visible(session: Session, running: bool = False, drawing: int = 0) -> dict:
    """What the page shows for a session: each stage's controls and the parts that come and go.
    `running`: an image is being made (Cancel shows, the last message hides); `drawing`: how many
    images of several asked for at once have a tile in the gallery so far."""
    picture = session.shown_image
    reviewing = session.stage is Stage.USER_FEEDBACK
    comparing = session.compared_image is not None and not running
    return {
        **{stage: session.stage is stage for stage in Stage},
        "cancel": running,
        "undo": session.stage is Stage.INITIAL_INPUT and session.undo is not None and not running,
        "error_message": bool(session.error_message) and not running,
        "revised_prompt": bool(picture and picture.revised_prompt),
        "gallery": (reviewing and len(session.candidates) > 1) or (running and drawing > 0),
        "compare": reviewing and len(session.candidates) > 1 and not comparing and not running,
        "comparing": comparing,
        "image": not comparing,
    }


def progress_html(text: str) -> str:
    """The line above the image while one is being made; the page's script keeps `.elapsed` ticking."""
    if not text:
        return ""
    return ('<div class="progress" role="status"><span class="spinner" aria-hidden="true"></span>'
            f'<span>{html.escape(text)}</span> <span class="elapsed" aria-hidden="true"></span></div>')


def download_html(session_hash: str, image: Candidate | None) -> str:
    """Plain links to the approved image's bytes and the decision log (served from the session)."""
    if image is None:
        return ""
    url = html.escape(image_url(session_hash, image))
    logs = " · ".join(f'<a href="{html.escape(log_url(session_hash, image, fmt))}" download>{name}</a>'
                      for fmt, name in (("md", "Markdown"), ("json", "JSON")))
    return (f'<a class="hitl-download" href="{url}" download="hitl-image.{image.mime.split("/")[-1]}">⬇ Download</a>'
            f'<p class="hitl-log">Decision log: {logs}</p>')


def cost_html(session: Session, image: Candidate | None) -> str:
    """This image's cost and the session's: what OpenAI reported, or in demo mode what it would have cost."""
    if image is None:
        return ""
    would = "would have cost" if image.estimated else "cost"
    total = f" · this session {'≈ ' if image.estimated else ''}{money(session.spent_usd)}" if session.spent_usd else ""
    return f'<p class="hitl-cost">This image {would} {money(image.cost)}{total}</p>'


@dataclass
class Screen:
    """The page as one event left it: what is visible and which picture is on screen. While several
    images are made at once, each has a tile in the gallery (`drawing`, by slot) with its latest preview."""

    page: Page
    session_hash: str
    shown: dict
    picture: Any  # the Candidate on screen (a preview while running), None, or UNKNOWN
    previews_expected: int = 0  # partial images per generation, for "preview n of m"
    count: int = 1  # images this event asked for
    previews: int = field(default=0, init=False)
    drawing: dict[int, tuple[Candidate, str]] = field(default_factory=dict, init=False)

    @classmethod
    def of(cls, page: Page, session: Session, session_hash: str, running: bool = False,
           previews_expected: int = 0, count: int = 1) -> Screen:
        """The screen as `session` left it; `running`: an image may be on its way (what is on screen is
        not known: Cancel may come at any moment, with preview tiles in the gallery)."""
        shown = visible(session, running)
        if running:
            shown["gallery"] = None
        return cls(page, session_hash, shown, UNKNOWN if running else session.shown_image, previews_expected, count)

    def _progress(self, running: bool, preview: Preview | None) -> str:
        if not running:
            self.previews = 0
            return ""
        if self.count > 1:
            ready = sum(state == "ready" for _, state in self.drawing.values())
            return f"Making {self.count} images… {ready} of {self.count} ready" if self.drawing else \
                f"Making {self.count} images…"
        if preview is None:
            return "Making your image…"
        self.previews += 1
        of = f" of {self.previews_expected}" if self.previews <= self.previews_expected else ""
        return f"Drawing… preview {self.previews}{of}"

    def _draw(self, preview: Preview | None) -> Candidate | None:
        """Note a preview's tile (several images) and say which picture goes on screen: the preview of
        the only image, or of the first of several."""
        if preview is None:
            return None
        if self.count > 1:
            self.drawing[preview.slot] = (preview.candidate, "ready" if preview.ready else "drawing…")
        return preview.candidate if preview.slot == 0 and not preview.ready else None

    def show(self, session: Session, *, running: bool = False, preview: Preview | None = None) -> dict:
        """Outputs keyed by component that bring the page to `session` (with `preview` in the image
        while running); components left out are not touched."""
        page, was = self.page, self.shown
        if not running:
            self.drawing.clear()
        shown_preview = self._draw(preview)
        now = visible(session, running, len(self.drawing))
        picture = shown_preview or (self.picture if running else session.shown_image)
        outputs = {page.session: session}
        boxes = {**page.stage_boxes, "comparing": page.compare_bar}
        outputs |= {box: gr.update(visible=now[key]) for key, box in boxes.items() if now[key] != was[key]}

        def part(key: str, value):
            return gr.update(visible=now[key], value=value) if now[key] != was[key] else value

        if picture is not self.picture or now["image"] != was["image"]:
            outputs[page.image] = part("image", image_payload(picture if shown_preview else self._linked(picture)))
        # When a run ends the message is set either way: an event refused meanwhile may have shown one.
        settled = was["cancel"] and not now["cancel"]
        reviewed = session.shown_image  # a preview has no revised prompt yet: the last one stays
        outputs |= {
            page.cancel: part("cancel", CANCEL),
            page.undo: part("undo", UNDO),
            page.revised_prompt: part("revised_prompt", reviewed.revised_prompt if reviewed else ""),
            page.gallery: part("gallery", self._gallery(session)),
            page.compare: part("compare", COMPARE),
            page.slider: part("comparing", slider_payload(self._pair(session))),
            page.progress: progress_html(self._progress(running, preview)),
            page.your_prompt: session.input_used_by_process,
            page.cost: cost_html(session, reviewed),
            page.download: download_html(self.session_hash, session.final_result),
            page.message: (gr.update(visible=now["error_message"], value=session.error_message) if settled
                           else part("error_message", session.error_message)),
        }
        self.shown, self.picture = now, picture
        return outputs

    def _gallery(self, session: Session) -> list[dict]:
        candidates = [Linked(candidate, self.session_hash) for candidate in session.candidates]
        return gallery_payload(candidates, session.selected, session.compared,
                               [self.drawing[slot] for slot in sorted(self.drawing)])

    def _pair(self, session: Session) -> tuple[Linked, Linked] | None:
        beside = session.compared_image
        return beside and (self._linked(session.shown_image), self._linked(beside))

    def _linked(self, picture: Candidate | None) -> Linked | None:
        return picture and Linked(picture, self.session_hash)
