"""Send for review, on the web: the owner's panel (make a link, revoke it, the reviewer's requests), the
reviewer's page (`/review#<token>`, a page of its own in the same app) and the API for both.

The token travels in the URL's fragment, which browsers never send to a server: it reaches this app only
inside the queue's JSON (the reviewer page's load reads `location.hash`), so no access log, proxy or
Referer header ever sees it. The reviewer's tab holds a `Reviewer`, never a `Session`: the owner's page
events given that tab have no session of the owner's to act on, and the reviewer's own events can only
approve or ask for changes (hitl/core/review.py). The reviewer's page watches the owner's `Home` as any
tab of the session does, showing the same images by URL (no extra copy held).
"""

from __future__ import annotations

import html
import time
import weakref
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any

import gradio as gr

from hitl.core.history import came_from
from hitl.core.review import DEFAULT_MINUTES, INVALID, Reviewer, review
from hitl.core.runner import Runtime, run_action
from hitl.core.stages import Action, Candidate, Session, Stage
from hitl.serving.costs import money
from hitl.web.components import Linked, MemoryGallery, MemoryImage, gallery_payload, image_payload
from hitl.web.events import PageEvents, client_address, tab_of
from hitl.web.review_panel import latest_request

PATH = "review"  # the reviewer's page: /review#<token>
REVIEWER_HELP = ("Someone sent you these candidates for review. Click one to look at it, then approve it or "
                 "ask for changes. You cannot make or change images here.")


# -- the owner's events -------------------------------------------------------------------------------------

class OwnerEvents:
    """The owner's review events on the page, on the session's home (every render draws the panel too)."""

    def __init__(self, page_events: PageEvents):
        self.events, self.runtime = page_events, page_events.runtime

    def render(self, request: gr.Request, session: Session, note: str = "") -> dict:
        home = self.events.home(request, session)
        return self.events.render(self.events.screen(tab_of(request), session), home, note)

    def send(self, minutes, session: Session, request: gr.Request) -> dict:
        home = self.events.home(request, session)
        if home.session.stage is not Stage.USER_FEEDBACK:
            return self.render(request, session, "There is nothing to review yet: generate an image first.")
        token = self.runtime.desk.issue(home, minutes, time.monotonic())
        link = self.events.page.sharing.link
        return {**self.render(request, session), link: gr.update(value=f"{PATH}#{token}", visible=True)}

    def revoke(self, session: Session, request: gr.Request) -> dict:
        self.runtime.desk.revoke(self.events.home(request, session))
        return self.render(request, session)

    async def use_request(self, session: Session, request: gr.Request) -> dict:
        """The reviewer's latest request into Refine's feedback, its candidate on screen (Refine acts on it)."""
        found = latest_request(self.events.home(request, session).session)
        if found is None:
            return self.render(request, session)
        wanted, candidate = found
        current = self.events.home(request, session).session
        shown = await self.events.act(Action.SELECT, session, request,
                                      select_index=current.candidates.index(candidate))
        return {**shown, self.events.page.feedback: wanted["comment"]}


# -- the reviewer's page ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReviewPage:
    view: gr.State  # the tab's `Reviewer`, or None (a link that is not valid)
    token: gr.Textbox  # hidden: the page's load hands over the URL's fragment
    message: gr.Textbox
    body: gr.Column
    progress: gr.HTML
    image: MemoryImage  # the candidate the reviewer looks at
    caption: gr.HTML
    gallery: MemoryGallery
    approve: gr.Button
    comment: gr.Textbox
    ask: gr.Button

    @property
    def outputs(self) -> list:
        return [self.view, self.message, self.body, self.progress, self.image, self.caption, self.gallery,
                self.approve, self.comment, self.ask]


