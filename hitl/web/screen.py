"""What one page event has on screen, and the outputs that bring the page up to a session.

An update dict is what changes a component's visibility, and an unchanged plain value adds
nothing to the stream. So a `Screen` sends an update only where something is shown or hidden,
plain values elsewhere, and leaves the image and the stage boxes out (skipped) when they did not
change. Page events skip Gradio's postprocess, so the image and gallery go out as the page
receives them.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import Block

from hitl.core.jobs import Job
from hitl.core.stages import Action, Candidate, Session, Stage
from hitl.core.validation import MAX_COUNT
from hitl.serving.costs import money
from hitl.web.components import Linked, gallery_payload, image_payload, slider_payload
from hitl.web.image_route import image_url
from hitl.web.log_route import log_url
from hitl.web.page import CANCEL, COMPARE, SHOW_BATCH, UNDO, Page


def latest_batch(session: Session) -> list[Candidate]:
    """The candidates the latest click made: the newest ones with one lineage (the same action, from the
    same candidate, with the same words and options), as the images of one click have."""
    candidates = session.candidates[-MAX_COUNT:]
    lineage = [(c.made_by, c.parent, c.instruction, c.options) for c in candidates]
    size = 0
    while size < len(candidates) and lineage[-1 - size] == lineage[-1]:
        size += 1
    return candidates[len(candidates) - size:]


def visible(session: Session, running: bool = False, drawing: int = 0, focused: bool = False) -> dict:
    """What the page shows for a session: each stage's controls and the parts that come and go.
    `running`: an image is being made (Cancel shows, the last message hides); `drawing`: how many
    images of several asked for at once have a tile so far; `focused`: this tab shows one of a batch
    at full size (else the batch is a grid, the picture until one is clicked)."""
    picture = session.shown_image
    reviewing = session.stage is Stage.USER_FEEDBACK
    comparing = session.compared_image is not None and not running
    several = reviewing and not comparing and len(latest_batch(session)) > 1
    grid = (running and drawing > 0) or (several and not running and not focused)
    return {
        **{stage: session.stage is stage for stage in Stage},
        "cancel": running,
        "undo": session.stage is Stage.INITIAL_INPUT and session.undo is not None and not running,
        "error_message": bool(session.error_message) and not running,
        "revised_prompt": bool(picture and picture.revised_prompt),
        "gallery": (reviewing and len(session.candidates) > 1) or (running and drawing > 0),
        "compare": reviewing and len(session.candidates) > 1 and not comparing and not running,
        "comparing": comparing,
        "batch": grid,
        "show_batch": several and focused and not running,
        "image": not grid,
    }


def progress_html(text: str, since: float = 0.0) -> str:
    """The line above the image while one is being made; the page's script keeps `.elapsed` ticking from
    `since` (the job's start, wall clock), so a reloaded page or a second tab counts from the click."""
    if not text:
        return ""
    return ('<div class="progress" role="status"><span class="spinner" aria-hidden="true"></span>'
            f'<span>{html.escape(text)}</span> <span class="elapsed" aria-hidden="true" '
            f'data-since="{int(since * 1000)}"></span></div>')


def download_stem(session: Session, image: Candidate) -> str:
    """What a download is saved as, without its extension: the prompt's first words and the image's number
    ("glass-lighthouse-3"), so a folder of approved images says what each is. Word characters only: safe on
    every OS."""
    words = ""
    for word in re.findall(r"[^\W_]+", session.input_used_by_process.lower()):
        if len(words) + len(word) >= DOWNLOAD_CHARS:
            break
        words = f"{words}-{word}" if words else word
    number = next((n for n, candidate in enumerate(session.candidates, 1) if candidate.key == image.key), None)
    return "-".join(str(part) for part in (words or "hitl-image", number) if part)


def download_name(session: Session, image: Candidate) -> str:
    return f"{download_stem(session, image)}.{image.mime.split('/')[-1]}"


DOWNLOAD_CHARS = 48  # of the prompt, in a download's name


def log_html(session_hash: str, anchor: Candidate) -> str:
    """Links to the session's decision log (served from the session), named through `anchor`, an image it holds."""
    logs = " · ".join(f'<a href="{html.escape(log_url(session_hash, anchor, fmt))}" download>{name}</a>'
                      for fmt, name in (("md", "Markdown"), ("json", "JSON")))
    return f'<p class="hitl-log">Decision log: {logs}</p>'


def download_html(session_hash: str, session: Session) -> str:
    """Plain links to the approved image's bytes and the decision log (served from the session)."""
    image = session.final_result
    if image is None:
        return ""
    url = html.escape(image_url(session_hash, image))
    name = html.escape(download_name(session, image))
    return f'<a class="hitl-download" href="{url}" download="{name}">Download</a>' + log_html(session_hash, image)


def cost_html(session: Session, image: Candidate | None, session_hash: str = "") -> str:
    """This image's cost and the session's: what OpenAI reported, or in demo mode what it would have cost. In
    review, with `session_hash`, the decision log so far too (when approved it sits by the Download)."""
    if image is None:
        return ""
    would = "would have cost" if image.estimated else "cost"
    total = f" · this session {'≈ ' if image.estimated else ''}{money(session.spent_usd)}" if session.spent_usd else ""
    log = log_html(session_hash, image) if session_hash and session.stage is Stage.USER_FEEDBACK else ""
    return f'<p class="hitl-cost">This image {would} {money(image.cost)}{total}</p>{log}'


@dataclass
class Screen:
    """What one tab shows, kept from one of its events to the next (its job watch, its clicks), so each
    render sends only what changed. While a job runs, its previews come from the `Job`: the only image's
    on screen, or with several a tile each in the batch's grid (and among all candidates)."""

    page: Page
    session_hash: str
    shown: dict
    picture: Any  # the Candidate on screen (a preview while running), or None
    prompt: str  # what the prompt box was last given
    # what "Your prompt" (review) was last given, and in which stage: sent again only when either changes,
    # so an edit being typed for Remix is never written over, yet a new review starts from its own prompt
    remix_prompt: tuple[str, Stage] = ("", Stage.INITIAL_INPUT)
    previews_expected: int = 0  # partial images per generation, for "preview n of m"
    version: int = -1  # the home's version this tab shows
    focused: bool = False  # one of the latest batch at full size, not the grid (this tab's own view)
    batch: tuple[str, ...] = ()  # the latest batch's keys: a new batch shows as a grid again
    note: tuple[str, Any] = ("", None)  # this tab's own message, and the job (or session) it is about
    said: tuple[Any, ...] = ("", None, 0)  # the message's text, the session that said it, and its serial
    tags: tuple[str, ...] = ()  # the classes the message was last given (what it is about, and its serial)
    refining: frozenset[str] | None = None  # the candidates there when this tab pressed Refine, until it ends

    @classmethod
    def of(cls, page: Page, session: Session, session_hash: str, previews_expected: int = 0) -> Screen:
        """The screen as `session` left it."""
        return cls(page, session_hash, visible(session), session.shown_image, session.prompt_draft,
                   (session.input_used_by_process, session.stage), previews_expected,
                   batch=tuple(c.key for c in latest_batch(session)))

    def _progress(self, job: Job | None) -> str:
        if job is None or not job.started:
            return ""
        if job.count > 1:
            ready = sum(preview.ready for preview in job.previews.values())
            return f"Making {job.count} images… {ready} of {job.count} ready" if job.previews else \
                f"Making {job.count} images…"
        previews = job.partials.get(0, 0)
        if not previews:
            return "Making your image…"
        of = f" of {self.previews_expected}" if previews <= self.previews_expected else ""
        return f"Drawing… preview {previews}{of}"

    @staticmethod
    def _drawing(job: Job | None) -> list[tuple[Candidate, str]]:
        if job is None or job.count == 1:
            return []
        return [(job.previews[slot].candidate, "ready" if job.previews[slot].ready else "drawing…")
                for slot in sorted(job.previews)]

    def show(self, session: Session, job: Job | None = None, note: str = "") -> dict:
        """Outputs keyed by component that bring the tab to `session` (with `job`'s previews while it
        runs, and `note`, a message for this tab alone, instead of the session's); components left out
        are not touched."""
        page, was = self.page, self.shown
        running = job is not None and job.started
        drawing = self._drawing(job)
        # one image's previews go on screen; several draw in their own tiles of the batch's grid
        first = job.previews.get(0) if job is not None and running and job.count == 1 else None
        shown_preview = first.candidate if first is not None and not first.ready else None
        batch = latest_batch(session)
        if tuple(c.key for c in batch) != self.batch:
            self.batch, self.focused = tuple(c.key for c in batch), False
        now = visible(session, running, len(drawing), self.focused)
        picture = shown_preview or (self.picture if running else session.shown_image)
        outputs: dict[Block, Any] = {page.session: session}
        boxes: dict[Any, Block] = {**page.stage_boxes, "comparing": page.compare_bar}  # keyed by Stage or str
        outputs |= {box: gr.update(visible=now[key]) for key, box in boxes.items() if now[key] != was[key]}

        def part(key: str, value):
            return gr.update(visible=now[key], value=value) if now[key] != was[key] else value

        if picture is not self.picture or now["image"] != was["image"]:
            shown = picture if shown_preview else self._linked(session, picture)
            outputs[page.image] = part("image", image_payload(shown))
        if session.prompt_draft != self.prompt:  # another tab asked for it, or a reload brings it back
            outputs[page.prompt] = self.prompt = session.prompt_draft
        if (session.input_used_by_process, session.stage) != self.remix_prompt:
            self.remix_prompt = (session.input_used_by_process, session.stage)
            outputs[page.your_prompt] = session.input_used_by_process
        reviewed = session.shown_image  # a preview has no revised prompt yet: the last one stays
        if note:
            self.note = (note, job if running else session)
        held = bool(self.note[0]) and (self.note[1] is job or self.note[1] is session)
        text = self.note[0] if held else session.error_message
        shown_message = gr.update(visible=bool(text) and (held or not running), value=text)
        if (tags := self._tags(text, None if held else session)) != self.tags:
            self.tags = tags
            shown_message["elem_classes"] = list(tags)
        outputs |= {
            page.cancel: part("cancel", CANCEL),
            page.undo: part("undo", UNDO),
            page.revised_prompt: part("revised_prompt", reviewed.revised_prompt if reviewed else ""),
            page.gallery: part("gallery", self._gallery(session, drawing)),
            page.compare: part("compare", COMPARE),
            page.batch: part("batch", self._gallery(session, drawing, first=len(session.candidates) - (
                0 if running else len(batch)))),
            page.show_batch: part("show_batch", SHOW_BATCH),
            page.approve_left: part("comparing", "Approve left"),
            page.beside: image_payload(self._linked(session, session.compared_image)),
            page.slider: part("comparing", slider_payload(self._pair(session))),
            page.progress: progress_html(self._progress(job), job.since if job else 0.0),
            page.cost: cost_html(session, reviewed, self.session_hash),
            page.download: download_html(self.session_hash, session),
            # Always set: a note or a refusal may show whatever the session says. A note stays while
            # what it is about does (the job it refused to interrupt, the session it refused to change).
            page.message: shown_message,
        }
        if self.refining is not None and job is None:  # this tab's Refine is over
            if any(c.made_by == Action.REFINE.value and c.key not in self.refining for c in session.candidates):
                outputs[page.feedback] = ""  # used: it is in the new candidate's caption (a failure keeps it)
            self.refining = None
        self.shown, self.picture = now, picture
        return outputs

    def _tags(self, text: str, session: Session | None) -> tuple[str, ...]:
        """What the page's script needs to take a message away once its cause is fixed (page.js): what it is
        about ("hitl-about-prompt"), and a serial that is new for each event that says it, so a message the
        user fixed comes back when the next action says it again. Plain messages get none."""
        about = getattr(text, "about", "")
        if not about:
            return ()
        if text != self.said[0] or session is not self.said[1]:
            self.said = (text, session, self.said[2] + 1)
        return f"hitl-about-{about}", f"hitl-said-{self.said[2]}"

    def _gallery(self, session: Session, drawing: list[tuple[Candidate, str]], first: int = 0) -> list[dict]:
        """The candidates' tiles from the `first` on, then those still being drawn."""
        candidates = [Linked(candidate, self.session_hash) for candidate in session.candidates]
        return gallery_payload(candidates, session.selected, session.compared, drawing)[first:]

    def _pair(self, session: Session) -> tuple[Linked | None, Linked | None] | None:
        beside = session.compared_image
        return None if beside is None else (self._linked(session, session.shown_image), self._linked(session, beside))

    def _linked(self, session: Session, picture: Candidate | None) -> Linked | None:
        """A picture the page fetches by URL, saved as `download_name` by the image toolbar's Download."""
        return None if picture is None else Linked(picture, self.session_hash, download_stem(session, picture))
