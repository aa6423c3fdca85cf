"""The Gradio page, laid out top to bottom as it appears, and the API endpoints.

Page events stream previews inline, send only what changed on screen, and link the final
image by URL (`image_route`); API endpoints return the final results, images inline, in one
message. Both only turn a call into `run_action` and the resulting session into outputs.
"""

from __future__ import annotations

import asyncio

import gradio as gr

from .backends.base import BACKGROUNDS, FORMATS, QUALITIES, SIZES
from .components import Linked, MemoryGallery, MemoryImage, gallery_payload, image_payload
from .config import Settings
from .image_route import image_route
from .memory import trim
from .runner import Runtime, Started, run_action
from .stages import Action, Candidate, Session, Stage, allowed, stages_switched_by

TITLE = "HITL Image Studio"
EXAMPLES = [
    "A watercolor fox reading a newspaper in a rainy Paris café",
    "Isometric pixel-art lighthouse on a tiny island at sunset",
    "A 1970s sci-fi paperback cover: a greenhouse drifting through space",
    "Studio photo of a ceramic teapot shaped like a sleeping cat",
]
DEMO_NOTICE = (
    "**Demo mode:** no OpenAI key is set, so pictures are drawn locally. "
    "Set `OPENAI_API_KEY` (a Space secret or an environment variable), or enter your own key under Advanced."
)
CSS = """
#status textarea { font-weight: 600; }
.stage-title { margin: 0 !important; }
"""
CANCEL = "Cancel"


def launch_options(settings: Settings) -> dict:
    """launch() arguments for every entry point (app.py, tests, bench). Gradio 6 takes css here;
    run history stays off so nobody's prompts or images are kept in the footer's "Runs" panel;
    and Gradio runs at most `max_threads` events at once whatever the concurrency limits say,
    so it is lifted above the generation pool. The page fetches its images from `image_route`."""
    return {"css": CSS, "run_history": False, "max_threads": settings.max_concurrent + 16,
            "app_kwargs": {"routes": [image_route()]}}


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


def shown(state: Session, running: bool = False) -> dict:
    """What the page shows for a session: each stage's controls, and the parts that come and go.
    `running`: a generation is streaming previews (Cancel shows, the last message hides)."""
    current = state.current
    return {
        **{stage: state.stage is stage for stage in Stage},
        "cancel": running,
        "message": bool(state.message) and not running,
        "revised": bool(current and current.revised_prompt),
        "gallery": state.stage is Stage.USER_FEEDBACK and len(state.candidates) > 1,
    }


def page_outputs(boxes: list[Stage], state: Session, picture, was: dict, now: dict, session_hash: str) -> tuple:
    """A page event's outputs, as the page receives them (page events skip Gradio's postprocess):
    the session, the stage boxes it may switch, then Cancel, image (`picture`: an image, None or
    gr.skip()), revised prompt, gallery and message. Only a change of visibility is sent as an
    update: Gradio rebuilds a component for the session on every update (gr.skip() included),
    while an unchanged plain value adds nothing to the stream. The gallery links the session's
    images, which the browser holds already from showing them."""

    def part(key, value):
        return gr.update(visible=now[key], value=value) if now[key] != was[key] else value

    # When a run ends, the message is set either way: an event refused meanwhile may have shown one.
    settled = was["cancel"] and not now["cancel"]
    message = gr.update(visible=now["message"], value=state.message) if settled else part("message", state.message)
    current = state.current
    return (
        state,
        *(gr.update(visible=now[stage]) if now[stage] != was[stage] else gr.skip() for stage in boxes),
        part("cancel", CANCEL),
        picture if picture == gr.skip() else image_payload(picture),
        part("revised", current.revised_prompt if current else ""),
        part("gallery", gallery_payload([Linked(candidate, session_hash) for candidate in state.candidates])),
        message,
    )