def review_layout(max_comment: int) -> ReviewPage:
    """The reviewer's page, inside `demo.route(...)`: the candidate and the decisions in one screen, big targets."""
    view = gr.State(None)
    token = gr.Textbox("", visible=False, elem_id="review-token")
    gr.HTML("<h1>Review</h1>", elem_id="review-title")
    message = gr.Textbox(label="Message", interactive=False, elem_id="review-message", value="Opening the review…")
    with gr.Column(visible=False, elem_id="review-body") as body:
        gr.HTML(f"<p>{REVIEWER_HELP}</p>", elem_id="review-help")
        # The picture and the two decisions in one screen: side by side on a desktop, stacked on a phone
        # (the columns wrap below their min_width; assets/review.css sizes the picture to fit).
        with gr.Row(elem_id="review-workspace"):
            with gr.Column(scale=3, min_width=320):
                progress = gr.HTML("", elem_id="review-progress")
                image = MemoryImage(label="Candidate", interactive=False, height=480, elem_id="review-image",
                                    buttons=["fullscreen"], alt_text="The candidate under review")
                caption = gr.HTML("", elem_id="review-caption")
            with gr.Column(scale=2, min_width=320, elem_id="review-decide"):
                approve = gr.Button("Approve this", variant="primary", elem_id="review-approve")
                comment = gr.Textbox(label="What should change?", lines=2, max_length=max_comment,
                                     elem_id="review-comment")
                ask = gr.Button("Ask for changes", elem_id="review-ask")
        gallery = MemoryGallery(label="Candidates (click one to look at it)", columns=4, fit_columns=False,
                                allow_preview=False, buttons=[], height="auto", elem_id="review-gallery")
    return ReviewPage(view, token, message, body, progress, image, caption, gallery, approve, comment, ask)


def acting(runtime: Runtime, request: gr.Request):
    """The runner, bound to the app and the caller's address, as `review` takes it."""
    address = client_address(request, runtime.settings.proxy_hops)
    return lambda action, session, **inputs: run_action(action, session, runtime, client_ip=address, **inputs)


def caption(session: Session, candidate: Candidate) -> str:
    """"#3 · refine of #2 · “add snow” · cost $0.041": its number, lineage, what was asked, its cost."""
    numbers = {c.key: i + 1 for i, c in enumerate(session.candidates)}
    parent = f"#{numbers[candidate.parent]}" if candidate.parent in numbers else None
    parts = [f"#{numbers[candidate.key]}", came_from(candidate.made_by, parent)]
    if candidate.instruction:
        parts.append(f"“{candidate.instruction}”")
    if candidate.cost is not None:
        parts.append(f"{'would have cost' if candidate.estimated else 'cost'} {money(candidate.cost)}")
    return " · ".join(p for p in parts if p)


