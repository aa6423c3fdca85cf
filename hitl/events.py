"""The page's own events: each button runs its action and streams what changes on screen.

These events are private (the named API is `hitl/api.py`). Generating actions stream: Cancel
as soon as the image call starts, previews inline as they arrive, then the new session, whose
images the page fetches by URL. Every handler only turns a click into `run_action` and the
results into a `Screen`'s outputs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import gradio as gr

from .config import Settings
from .page import Page, estimate_html
from .runner import Runtime, Started, run_action
from .screen import Screen
from .stages import Action, Candidate, Session, stages_switched_by


def client_address(request: gr.Request | None, proxy_hops: int) -> str:
    """The caller's address. Each trusted proxy appends the peer it saw to X-Forwarded-For, so
    the entry `proxy_hops` from the end is the client; entries before it are the client's own
    invention and would let anyone dodge the per-address limit."""
    if request is None:
        return "local"
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    if proxy_hops and hops:
        return hops[-min(proxy_hops, len(hops))]
    return request.client.host if request.client else "unknown"


def upstream(size, quality, background, output_format, api_key, budget) -> dict:
    """The runner's inputs from the page's options (the same six in every generating event)."""
    options = {"size": size, "quality": quality, "background": background, "output_format": output_format}
    return {"options": options, "api_key": (api_key or "").strip() or None, "budget": max(0.0, float(budget or 0))}


def run(action: Action, session: Session, runtime: Runtime, request: gr.Request | None, **inputs):
    return run_action(action, session, runtime, client_ip=client_address(request, runtime.settings.proxy_hops),
                      **inputs)


async def last(items: AsyncIterator):
    async for item in items:
        final = item
    return final


class PageEvents:
    """The handlers of the page's events, bound to its components and the app's runtime."""

    def __init__(self, page: Page, runtime: Runtime):
        self.page, self.runtime = page, runtime

    def outputs(self, action: Action | None = None) -> list:
        """What an action's event may change: the stage boxes it can switch, and the rest of the screen."""
        page = self.page
        boxes = [page.stage_boxes[stage] for stage in stages_switched_by(action)] if action else []
        return [page.session, *boxes, page.cancel, page.undo, page.progress, page.image, page.revised_prompt,
                page.cost, page.gallery, page.your_prompt, page.download, page.message]

    async def stream(self, action: Action, session: Session, request: gr.Request, **inputs):
        screen = Screen.of(self.page, session, request.session_hash,
                           previews_expected=self.runtime.settings.partial_images)
        async for item in run(action, session, self.runtime, request, **inputs):
            if isinstance(item, Started):  # Cancel shows, the last message goes
                yield screen.show(session, running=True)
            elif isinstance(item, Candidate):  # a preview: inline, as it is shown once
                yield screen.show(session, running=True, preview=item)
            else:
                yield screen.show(item)

    async def generate(self, prompt, size, quality, background, output_format, api_key, budget,
                       session: Session, request: gr.Request):
        async for outputs in self.stream(Action.GENERATE, session, request, task_input=prompt,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def regenerate(self, size, quality, background, output_format, api_key, budget,
                         session: Session, request: gr.Request):
        async for outputs in self.stream(Action.REGENERATE, session, request,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def refine(self, feedback, size, quality, background, output_format, api_key, budget,
                     session: Session, request: gr.Request):
        async for outputs in self.stream(Action.REFINE, session, request, feedback=feedback,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def approve(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.APPROVE, session, request))

    async def start_over(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.START_OVER, session, request))

    async def undo_start_over(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.UNDO_START_OVER, session, request))

    async def pick(self, session: Session, event: gr.SelectData, request: gr.Request):
        return await last(self.stream(Action.SELECT, session, request, select_index=event.index))

    def estimate(self, size, quality):
        return estimate_html(self.runtime.settings, size, quality)

    def cancelled(self, session: Session, request: gr.Request):
        """Cancel stops the generation; the page goes back to the session as it was."""
        return Screen.of(self.page, session, request.session_hash, running=True).show(session)


def wire(page: Page, runtime: Runtime, settings: Settings) -> None:
    """Connect the page's controls to their handlers, inside the current `gr.Blocks`. The events are
    private; their `page_` names keep the public names for `hitl/api.py`."""
    events = PageEvents(page, runtime)
    # show_progress hidden: the page's own progress line (Screen) says what is happening, from the click on.
    generating = dict(api_visibility="private", postprocess=False, show_progress="hidden",
                      concurrency_id="generation", concurrency_limit=settings.max_concurrent)
    quick = dict(api_visibility="private", postprocess=False, show_progress="hidden", concurrency_limit=None)
    running = [
        gr.on([page.generate.click, page.prompt.submit], events.generate, [page.prompt, *page.options, page.session],
              events.outputs(Action.GENERATE), api_name="page_generate", **generating),
        page.regenerate.click(events.regenerate, [*page.options, page.session], events.outputs(Action.REGENERATE),
                              api_name="page_regenerate", **generating),
        gr.on([page.refine.click, page.feedback.submit], events.refine, [page.feedback, *page.options, page.session],
              events.outputs(Action.REFINE), api_name="page_refine", **generating),
    ]
    page.approve.click(events.approve, [page.session], events.outputs(Action.APPROVE), api_name="page_approve",
                       **quick)
    gr.on([page.discard.click, page.start_over.click], events.start_over, [page.session],
          events.outputs(Action.START_OVER), api_name="page_start_over", **quick)
    page.undo.click(events.undo_start_over, [page.session], events.outputs(Action.UNDO_START_OVER),
                    api_name="page_undo_start_over", **quick)
    gr.on([page.size.change, page.quality.change], events.estimate, [page.size, page.quality], page.estimate,
          api_name="page_estimate", **quick)
    page.gallery.select(events.pick, [page.session], events.outputs(Action.SELECT), api_name="page_select", **quick)
    page.cancel.click(events.cancelled, [page.session], events.outputs(), cancels=running, api_name="page_cancel",
                      **quick)
