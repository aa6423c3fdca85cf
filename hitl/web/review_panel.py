"""The owner's side of Send for review, as the page shows it: the panel below the stages (the reviewer's
verdict, a link to send, its status, Revoke) and what it shows for a session's home. Built by `page.py`,
drawn with every render of the page (`events.py`); its events are `hitl/web/review.py`'s."""

from __future__ import annotations

import html
import time
from dataclasses import dataclass
from typing import Any

import gradio as gr

from hitl.core.jobs import Home
from hitl.core.review import DEFAULT_MINUTES, MINUTES, remaining
from hitl.core.stages import Candidate, Session, Stage
from hitl.web.image_route import image_url

CHOICES = [("15 minutes", 15), ("1 hour", 60), ("4 hours", 240), ("1 day", 1440)]
assert [minutes for _, minutes in CHOICES] == list(MINUTES)
SENT = "Anyone with this link can see these candidates and approve one or ask for changes, nothing else. " \
       "It is shown once: copy it now."
MAX_SHOWN = 20_000  # tabs whose panel is remembered, as many as the page's screens


@dataclass(frozen=True)
class OwnerPanel:
    """The owner's review controls, below the stages: what the reviewer decided, and in review a link."""

    verdict: gr.HTML  # "Approved by the reviewer" (final) / the reviewer's latest request for changes
    use_request: gr.Button  # puts that request into Refine's feedback, its candidate on screen
    sending: gr.Accordion  # in review: send for review
    minutes: gr.Dropdown
    send: gr.Button
    link: gr.Textbox  # the link, shown once, in the tab that made it
    status: gr.HTML  # a link is out, for how long
    revoke: gr.Button

    @property
    def outputs(self) -> list:
        return [self.verdict, self.use_request, self.sending, self.link, self.status, self.revoke]


def owner_panel() -> OwnerPanel:
    """Build the owner's panel inside the current layout."""
    with gr.Column(elem_id="review-panel"):
        verdict = gr.HTML("", elem_id="review-verdict")
        use_request = gr.Button("Use as Refine feedback", size="sm", visible=False, elem_id="use-request")
        with gr.Accordion("Send for review", open=False, visible=False, elem_id="send-review") as sending:
            minutes = gr.Dropdown(CHOICES, value=DEFAULT_MINUTES, label="The link works for", elem_id="review-minutes")
            send = gr.Button("Send for review", elem_id="send-review-link")
            link = gr.Textbox("", label="Review link", interactive=False, buttons=["copy"], visible=False,
                              info=SENT, elem_id="review-link")
            status = gr.HTML("", elem_id="review-status")
            revoke = gr.Button("Revoke the link", size="sm", variant="stop", visible=False, elem_id="revoke-review")
    return OwnerPanel(verdict, use_request, sending, minutes, send, link, status, revoke)


def latest_request(session: Session) -> tuple[dict, Candidate] | None:
    """The reviewer's newest request for changes whose candidate is still there."""
    keyed = {c.key: c for c in session.candidates}
    for request in reversed(session.requests):
        if request["key"] in keyed:
            return request, keyed[request["key"]]
    return None


def verdict_html(session: Session, session_hash: str) -> str:
    if session.approved_by_reviewer:
        return '<p class="hitl-verdict" role="status">✓ Approved by the reviewer.</p>'
    found = latest_request(session) if session.stage is Stage.USER_FEEDBACK else None
    if found is None:
        return ""
    request, candidate = found
    number = session.candidates.index(candidate) + 1
    return (f'<div class="hitl-verdict" role="status"><img src="{html.escape(image_url(session_hash, candidate))}" '
            f'alt="Candidate #{number}" width="96"><p>The reviewer asks for changes to #{number}: '
            f'<q>{html.escape(request["comment"])}</q></p></div>')


class OwnerShown:
    """What the owner's panel shows in each tab, so a redraw sends a visibility update only on a change
    (Gradio rebuilds a component on every update)."""

    def __init__(self, panel: OwnerPanel):
        self.panel = panel
        self.shown: dict[str, dict] = {}  # by tab

    def outputs(self, home: Home, session_hash: str) -> dict:
        panel, session, now = self.panel, home.session, time.monotonic()
        reviewing = session.stage is Stage.USER_FEEDBACK
        out = home.review is not None
        visible = {panel.sending: reviewing, panel.revoke: out,
                   panel.use_request: reviewing and latest_request(session) is not None}
        was = self.shown.get(session_hash, {})
        if len(self.shown) > MAX_SHOWN:
            self.shown.pop(next(iter(self.shown)))
        self.shown[session_hash] = {**was, **{c._id: v for c, v in visible.items()}}
        outputs: dict[Any, Any] = {c: gr.update(visible=v) for c, v in visible.items() if was.get(c._id) != v}
        outputs[panel.verdict] = verdict_html(session, session_hash)
        outputs[panel.status] = (f'<p class="hitl-review-status">A review link is out: it works for '
                                 f'{remaining(home, now)} more minutes, or until you revoke it.</p>' if out else "")
        if not out:  # revoked or expired: the link shown once goes
            outputs[panel.link] = gr.update(value="", visible=False)
        return outputs