class ReviewEvents:
    """The reviewer's page events: open the link, watch the session, pick, approve, ask for changes."""

    def __init__(self, page: ReviewPage, page_events: PageEvents):
        self.page, self.events, self.runtime = page, page_events, page_events.runtime
        # What each page last told its reviewer ("Sent: …"): the watch redraws the page as the session moves
        # (the reviewer's own request moves it too), and the answer must outlive that redraw.
        self.notes: weakref.WeakKeyDictionary[Reviewer, str] = weakref.WeakKeyDictionary()

    def looked_at(self, view: Reviewer, session: Session) -> Candidate | None:
        key = view.picked or (session.shown_image.key if session.shown_image else "")
        return next((c for c in session.candidates if c.key == key), session.shown_image)

    def render(self, view: Reviewer | None, tab: str, note: str = "") -> dict:
        page = self.page
        session = view.session if view is not None else None
        if view is None or session is None:
            return {page.view: None, page.message: gr.update(value=INVALID, visible=True),
                    page.body: gr.update(visible=False), page.image: None, page.gallery: [], page.progress: "",
                    page.caption: ""}
        view.shown = view.home.version
        job, candidate = view.home.job, self.looked_at(view, session)
        deciding = session.stage is Stage.USER_FEEDBACK and job is None
        drawing = [(job.previews[s].candidate, "ready" if job.previews[s].ready else "drawing…")
                   for s in sorted(job.previews)] if job is not None else []
        index = session.candidates.index(candidate) if candidate in session.candidates else -1
        said = self.told(view, note, session, job is not None)
        return {
            page.view: view, page.message: gr.update(value=said, visible=bool(said)),
            page.body: gr.update(visible=True),
            page.progress: f'<p class="progress" role="status">Making {job.count} image(s)…</p>' if job else "",
            page.image: image_payload(Linked(candidate, tab) if candidate else None),
            page.caption: f'<p class="hitl-cost">{html.escape(caption(session, candidate))}</p>' if candidate else "",
            page.gallery: gallery_payload([Linked(c, tab) for c in session.candidates], index, -1, drawing),
            page.approve: gr.update(interactive=deciding), page.ask: gr.update(interactive=deciding),
        }

    def told(self, view: Reviewer, note: str, session: Session, making: bool) -> str:
        """The page's message: a new note, else where the session stands (approved, an image being made), else
        the last note, until the session moves on to one of those."""
        standing = (("✓ Approved by you. Thank you!" if session.approved_by_reviewer else
                     "The owner approved one of these.") if session.stage is Stage.FINAL else
                    "An image is being made: it appears here when it is ready." if making else "")
        if note or standing:
            self.notes[view] = note
        return note or standing or self.notes.get(view, "")

    def open(self, token, request: gr.Request) -> dict:
        view = Reviewer.open(self.runtime.desk, token)
        return self.render(view, tab_of(request))

    async def watch(self, view: Reviewer | None, request: gr.Request):
        """As a tab of the session watches its home: new candidates and previews arrive as they are made;
        a revoked or expired link is shown as not valid at once, and the watch ends. With no link to watch it
        ends after one step that draws nothing (see `PageEvents.watch`: no step, and the page empties every
        output, the "not valid" message among them)."""
        if view is None:
            yield gr.skip()
            return
        tab = tab_of(request)
        # From the version the page last drew, as a page's watch does: what changed between the page load and
        # this watch's start (a new candidate, a revoked link) is drawn at once.
        async with aclosing(self.events.changes(request, view.home, lambda: view.shown)) as changes:
            async for changed in changes:  # one more tab's watch: the page's caps and release count it
                if view.session is None:  # revoked or expired: shown as not valid, and the watch ends
                    yield self.render(None, tab)
                    return
                yield self.render(view, tab) if changed else gr.skip()

    def pick(self, view: Reviewer | None, event: gr.SelectData, request: gr.Request) -> dict:
        session = view.session if view is not None else None
        if view is not None and session is not None and isinstance(event.index, int) \
                and 0 <= event.index < len(session.candidates):
            view.picked = session.candidates[event.index].key
            self.notes.pop(view, None)  # a new look: the last answer was about another
        return self.render(view, tab_of(request))

    async def approve(self, view: Reviewer | None, request: gr.Request) -> dict:
        return await self.decide(view, request, Action.REVIEW_APPROVE)

    async def ask(self, view: Reviewer | None, comment, request: gr.Request) -> dict:
        outputs = await self.decide(view, request, Action.REQUEST_CHANGES, comment)
        if outputs[self.page.message].get("value") == SENT_TO_OWNER:
            outputs[self.page.comment] = ""
        return outputs

    async def decide(self, view: Reviewer | None, request: gr.Request, action: Action, comment="") -> dict:
        tab = tab_of(request)
        session = view.session if view is not None else None
        if view is None or session is None:
            return self.render(None, tab)
        candidate = self.looked_at(view, session)
        said = await review(view, acting(self.runtime, request), action, candidate.key if candidate else None, comment)
        if not said and action is Action.REQUEST_CHANGES:
            said = SENT_TO_OWNER
        return self.render(view, tab, said)


SENT_TO_OWNER = "Sent: the owner sees your request beside the candidate."


# -- the API ----------------------------------------------------------------------------------------------

