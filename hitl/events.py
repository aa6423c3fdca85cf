"""The page's own events: each button runs its action and streams what changes on screen.

These events are private (the named API is `hitl/api.py`). Generating actions stream: Cancel
as soon as the image call starts, previews inline as they arrive, then the new session, whose
images the page fetches by URL. Every handler only turns a click into `run_action` and the
results into a `Screen`'s outputs.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace

import gradio as gr

from .config import Settings
from .page import HISTORY, Page, estimate_html
from .images import thumbnail
from .runner import Preview, Runtime, Started, run_action
from .screen import Screen
from .stages import Action, Session, Stage, stages_switched_by


def client_address(request: gr.Request | None, proxy_hops: int) -> str:
    """The caller's address. Each trusted proxy appends the peer it saw to X-Forwarded-For, so
    the entry `proxy_hops` from the end is the client; entries before it are the client's own
    invention and would let anyone dodge the per-address limit. A client may also send the header
    itself, on lines of its own before the proxy's: all lines are read as one list, in order
    (RFC 9110 §5.3), never the first line alone."""
    if request is None:
        return "local"
    headers = request.headers
    lines = headers.getlist("x-forwarded-for") if hasattr(headers, "getlist") else [headers.get("x-forwarded-for", "")]
    hops = [h.strip() for line in lines for h in line.split(",") if h.strip()]
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


async def tiled(preview: Preview, count: int) -> Preview:
    """With several images on their way, each preview also gets a thumbnail for its gallery tile."""
    if count == 1:
        return preview
    thumb = await asyncio.to_thread(thumbnail, preview.candidate.image)
    return replace(preview, candidate=replace(preview.candidate, thumb=thumb))


async def last(items: AsyncIterator):
    async for item in items:
        final = item
    return final


class PageEvents:
    """The handlers of the page's events, bound to its components and the app's runtime."""

    def __init__(self, page: Page, runtime: Runtime):
        self.page, self.runtime = page, runtime

    def outputs(self, action: Action | None = None, every_stage: bool = False) -> list:
        """What an action's event may change: the stage boxes it can switch, and the rest of the screen."""
        page = self.page
        stages = list(page.stage_boxes) if every_stage else stages_switched_by(action) if action else []
        boxes = [page.stage_boxes[stage] for stage in stages]
        return [page.session, *boxes, page.compare_bar, page.cancel, page.undo, page.progress, page.slider,
                page.image, page.revised_prompt, page.cost, page.gallery, page.compare, page.your_prompt,
                page.download, page.message]

    async def stream(self, action: Action, shown: Session, request: gr.Request, **inputs):
        """Run `action` from the session's latest state (another tab of it may have moved on since
        this one showed `shown`), streaming what changes on this tab's screen."""
        tab, vault = request.session_hash, self.runtime.vault
        session = vault.latest(tab, shown)
        count = inputs.get("count", 1)
        screen = Screen.of(self.page, shown, tab, previews_expected=self.runtime.settings.partial_images,
                           count=count if isinstance(count, int) else 1)
        async for item in run(action, session, self.runtime, request, **inputs):
            if isinstance(item, Started):  # Cancel shows, the last message goes
                yield screen.show(session, running=True)
            elif isinstance(item, Preview):  # inline, as it is shown once; a small one in its tile if several
                if screen.count > 1 or not item.ready:
                    yield screen.show(session, running=True, preview=await tiled(item, screen.count))
            else:
                vault.keep(tab, item, time.monotonic())
                yield screen.show(item)

    def resume(self, token: str, history: list, session: Session, request: gr.Request):
        """Page load: the session this browser's token names (a reload loses nothing), or a new token;
        and the visitor's recent prompts in the picker."""
        token, kept = self.runtime.vault.open(token, request.session_hash, session, time.monotonic())
        outputs = Screen.of(self.page, session, request.session_hash).show(kept) if kept is not session else {}
        prompts = [p for p in history or [] if isinstance(p, str)][:HISTORY]
        return {**outputs, self.page.token: token, self.page.recent: gr.update(choices=prompts, value=None)}

    async def generate(self, prompt, count, size, quality, background, output_format, api_key, budget, history,
                       image, session: Session, request: gr.Request):
        async for outputs in self.stream(Action.GENERATE, session, request, task_input=prompt, count=count,
                                         upload_input=image,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            after = outputs[self.page.session]
            if after is not session and after.stage is Stage.USER_FEEDBACK:  # made: remember it
                yield {**outputs, **self.remembered(after.input_used_by_process, history)}
            else:
                yield outputs

    def remembered(self, prompt: str, history: list | None) -> dict:
        """The prompt on top of the visitor's history (text only, in their browser), and the picker."""
        history = [prompt, *(p for p in history or [] if isinstance(p, str) and p != prompt)][:HISTORY]
        return {self.page.history: history, self.page.recent: gr.update(choices=history, value=None)}

    def forget(self):
        return {self.page.history: [], self.page.recent: gr.update(choices=[], value=None)}

    async def regenerate(self, count, size, quality, background, output_format, api_key, budget,
                         session: Session, request: gr.Request):
        async for outputs in self.stream(Action.REGENERATE, session, request, count=count,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def refine(self, feedback, size, quality, background, output_format, api_key, budget,
                     session: Session, request: gr.Request):
        async for outputs in self.stream(Action.REFINE, session, request, feedback=feedback,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def edit_region(self, instruction, size, quality, background, output_format, api_key, budget, mask,
                          session: Session, request: gr.Request):
        async for outputs in self.stream(Action.EDIT_REGION, session, request, instruction=instruction,
                                         mask_input=mask,
                                         **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def approve(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.APPROVE, session, request))

    async def start_over(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.START_OVER, session, request))

    async def undo_start_over(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.UNDO_START_OVER, session, request))

    async def approve_compared(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.APPROVE, session, request, approve_index=session.compared))

    async def pick(self, session: Session, event: gr.SelectData, request: gr.Request):
        """A thumbnail clicked: on screen, or beside the one on screen while comparing two."""
        if session.compared_image is not None:
            return await last(self.stream(Action.COMPARE, session, request, compare_index=event.index))
        return await last(self.stream(Action.SELECT, session, request, select_index=event.index))

    async def compare(self, session: Session, request: gr.Request):
        """Side by side: the one on screen and the newest other one (a thumbnail click changes it)."""
        newest = len(session.candidates) - 1
        other = newest - 1 if session.selected == newest else newest
        return await last(self.stream(Action.COMPARE, session, request, compare_index=other))

    async def end_compare(self, session: Session, request: gr.Request):
        return await last(self.stream(Action.COMPARE, session, request, compare_index=-1))

    def estimate(self, size, quality):
        return estimate_html(self.runtime.settings, size, quality)

    def cancelled(self, session: Session, request: gr.Request):
        """Cancel stops the generation; the page goes back to the session as it was."""
        return Screen.of(self.page, session, request.session_hash, running=True).show(session)


