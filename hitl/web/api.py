"""The named API: one endpoint per action, for `gradio_client` and the page's "Use via API".

A `Client` is one session; the server enforces the stage and runs one action per session at a
time. Each endpoint answers once with `(image, revised_prompt, candidates, message)`: the image
inline (a `data:` URL), the candidates as small WebP thumbnails captioned with their number,
lineage, cost and mark ("on screen", "beside it"). Upstream still streams (each
event resets the read timeout of a long generation); the previews are a feature of the page.
These docstrings are what the API page shows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import gradio as gr

from hitl.core.history import history
from hitl.core.jobs import Home
from hitl.core.runner import BUSY, Runtime
from hitl.core.stages import GENERATING, Action, Session, allowed
from hitl.web.components import Marked
from hitl.web.events import last, run, upstream
from hitl.web.page import Page


class Endpoints:
    """The endpoints' handlers, bound to the app's runtime."""

    def __init__(self, runtime: Runtime):
        self.runtime = runtime

    async def answer(self, action: Action, session: Session, request: gr.Request, **inputs) -> tuple:
        # A client that sent its session for review (/review_link) has a home the reviewer acts on too.
        home = self.runtime.vault.home(request.session_hash or "")
        session = home.session if home is not None else session
        if home is None:
            after = await last(run(action, session, self.runtime, request, thumbnails=True, **inputs))
        else:
            after = await self.at_home(home, action, request, **inputs)
        shown = after.shown_image
        picture = shown if allowed(session.stage, action) else gr.skip()  # refused: no image
        return (after, picture, shown.revised_prompt if shown else "",
                Marked(after.candidates, after.selected, after.compared), after.error_message)

    async def at_home(self, home: Home, action: Action, request: gr.Request, **inputs) -> Session:
        """The action on a home the reviewer's page shares: a generation runs as the session's job, as a
        page's does (the reviewer's page watches it, and a reviewer's decision waits for it rather than be
        written over by its outcome); cancelling the call cancels the job."""
        if home.busy:
            return replace(home.session, error_message=BUSY)
        if action not in GENERATING:
            after = await last(run(action, home.session, self.runtime, request, thumbnails=True, **inputs))
            home.set(after, time.monotonic())
            return after
        job = home.start(action, inputs.get("count", 1), lambda stop: run(
            action, home.session, self.runtime, request, thumbnails=True, stop=stop, **inputs))
        assert job is not None and job.task is not None  # not busy: checked above, with no await between
        try:
            await asyncio.shield(job.task)
        except asyncio.CancelledError:
            job.cancel()
            raise
        return home.session

    async def generate(self, prompt, size, quality, background, output_format, key, count, image, session,
                       request: gr.Request):
        """Generate first images for the prompt: `count` (1-4) side by side, the last one on screen
        (stage initial_input -> user_feedback); if some fail, the others are kept and the message says why.
        `image` (optional): a picture of your own to start from, as a data: URL string
        ("data:image/png;base64,…"; PNG, JPEG or WebP, up to 10 MB and 4096 px a side); it joins the
        candidates (made_by "upload", free) and is the new images' parent. Not a file upload: no handle_file."""
        return await self.answer(Action.GENERATE, session, request, task_input=prompt, count=count,
                                 upload_input=image,
                                 **upstream(size, quality, background, output_format, key, budget=0))

    async def regenerate(self, size, quality, background, output_format, key, count, session, request: gr.Request):
        """Make `count` (1-4) more candidates from the same prompt (stage user_feedback)."""
        return await self.answer(Action.REGENERATE, session, request, count=count,
                                 **upstream(size, quality, background, output_format, key, budget=0))

    async def refine(self, feedback, size, quality, background, output_format, key, session, request: gr.Request):
        """Edit the candidate on screen with written feedback (stage user_feedback)."""
        return await self.answer(Action.REFINE, session, request, feedback=feedback,
                                 **upstream(size, quality, background, output_format, key, budget=0))

    async def edit_region(self, mask, instruction, size, quality, background, output_format, key, session,
                          request: gr.Request):
        """Repaint part of the candidate on screen (stage user_feedback): `mask` is a data: URL string of a PNG
        the candidate's size, under 4 MB, fully transparent (alpha 0) where to change and opaque elsewhere
        (OpenAI's mask); `instruction` says what to change there. The result is a new candidate
        (made_by "edit_region", its parent the one painted on)."""
        return await self.answer(Action.EDIT_REGION, session, request, instruction=instruction, mask_input=mask,
                                 **upstream(size, quality, background, output_format, key, budget=0))

    async def remix(self, prompt, size, quality, background, output_format, key, count, session,
                    request: gr.Request):
        """Make `count` (1-4) new candidates from the candidate on screen with an edited `prompt` (stage
        user_feedback): the picture is sent with the new prompt, and the new ones' captions say "remix of #N"
        (made_by "remix", their parent the one on screen). Regenerate then goes on with this prompt."""
        return await self.answer(Action.REMIX, session, request, remix_input=prompt, count=count,
                                 **upstream(size, quality, background, output_format, key, budget=0))

    async def select(self, index, session, request: gr.Request):
        """Put candidate `index` (0-based, in the order `candidates` lists them) on screen (stage user_feedback)."""
        return await self.answer(Action.SELECT, session, request, select_index=index)

    async def compare(self, index, session, request: gr.Request):
        """Show candidate `index` side by side with the one on screen (its caption says "beside it"); -1 ends
        it (stage user_feedback). The image stays the one on screen; approve either with `/approve`."""
        return await self.answer(Action.COMPARE, session, request, compare_index=index)

    async def approve(self, index, session, request: gr.Request):
        """Approve candidate `index`, or the one on screen with -1, the default (stage user_feedback -> final)."""
        return await self.answer(Action.APPROVE, session, request, approve_index=index)

    async def reopen(self, session, request: gr.Request):
        """Withdraw the approval and go back to review with every candidate, the approved one on screen
        (stage final -> user_feedback); the decision log keeps both the approval and its withdrawal."""
        return await self.answer(Action.REOPEN, session, request)

    async def start_over(self, session, request: gr.Request):
        """Go back to the prompt stage; the candidates and any approval are put aside until the next Generate."""
        return await self.answer(Action.START_OVER, session, request)

    def history(self, session, request: gr.Request):
        """The session's version tree as JSON: each candidate's number, what made it (generate, regenerate,
        refine, edit_region, upload) from which parent, the instruction and options, the revised prompt, its
        cost, and which is on screen or approved; who decided what and when (you or the reviewer). Changes
        nothing."""
        home = self.runtime.vault.home(request.session_hash or "")
        return history(home.session if home is not None else session)

    async def undo_start_over(self, session, request: gr.Request):
        """Bring back what the last Start Over put aside: its stage, candidates and approval (stage initial_input)."""
        return await self.answer(Action.UNDO_START_OVER, session, request)