class ReviewEndpoints:
    """`/review_link` for the owner's scripts; `/review_view`, `/review_approve`, `/review_request_changes`
    for a reviewer's (the token in each call's body, never in a URL)."""

    def __init__(self, page_events: PageEvents):
        self.events, self.runtime = page_events, page_events.runtime

    def review_link(self, minutes, revoke, session: Session, request: gr.Request) -> str:
        """Make a review link for this session (stage user_feedback): `minutes` is how long it works (15, 60,
        240 or 1440); the answer is its path, `review#<token>`, to append to the app's URL (shown once; a new
        link revokes the last). With `revoke` true, the link stops working and the answer is empty."""
        home = self.events.home(request, session)  # the session's, as the page's own events find it
        if revoke:
            self.runtime.desk.revoke(home)
            return ""
        if home.session.stage is not Stage.USER_FEEDBACK:
            return ""
        return f"{PATH}#{self.runtime.desk.issue(home, int(minutes or DEFAULT_MINUTES), time.monotonic())}"

    def review_view(self, token) -> dict:
        """What a review link shows, as JSON: the stage, who approved (if anyone), and each candidate's key
        (what `/review_approve` and `/review_request_changes` take), number, caption and thumbnail."""
        view = Reviewer.open(self.runtime.desk, token)
        session = view.session if view is not None else None
        if view is None or session is None:
            return {"error": INVALID}
        return {"stage": session.stage.value, "approved_by_reviewer": session.approved_by_reviewer,
                "making": view.home.job is not None,
                "candidates": [{"key": c.key, "number": i + 1, "caption": caption(session, c),
                                "thumbnail": c.thumb_url} for i, c in enumerate(session.candidates)]}

    async def review_approve(self, token, key, request: gr.Request) -> str:
        """Approve the candidate with `key` (from `/review_view`); the answer is "" when done, else why not."""
        return await self.decide(token, key, "", request, Action.REVIEW_APPROVE)

    async def review_request_changes(self, token, key, comment, request: gr.Request) -> str:
        """Ask for changes to the candidate with `key`, with a comment (up to 1,000 characters)."""
        return await self.decide(token, key, comment, request, Action.REQUEST_CHANGES)

    async def decide(self, token, key, comment, request: gr.Request, action: Action) -> str:
        view = Reviewer.open(self.runtime.desk, token)
        if view is None:
            return INVALID
        return await review(view, acting(self.runtime, request), action, key, comment)


# -- wiring -----------------------------------------------------------------------------------------------

QUICK: dict[str, Any] = dict(api_visibility="private", postprocess=False, show_progress="hidden",
                             concurrency_limit=None)
# The browser makes the link absolute (the server may sit behind a proxy with a path of its own).
ABSOLUTE = "(link) => link && !link.includes('://') ? new URL(link, document.baseURI).href : link"


def wire_owner(page_events: PageEvents) -> None:
    """The owner's review events and `/review_link`, inside the main page's Blocks."""
    page, owner = page_events.page, OwnerEvents(page_events)
    panel, every = page.sharing, page_events.outputs()
    panel.send.click(owner.send, [panel.minutes, page.session], every, api_name="page_send_review", **QUICK
                     ).then(None, [panel.link], [panel.link], js=ABSOLUTE)
    panel.revoke.click(owner.revoke, [page.session], every, api_name="page_revoke_review", **QUICK)
    panel.use_request.click(owner.use_request, [page.session], every, api_name="page_use_request",
                            **QUICK)
    revoke = gr.Checkbox(False, visible=False, label="Revoke the link")
    api = ReviewEndpoints(page_events)
    gr.on([], api.review_link, [panel.minutes, revoke, page.session], panel.link, api_name="review_link",
          concurrency_limit=None, show_progress="hidden")


def reviewer_page(demo: gr.Blocks, page_events: PageEvents, max_comment: int) -> None:
    """The reviewer's page and the reviewer's API, inside `demo.route(...)`."""
    gr.Navbar(visible=False)
    page = review_layout(max_comment)
    reviewer = ReviewEvents(page, page_events)
    every = page.outputs
    demo.load(reviewer.open, [page.token], every, js="() => [decodeURIComponent(location.hash.slice(1))]",
              api_name="review_open", **QUICK
              ).then(reviewer.watch, [page.view], every, api_name="review_watch", **QUICK)
    page.gallery.select(reviewer.pick, [page.view], every, api_name="review_pick", **QUICK)
    page.approve.click(reviewer.approve, [page.view], every, api_name="review_page_approve", **QUICK)
    page.ask.click(reviewer.ask, [page.view, page.comment], every, api_name="review_page_ask", **QUICK)
    key = gr.Textbox("", visible=False, label="Candidate key")
    view = gr.JSON(visible=False)
    api = ReviewEndpoints(page_events)
    quick: dict[str, Any] = dict(concurrency_limit=None, show_progress="hidden")
    gr.on([], api.review_view, [page.token], view, api_name="review_view", **quick)
    gr.on([], api.review_approve, [page.token, key], page.message, api_name="review_approve", **quick)
    gr.on([], api.review_request_changes, [page.token, key, page.comment], page.message,
          api_name="review_request_changes", **quick)
