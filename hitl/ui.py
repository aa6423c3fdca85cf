"""The Gradio page, laid out top to bottom as it appears. Handlers only translate events
into `run_action` calls and the resulting session into component updates."""

from __future__ import annotations

import asyncio

import gradio as gr

from .backends.base import BACKGROUNDS, FORMATS, QUALITIES, SIZES
from .components import MemoryGallery, MemoryImage
from .config import Settings
from .runner import Runtime, run_action
from .stages import Action, Candidate, Session, Stage, allowed

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
# launch() arguments every entry point uses: Gradio 6 takes css here; run history stays off
# so nobody's prompts or images are kept in the footer's "Runs" panel.
LAUNCH_OPTIONS = {"css": CSS, "run_history": False}


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


def build_demo(settings: Settings) -> gr.Blocks:
    runtime = Runtime.create(settings)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        session = gr.State(Session(), time_to_live=settings.session_ttl)
        gr.Markdown(f"# 🎨 {TITLE}\nDescribe an image, review what comes back, regenerate until you love it, approve.")
        gr.Markdown(DEMO_NOTICE, visible=settings.demo, elem_id="demo-notice")

        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=320):
                with gr.Column(visible=True, elem_id="stage-input") as input_col:
                    prompt = gr.Textbox(label="Prompt", lines=1, max_lines=12, max_length=settings.max_prompt_chars,
                                        placeholder="A lighthouse made of glass at dawn…", autofocus=True,
                                        elem_id="prompt")
                    generate_btn = gr.Button("Generate Image", variant="primary", elem_id="generate")

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

                cancel_btn = gr.Button("Cancel", variant="stop", visible=False, elem_id="cancel")
                with gr.Column(visible=False) as message_box:
                    message = gr.Textbox(label="Message", interactive=False, elem_id="status")
                with gr.Column(visible=True) as input_extras:  # below the message, in the same stage
                    with gr.Accordion("Advanced", open=False):
                        size = gr.Dropdown(list(SIZES), value="auto", label="Size")
                        quality = gr.Dropdown(list(QUALITIES), value="auto", label="Quality")
                        background = gr.Dropdown(list(BACKGROUNDS), value="auto", label="Background")
                        output_format = gr.Dropdown(list(FORMATS), value="png", label="Output format")
                        api_key = gr.Textbox("", label="Your OpenAI API key (optional)", type="password",
                                             placeholder="sk-… used for this session only, never stored")
                    gr.Examples(EXAMPLES, inputs=prompt, label="Try one")


            with gr.Column(scale=3, min_width=320):
                image = MemoryImage(label="Image", interactive=False, height=560, elem_id="image",
                                    buttons=["download", "fullscreen"], alt_text="Generated image")
                with gr.Column(visible=False) as revised_box:
                    revised = gr.Textbox(label="Revised prompt", interactive=False, elem_id="revised")
                with gr.Column(visible=False) as gallery_box:
                    gallery = MemoryGallery(label="Candidates (click one to review it)", columns=6,
                                            fit_columns=False, height=230, allow_preview=False,
                                            buttons=[], elem_id="gallery")

        # Containers first (they toggle per stage and are not part of the API), then values.
        outputs = [session, input_col, input_extras, review_col, final_col, message_box, revised_box, gallery_box,
                   cancel_btn, image, revised, gallery, message]
        options = [size, quality, background, output_format, api_key]

        def visibility(state: Session) -> tuple[bool, ...]:
            """Which containers show: input (twice: controls and extras), review, final, revised, gallery."""
            current = state.current
            stage = state.stage
            return (stage is Stage.INITIAL_INPUT, stage is Stage.INITIAL_INPUT, stage is Stage.USER_FEEDBACK,
                    stage is Stage.FINAL, bool(current and current.revised_prompt),
                    stage is Stage.USER_FEEDBACK and len(state.candidates) > 1)

        def view(state: Session, before: Session | None = None, refused: bool = False) -> tuple:
            """All outputs for a session. Only what changed since `before` is sent: each update
            costs Gradio a component rebuild per session. A refused action sends no image."""
            shown = visibility(state)
            was = visibility(before) if before else (None,) * len(shown)
            boxes = [gr.skip() if now == then else gr.Column(visible=now) for now, then in zip(shown, was)]
            current = state.current
            return (
                state, *boxes[:4],
                gr.Column(visible=bool(state.message)),  # previews hide it, so always say
                *boxes[4:],
                gr.Button(visible=False),
                gr.skip() if refused else current,
                current.revised_prompt if current else "",
                state.candidates,
                state.message,
            )

        def preview(state: Session, partial: Candidate) -> tuple:
            """A partial image. Unchanged values are resent as they are (an empty diff): in Gradio
            6.31 `gr.skip()` still rebuilds the component, and the gallery's rebuild is costly."""
            skip, current = gr.skip(), state.current
            return (state, skip, skip, skip, skip, gr.Column(visible=False), skip, skip, gr.Button(visible=True),
                    partial, current.revised_prompt if current else "", state.candidates, "")

        async def act(action: Action, state: Session, request: gr.Request | None, **inputs):
            ip = client_address(request, settings.proxy_hops)
            refused = not allowed(state.stage, action)
            async for item in run_action(action, state, runtime, client_ip=ip, **inputs):
                yield preview(state, item) if isinstance(item, Candidate) else view(item, state, refused)

        def upstream(size_, quality_, background_, format_, key) -> dict:
            options = {"size": size_, "quality": quality_, "background": background_, "output_format": format_}
            return {"options": options, "api_key": (key or "").strip() or None}

        async def last(updates):
            async for update in updates:
                final = update
            return final

        async def generate(prompt_text, size_, quality_, background_, format_, key, state, request: gr.Request):
            """Generate a first image for the prompt (stage initial_input -> user_feedback)."""
            async for update in act(Action.GENERATE, state, request, task_input=prompt_text,
                                    **upstream(size_, quality_, background_, format_, key)):
                yield update

        async def regenerate(size_, quality_, background_, format_, key, state, request: gr.Request):
            """Make another candidate from the same prompt (stage user_feedback)."""
            async for update in act(Action.REGENERATE, state, request,
                                    **upstream(size_, quality_, background_, format_, key)):
                yield update

        async def refine(feedback_text, size_, quality_, background_, format_, key, state, request: gr.Request):
            """Edit the candidate on screen with written feedback (stage user_feedback)."""
            async for update in act(Action.REFINE, state, request, feedback=feedback_text,
                                    **upstream(size_, quality_, background_, format_, key)):
                yield update

        async def approve(state, request: gr.Request):
            """Approve the candidate on screen (stage user_feedback -> final)."""
            return await last(act(Action.APPROVE, state, request))

        async def start_over(state, request: gr.Request):
            """Go back to the prompt stage; the prompt text stays in its box."""
            return await last(act(Action.START_OVER, state, request))

        async def select(state, event: gr.SelectData, request: gr.Request):
            return await last(act(Action.SELECT, state, request, select_index=event.index))

        async def release(request: gr.Request):
            """Drop a closed tab's session after a short grace; Gradio alone keeps it an hour."""
            await asyncio.sleep(settings.closed_session_grace)
            holder, key = demo.state_holder, request.session_hash
            entry = holder.session_data.get(key)
            if entry is not None and entry.is_closed:  # not reconnected meanwhile
                holder.delete_state(key)
                with holder.lock:
                    holder.session_data.pop(key, None)

        common = dict(outputs=outputs, show_progress_on=[image], concurrency_id="generation",
                      concurrency_limit=settings.max_concurrent)
        running = [
            generate_btn.click(generate, [prompt, *options, session], api_name="generate", **common),
            prompt.submit(generate, [prompt, *options, session], api_visibility="private", **common),
            regenerate_btn.click(regenerate, [*options, session], api_name="regenerate", **common),
            refine_btn.click(refine, [feedback, *options, session], api_name="refine", **common),
        ]
        quick = dict(outputs=outputs, show_progress="hidden", concurrency_limit=None)
        approve_btn.click(approve, [session], api_name="approve", **quick)
        start_over_btn.click(start_over, [session], api_name="start_over", **quick)
        back_btn.click(start_over, [session], api_visibility="private", **quick)
        gallery.select(select, [session], api_visibility="private", **quick)
        cancel_btn.click(view, [session], outputs=outputs, cancels=running, api_visibility="private",
                         show_progress="hidden", concurrency_limit=None)
        demo.unload(release)

    demo.queue(max_size=settings.queue_size, default_concurrency_limit=None)
    return demo