def build_demo(settings: Settings) -> gr.Blocks:
    runtime = Runtime.create(settings)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        session = gr.State(Session(), time_to_live=settings.session_ttl)
        gr.Markdown(f"# 🎨 {TITLE}\nDescribe an image, review what comes back, regenerate until you love it, approve.")
        if settings.demo:
            gr.Markdown(DEMO_NOTICE, elem_id="demo-notice")

        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                message = gr.Textbox(label="Message", interactive=False, visible=False, elem_id="status")
                with gr.Column(visible=True, elem_id="stage-input") as input_col:
                    prompt = gr.Textbox(label="Prompt", lines=1, max_lines=12, max_length=settings.max_prompt_chars,
                                        placeholder="A lighthouse made of glass at dawn…", autofocus=True,
                                        elem_id="prompt")
                    generate_btn = gr.Button("Generate Image", variant="primary", elem_id="generate")
                    with gr.Accordion("Advanced", open=False):
                        size = gr.Dropdown(list(SIZES), value="auto", label="Size")
                        quality = gr.Dropdown(list(QUALITIES), value="auto", label="Quality")
                        background = gr.Dropdown(list(BACKGROUNDS), value="auto", label="Background")
                        output_format = gr.Dropdown(list(FORMATS), value="png", label="Output format")
                        api_key = gr.Textbox("", label="Your OpenAI API key (optional)", type="password",
                                             placeholder="sk-… used for this session only, never stored")
                    gr.Examples(EXAMPLES, inputs=prompt, label="Try one")

                with gr.Column(visible=False, elem_id="stage-review") as review_col:
                    gr.Markdown("### Review", elem_classes="stage-title")
                    with gr.Row():
                        approve_btn = gr.Button("Approve", variant="primary", elem_id="approve")
                        regenerate_btn = gr.Button("Regenerate", elem_id="regenerate")
                    feedback = gr.Textbox(label="Feedback", lines=2, max_length=settings.max_prompt_chars,
                                          placeholder="Make it night time, add snow…", elem_id="feedback")
                    refine_btn = gr.Button("Refine", elem_id="refine")
                    back_btn = gr.Button("Start Over", variant="secondary", size="sm", elem_id="discard")

                with gr.Column(visible=False, elem_id="stage-final") as final_col:
                    gr.Markdown("### Approved ✓", elem_classes="stage-title")
                    start_over_btn = gr.Button("Start Over", variant="primary", elem_id="start-over")

                cancel_btn = gr.Button(CANCEL, variant="stop", visible=False, elem_id="cancel")

            with gr.Column(scale=3, min_width=320):
                image = MemoryImage(label="Image", interactive=False, height=560, elem_id="image",
                                    buttons=["download", "fullscreen"], alt_text="Generated image")
                revised = gr.Textbox(label="Revised prompt", interactive=False, visible=False, elem_id="revised")
                gallery = MemoryGallery(label="Candidates (click one to review it)", columns=6, fit_columns=False,
                                        height=230, allow_preview=False, buttons=[], visible=False, elem_id="gallery")

        candidate_index = gr.Number(0, precision=0, visible=False)  # /select's input (the page clicks the gallery)
        box_of = {Stage.INITIAL_INPUT: input_col, Stage.USER_FEEDBACK: review_col, Stage.FINAL: final_col}
        options = [size, quality, background, output_format, api_key]
        values = [cancel_btn, image, revised, gallery, message]

        def upstream(size_, quality_, background_, format_, key) -> dict:
            options = {"size": size_, "quality": quality_, "background": background_, "output_format": format_}
            return {"options": options, "api_key": (key or "").strip() or None}

        def run(action: Action, state: Session, request: gr.Request | None, **inputs):
            return run_action(action, state, runtime, client_ip=client_address(request, settings.proxy_hops),
                              **inputs)

        async def last(updates):
            async for update in updates:
                final = update
            return final

        # -- the page: previews as they arrive, then only what changed on screen -----------------
        def outputs_of(action: Action) -> list:
            return [session, *(box_of[stage] for stage in stages_switched_by(action)), *values]

        def linked(candidate: Candidate | None, request: gr.Request) -> Linked | None:
            return candidate and Linked(candidate, request.session_hash)

        async def on_page(action: Action, state: Session, request: gr.Request, **inputs):
            boxes = stages_switched_by(action)
            was, on_screen = shown(state), state.current
            async for item in run(action, state, request, **inputs):
                if isinstance(item, Started):  # Cancel shows, the last message goes
                    now = shown(state, running=True)
                    yield page_outputs(boxes, state, gr.skip(), was, now, request.session_hash)
                    was = now
                elif isinstance(item, Candidate):  # a preview: inline, as it is shown once
                    yield page_outputs(boxes, state, item, was, was, request.session_hash)
                    on_screen = item
                else:
                    picture = linked(item.current, request) if item.current is not on_screen else gr.skip()
                    yield page_outputs(boxes, item, picture, was, shown(item), request.session_hash)

        def streaming(action: Action, *names: str):
            """The page handler of a generating action; its inputs: `names`, the options, the session."""

            async def handler(request: gr.Request, *given):
                *fields, state = given
                inputs = {**dict(zip(names, fields)), **upstream(*fields[len(names):])}
                async for outputs in on_page(action, state, request, **inputs):
                    yield outputs

            return handler

        def instant(action: Action):
            async def handler(state: Session, request: gr.Request):
                return await last(on_page(action, state, request))

            return handler

        async def picked(state: Session, event: gr.SelectData, request: gr.Request):
            return await last(on_page(Action.SELECT, state, request, select_index=event.index))

        def cancelled(state: Session, request: gr.Request):
            """Cancel stops the generation; the page goes back to the session as it was."""
            return page_outputs([], state, linked(state.current, request), shown(state, running=True), shown(state),
                                request.session_hash)

        generating = dict(concurrency_id="generation", concurrency_limit=settings.max_concurrent)
        quick = dict(show_progress="hidden", concurrency_limit=None, api_visibility="private", postprocess=False)
        running = [
            trigger(streaming(action, *names), [*fields, *options, session], outputs_of(action),
                    show_progress_on=[image], api_visibility="private", postprocess=False, **generating)
            for trigger, action, names, fields in (
                (generate_btn.click, Action.GENERATE, ("task_input",), [prompt]),
                (prompt.submit, Action.GENERATE, ("task_input",), [prompt]),
                (regenerate_btn.click, Action.REGENERATE, (), []),
                (refine_btn.click, Action.REFINE, ("feedback",), [feedback]),
            )
        ]
        for trigger, action in ((approve_btn.click, Action.APPROVE), (start_over_btn.click, Action.START_OVER),
                                (back_btn.click, Action.START_OVER)):
            trigger(instant(action), [session], outputs_of(action), **quick)
        gallery.select(picked, [session], outputs_of(Action.SELECT), **quick)
        cancel_btn.click(cancelled, [session], [session, *values], cancels=running, **quick)
        demo.unload(release_closed(demo, settings.closed_session_grace))

        # -- the API: one endpoint per action, the final results in one message ------------------
        async def answer(action: Action, state: Session, request: gr.Request, **inputs) -> tuple:
            # Upstream still streams (each event resets the read timeout of a long generation);
            # the previews are skipped here. Candidates are listed as small inline thumbnails.
            after = await last(run(action, state, request, thumbnails=True, **inputs))
            current = after.current
            picture = current if allowed(state.stage, action) else gr.skip()  # refused: no image
            return after, picture, current.revised_prompt if current else "", after.candidates, after.message

        async def generate(prompt_text, size_, quality_, background_, format_, key, state, request: gr.Request):
            """Generate a first image for the prompt (stage initial_input -> user_feedback)."""
            return await answer(Action.GENERATE, state, request, task_input=prompt_text,
                                **upstream(size_, quality_, background_, format_, key))

        async def regenerate(size_, quality_, background_, format_, key, state, request: gr.Request):
            """Make another candidate from the same prompt (stage user_feedback)."""
            return await answer(Action.REGENERATE, state, request,
                                **upstream(size_, quality_, background_, format_, key))

        async def refine(feedback_text, size_, quality_, background_, format_, key, state, request: gr.Request):
            """Edit the candidate on screen with written feedback (stage user_feedback)."""
            return await answer(Action.REFINE, state, request, feedback=feedback_text,
                                **upstream(size_, quality_, background_, format_, key))

        async def select(index, state, request: gr.Request):
            """Put candidate `index` (0-based, in the order `candidates` lists them) on screen (stage user_feedback)."""
            return await answer(Action.SELECT, state, request, select_index=index)

        async def approve(state, request: gr.Request):
            """Approve the candidate on screen (stage user_feedback -> final)."""
            return await answer(Action.APPROVE, state, request)

        async def start_over(state, request: gr.Request):
            """Go back to the prompt stage."""
            return await answer(Action.START_OVER, state, request)

        for fn, inputs, limits in ((generate, [prompt, *options, session], generating),
                                   (regenerate, [*options, session], generating),
                                   (refine, [feedback, *options, session], generating),
                                   (select, [candidate_index, session], {"concurrency_limit": None}),
                                   (approve, [session], {"concurrency_limit": None}),
                                   (start_over, [session], {"concurrency_limit": None})):
            gr.on([], fn, inputs, [session, image, revised, gallery, message], api_name=fn.__name__,
                  show_progress="hidden", **limits)  # no trigger on the page: API only

    demo.queue(max_size=settings.queue_size, default_concurrency_limit=None)
    return demo


def release_closed(demo: gr.Blocks, grace: float):
    async def release(request: gr.Request):
        """Drop a closed tab's session after a short grace; Gradio alone keeps it an hour."""
        await asyncio.sleep(grace)
        holder, key = demo.state_holder, request.session_hash
        entry = holder.session_data.get(key)
        if entry is not None and entry.is_closed:  # not reconnected meanwhile
            holder.delete_state(key)
            with holder.lock:
                holder.session_data.pop(key, None)
            await asyncio.to_thread(trim)  # its images' memory goes back to the OS

    return release