def handing_over(inputs: list, component, source: str) -> str:
    """An event's js=: its input values, with `component`'s replaced by what the page's script holds
    (`source`: a picked picture, a painted mask) as a data: URL, so the bytes travel in the queue's
    JSON and never through Gradio's upload route (which writes files). Gradio hands js= the inputs'
    values followed by the outputs'; only the inputs go on."""
    at = inputs.index(component)
    return (f"(...values) => {{ values = values.slice(0, {len(inputs)}); "
            f"values[{at}] = window.hitlStudio?.{source}() ?? ''; return values; }}")


def wire(demo: gr.Blocks, page: Page, runtime: Runtime, settings: Settings) -> None:
    """Connect the page's controls to their handlers, inside the current `gr.Blocks`. The events are
    private; their `page_` names keep the public names for `hitl/api.py`."""
    events = PageEvents(page, runtime)
    # show_progress hidden: the page's own progress line (Screen) says what is happening, from the click on.
    generating = dict(api_visibility="private", postprocess=False, show_progress="hidden",
                      concurrency_id="generation", concurrency_limit=settings.max_concurrent)
    quick = dict(api_visibility="private", postprocess=False, show_progress="hidden", concurrency_limit=None)
    demo.load(events.resume, [page.token, page.history, page.session],
              [page.token, page.recent, *events.outputs(every_stage=True)], api_name="page_resume", **quick)
    page.recent.input(None, [page.recent], [page.prompt], js="(picked) => picked ?? ''")  # in the browser only
    page.forget.click(events.forget, None, [page.history, page.recent], api_name="page_forget", **quick)
    generate_inputs = [page.prompt, page.count, *page.options, page.history, page.upload, page.session]
    running = [
        gr.on([page.generate.click, page.prompt.submit], events.generate, generate_inputs,
              [*events.outputs(Action.GENERATE), page.history, page.recent], api_name="page_generate",
              js=handing_over(generate_inputs, page.upload, "upload"), **generating),
        page.regenerate.click(events.regenerate, [page.regenerate_count, *page.options, page.session],
                              events.outputs(Action.REGENERATE),
                              api_name="page_regenerate", **generating),
        gr.on([page.refine.click, page.feedback.submit], events.refine, [page.feedback, *page.options, page.session],
              events.outputs(Action.REFINE), api_name="page_refine", **generating),
        wire_edit_region(events, page, generating),
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
    page.compare.click(events.compare, [page.session], events.outputs(Action.COMPARE), api_name="page_compare", **quick)
    page.end_compare.click(events.end_compare, [page.session], events.outputs(Action.COMPARE),
                           api_name="page_end_compare", **quick)
    page.approve_compared.click(events.approve_compared, [page.session], events.outputs(Action.APPROVE),
                                api_name="page_approve_compared", **quick)
    for one, other in ((page.count, page.regenerate_count), (page.regenerate_count, page.count)):  # in the browser
        one.input(None, [one], [other], js="(n) => n")
    page.cancel.click(events.cancelled, [page.session], events.outputs(), cancels=running, api_name="page_cancel",
                      **quick)


def wire_edit_region(events: PageEvents, page: Page, generating: dict):
    """Edit region: the click (or Enter in its box) sends the instruction and the painted mask."""
    inputs = [page.region_instruction, *page.options, page.mask, page.session]
    return gr.on([page.edit_region.click, page.region_instruction.submit], events.edit_region, inputs,
                 events.outputs(Action.EDIT_REGION), api_name="page_edit_region",
                 js=handing_over(inputs, page.mask, "mask"), **generating)