def add_endpoints(page: Page, runtime: Runtime) -> None:
    """Register the endpoints inside the current `gr.Blocks`; no trigger on the page calls them."""
    api = Endpoints(runtime)
    results = [page.session, page.image, page.revised_prompt, page.gallery, page.message]
    generating = dict(concurrency_id="generation", concurrency_limit=runtime.settings.max_concurrent,
                      show_progress="hidden")
    quick = dict(concurrency_limit=None, show_progress="hidden")
    # No budget input: the session budget is the page's. Parameters added later go last, so a call that
    # leaves them out still works (gradio_internals.fill_left_out_inputs gives them their defaults).
    options = page.image_options
    # `count` and `image` after the options: callers that pass only the earlier parameters keep working.
    gr.on([], api.generate, [page.prompt, *options, page.count, page.upload, page.session], results,
          api_name="generate", **generating)
    gr.on([], api.regenerate, [*options, page.regenerate_count, page.session], results, api_name="regenerate",
          **generating)
    gr.on([], api.refine, [page.feedback, *options, page.session], results, api_name="refine", **generating)
    gr.on([], api.edit_region, [page.mask, page.region_instruction, *options, page.session], results,
          api_name="edit_region", **generating)
    gr.on([], api.remix, [page.your_prompt, *options, page.regenerate_count, page.session], results,
          api_name="remix", **generating)
    gr.on([], api.select, [page.candidate_index, page.session], results, api_name="select", **quick)
    gr.on([], api.compare, [page.candidate_index, page.session], results, api_name="compare", **quick)
    gr.on([], api.approve, [page.approve_index, page.session], results, api_name="approve", **quick)
    gr.on([], api.reopen, [page.session], results, api_name="reopen", **quick)
    gr.on([], api.start_over, [page.session], results, api_name="start_over", **quick)
    gr.on([], api.history, [page.session], page.versions, api_name="history", **quick)
    gr.on([], api.undo_start_over, [page.session], results, api_name="undo_start_over", **quick)
