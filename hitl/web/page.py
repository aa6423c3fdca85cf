"""The page's layout: every component, named, top to bottom as it appears. Nothing else.

Events are wired in `hitl/web/events.py` (the page) and `hitl/web/api.py` (named endpoints); what is
on screen after an event is `hitl/web/screen.py`'s business.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

import gradio as gr

from hitl.backends.base import BACKGROUNDS, FORMATS, QUALITIES, SIZES
from hitl.core.stages import Session, Stage
from hitl.core.uploads import MAX_SIDE, MAX_UPLOAD_BYTES, MIMES, MIN_SIDE
from hitl.core.validation import MAX_COUNT
from hitl.serving.config import Settings
from hitl.serving.costs import money
from hitl.web.components import MemoryGallery, MemoryImage, MemoryImageSlider
from hitl.web.review_panel import OwnerPanel, owner_panel

TITLE = "HITL Image Studio"
TAGLINE = "Describe an image, review what comes back, regenerate until you love it, approve."
EXAMPLES = [
    "A watercolor fox reading a newspaper in a rainy Paris café",
    "Isometric pixel-art lighthouse on a tiny island at sunset",
    "A 1970s sci-fi paperback cover: a greenhouse drifting through space",
    "Studio photo of a ceramic teapot shaped like a sleeping cat",
]
DEMO_NOTICE = (
    "<p><strong>Demo mode:</strong> the pictures here are stand-ins drawn on this server, so you can try every "
    "step for free. To make real images, enter your own OpenAI key under <strong>Advanced</strong>.</p>"
)
OWNER_HINT = ("<p>Running this app yourself? Set <code>OPENAI_API_KEY</code> (a Space secret or an environment "
              "variable).</p>")
CANCEL = "Cancel"
HISTORY = 20  # prompts kept in the visitor's browser
KEYS = ("Keys: <kbd>Ctrl</kbd>/<kbd>⌘</kbd>+<kbd>Enter</kbd> generate · <kbd>A</kbd> approve · "
        "<kbd>R</kbd> regenerate · <kbd>C</kbd> compare · <kbd>←</kbd>/<kbd>→</kbd> candidates · <kbd>Esc</kbd> cancel")
UNDO = "Undo Start Over"
COMPARE = "⇄ Compare two"
REOPEN = "Back to review"
COUNTS = list(range(1, MAX_COUNT + 1))
COMPARING = "Click a thumbnail to change the right one."
SHOW_BATCH = "⊞ Show the whole batch"
BATCH_LABEL = "This batch (click one to see it at full size)"


@dataclass(frozen=True)
class Page:
    """The page's components by name; `session` is the visitor's `gr.State`."""

    session: gr.State
    token: gr.Textbox  # hidden: the key back to the session, which this browser keeps (events.py's KEPT)…
    history: gr.JSON  # …hidden too: the browser's last prompts (text only)
    message: gr.Textbox  # the one message of the last action (errors and refusals), a live region
    # initial_input
    prompt_stage: gr.Column
    undo: gr.Button
    prompt: gr.Textbox
    recent: gr.Dropdown  # the last prompts, to pick one again
    forget: gr.Button
    generate: gr.Button
    count: gr.Radio  # images per Generate, made side by side
    estimate: gr.HTML  # about what one image costs at the chosen size and quality
    size: gr.Dropdown
    quality: gr.Dropdown
    background: gr.Dropdown
    output_format: gr.Dropdown
    api_key: gr.Textbox
    budget: gr.Number  # the visitor's own limit for this session, in USD (0: none)
    # user_feedback
    review_stage: gr.Column
    your_prompt: gr.Textbox  # the prompt the candidates were made from, to edit and Remix
    remix: gr.Button  # new candidates from the one on screen with the edited prompt
    approve: gr.Button
    regenerate: gr.Button
    regenerate_count: gr.Radio  # images per Regenerate (kept in step with `count` in the browser)
    regenerate_estimate: gr.HTML  # what they cost, as `estimate` for Generate
    feedback: gr.Textbox
    refine: gr.Button
    discard: gr.Button
    # final
    final_stage: gr.Column
    download: gr.HTML  # a link to the approved image's bytes, served from the session
    reopen: gr.Button  # back to review: the approval withdrawn, every candidate still there
    start_over: gr.Button
    # the picture
    progress: gr.HTML  # what is happening while an image is being made (with the elapsed time)
    cancel: gr.Button  # shown while an image is being made
    batch: MemoryGallery  # the latest click's candidates as a grid, the picture until one is focused
    show_batch: gr.Button  # from one focused back to the grid of its batch
    image: MemoryImage  # the one on screen (focused); while comparing, the left one
    approve_left: gr.Button  # while comparing: the left one's own Approve
    compare_bar: gr.Column  # while two are side by side: the right one, its Approve, stop, the slider
    beside: MemoryImage
    approve_compared: gr.Button
    end_compare: gr.Button
    slider: MemoryImageSlider  # the same two under a wipe handle, an option below the pair
    revised_prompt: gr.Textbox
    cost: gr.HTML  # this image's cost and the session's, from what OpenAI reported
    gallery: MemoryGallery
    compare: gr.Button  # puts two candidates side by side
    candidate_index: gr.Number  # /select's and /compare's input (the page clicks instead)
    approve_index: gr.Number  # /approve's: which candidate (-1, the default: the one on screen)
    versions: gr.JSON  # /history's output (the page shows the gallery instead)
    # Your own pictures (start from one; paint a region to change). The page's script reads them in
    # the browser and the events' js= hands them over as data: URLs: no upload route, no file.
    upload_picker: gr.HTML  # initial_input: pick / paste / drop, a preview, Remove
    upload: gr.Textbox  # hidden: the picked picture's data: URL (/generate's `image`)
    paint_toggle: gr.HTML  # user_feedback: Paint a region, among the actions (the canvas is the script's)
    region_tools: gr.HTML  # brush size, Clear
    region_instruction: gr.Textbox
    edit_region: gr.Button
    mask: gr.Textbox  # hidden: the painted mask's data: URL (/edit_region's `mask`)
    seen: gr.Textbox  # hidden: what the tab showed when an action was pressed (the page's script fills it in)
    sharing: OwnerPanel  # Send for review: the link, and what the reviewer decided

    @property
    def stage_boxes(self) -> dict[Stage, gr.Column]:
        return {Stage.INITIAL_INPUT: self.prompt_stage, Stage.USER_FEEDBACK: self.review_stage,
                Stage.FINAL: self.final_stage}

    @property
    def image_options(self) -> list[gr.components.Component]:
        """What every generating endpoint of the API takes besides its text: the options and the key."""
        return [self.size, self.quality, self.background, self.output_format, self.api_key]

    @property
    def options(self) -> list[gr.components.Component]:
        """What every generating event of the page takes besides its text: the above and the budget."""
        return [*self.image_options, self.budget]


def estimate_html(settings: Settings, size: str, quality: str, count: int = 1) -> str:
    """About what one click costs at this size and quality: `count` images, each at most the estimate
    (an "auto" size or quality counts as its dearest). App's own words and numbers only."""
    usd = settings.prices.estimate(size, quality, settings.image_model)
    if usd is None:
        return '<p class="hitl-estimate">No price is known for this image model.</p>'
    free = " (demo mode: free here)" if settings.demo else ""
    count = int(count or 1)
    each = f"≈ {money(usd * count)} for {count} images ({money(usd)} each)" if count > 1 else \
        f"≈ {money(usd)} per image"
    return f'<p class="hitl-estimate">{each} at this size and quality{free}</p>'


# -- your own pictures ------------------------------------------------------------------------------------
MAX_UPLOAD_MB = MAX_UPLOAD_BYTES // (1024 * 1024)
UPLOAD_TYPES = sorted(set(MIMES.values()))
# The server's limits, handed to the page's script (data-*), which checks a picture as it is picked; the
# server checks it again. The message takes the hint's place in the drop zone: nothing below it moves.
UPLOAD_PICKER = f"""<div class="hitl-upload" data-max-bytes="{MAX_UPLOAD_BYTES}" data-max-side="{MAX_SIDE}"
data-min-side="{MIN_SIDE}" data-types="{' '.join(UPLOAD_TYPES)}">
<p class="hitl-upload-title" id="upload-title">Start from your own image (optional)</p>
<label class="hitl-upload-drop" for="upload-file">
<input type="file" id="upload-file" accept="{','.join(UPLOAD_TYPES)}" aria-labelledby="upload-hint"
aria-describedby="upload-error">
<span class="hitl-upload-says"><span id="upload-hint">Choose a file, paste (Ctrl+V) or drop a PNG, JPEG or WebP here,
up to {MAX_UPLOAD_MB} MB and {MAX_SIDE} px a side.</span>
<span class="hitl-upload-error" id="upload-error" role="alert"></span></span></label>
<div class="hitl-upload-preview" hidden><img alt="Your starting image" id="upload-preview">
<button type="button" id="upload-remove">Remove image</button></div>
</div>"""
PAINT_TOGGLE = '<button type="button" id="paint-toggle" aria-pressed="false">Paint a region</button>'
REGION_TOOLS = """<div class="hitl-region" role="group" aria-label="Paint a region to change">
<label for="brush-size">Brush size</label>
<input type="range" id="brush-size" min="4" max="160" value="40" aria-label="Brush size in pixels">
<button type="button" id="paint-clear">Clear</button>
<p class="hitl-region-hint" id="paint-hint">Brush over the picture (mouse, touch or pen) where it should change,
then say what to change there.</p>
</div>"""


def examples_html() -> str:
    """Prompts to start from, as buttons that fill the prompt box (page.js): what `gr.Examples` does,
    without its dataset's chunks on a first visit."""
    buttons = "".join(f'<button type="button" class="hitl-example">{html.escape(text)}</button>' for text in EXAMPLES)
    return f'<div role="group" aria-labelledby="examples-label"><p id="examples-label">Try one</p>{buttons}</div>'


def layout(settings: Settings) -> Page:
    """Build the page inside the current `gr.Blocks`; returns its components."""
    session = gr.State(Session(), time_to_live=settings.session_ttl)
    token = gr.Textbox("", visible=False)
    history = gr.JSON([], visible=False)
    gr.HTML(f"<h1>{TITLE}</h1>\n<p>{TAGLINE}</p>", elem_id="title")
    if settings.demo:
        gr.HTML(DEMO_NOTICE, elem_id="demo-notice")

    with gr.Row(equal_height=False, elem_id="workspace"):
        with gr.Column(scale=2, min_width=320, elem_id="controls"):
            message = gr.Textbox(label="Message", interactive=False, visible=False, elem_id="status")
            with gr.Column(visible=True, elem_id="stage-input") as prompt_stage:
                undo = gr.Button(UNDO, size="sm", visible=False, elem_id="undo")
                prompt = gr.Textbox(label="Prompt", lines=1, max_lines=12, max_length=settings.max_prompt_chars,
                                    placeholder="A lighthouse made of glass at dawn…", autofocus=True,
                                    elem_id="prompt")
                with gr.Row(elem_id="generate-row"):
                    generate = gr.Button("Generate Image", variant="primary", scale=3, elem_id="generate")
                    count = gr.Radio(COUNTS, value=1, label="Images", scale=2, min_width=160, elem_id="count")
                estimate = gr.HTML(estimate_html(settings, "auto", "auto"), elem_id="estimate")
                upload_picker = gr.HTML(UPLOAD_PICKER, elem_id="upload-picker")
                with gr.Row(elem_id="recent-row"):
                    recent = gr.Dropdown([], value=None, label="Recent prompts", scale=4, elem_id="recent")
                    forget = gr.Button("Clear history", size="sm", scale=1, elem_id="forget")
                with gr.Accordion("Advanced", open=False):
                    size = gr.Dropdown(list(SIZES), value="auto", label="Size")
                    quality = gr.Dropdown(list(QUALITIES), value="auto", label="Quality")
                    background = gr.Dropdown(list(BACKGROUNDS), value="auto", label="Background")
                    output_format = gr.Dropdown(list(FORMATS), value="png", label="Output format")
                    api_key = gr.Textbox("", label="Your OpenAI API key (optional)", type="password",
                                         placeholder="sk-… used for this session only, never stored")
                    budget = gr.Number(0, label="Session budget in US$ (0: none)", minimum=0, step=0.05,
                                       elem_id="budget")
                    if settings.demo:
                        gr.HTML(OWNER_HINT, elem_classes="owner-hint")
                gr.HTML(examples_html(), elem_id="examples")

            # Review: what acts on the picture first, in one screen beside it (below it on a phone).
            with gr.Column(visible=False, elem_id="stage-review") as review_stage:
                gr.HTML("<h2>Review</h2>", elem_classes="stage-title")
                with gr.Row(elem_id="review-actions"):
                    approve = gr.Button("Approve", variant="primary", min_width=96, elem_id="approve")
                    regenerate = gr.Button("Regenerate", min_width=96, elem_id="regenerate")
                    compare = gr.Button(COMPARE, visible=False, min_width=96, elem_id="compare")
                    paint_toggle = gr.HTML(PAINT_TOGGLE, min_width=96, container=False, padding=False, elem_id="paint")
                with gr.Row(equal_height=True, elem_id="refine-row"):
                    feedback = gr.Textbox(label="Feedback", lines=1, max_lines=12, max_length=settings.max_prompt_chars,
                                          placeholder="Make it night time, add snow…", scale=3, elem_id="feedback")
                    refine = gr.Button("Refine", scale=1, min_width=96, elem_id="refine")
                with gr.Row(equal_height=True, elem_id="remix-row"):  # edit the prompt, go again from the picture
                    your_prompt = gr.Textbox(label="Your prompt", lines=1, max_lines=4, scale=3,
                                             max_length=settings.max_prompt_chars, elem_id="your-prompt")
                    remix = gr.Button("Remix", scale=1, min_width=96, elem_id="remix")
                region_tools = gr.HTML(REGION_TOOLS, elem_id="region-tools")
                region_instruction = gr.Textbox(label="What to change there", lines=1, max_lines=6,
                                                max_length=settings.max_prompt_chars, placeholder="A red umbrella…",
                                                elem_id="region-instruction")
                edit_region = gr.Button("Edit region", elem_id="edit-region")
                regenerate_count = gr.Radio(COUNTS, value=1, label="Images per Regenerate or Remix",
                                            elem_id="regenerate-count")
                regenerate_estimate = gr.HTML(estimate_html(settings, "auto", "auto"), elem_id="regenerate-estimate")
                discard = gr.Button("Start Over", variant="secondary", size="sm", elem_id="discard")
                gr.HTML(f'<p class="hitl-keys">{KEYS}</p>', elem_id="keys")  # what the page's script listens for

            with gr.Column(visible=False, elem_id="stage-final") as final_stage:
                gr.HTML("<h2>Approved ✓</h2>", elem_classes="stage-title")
                download = gr.HTML("", elem_id="download")
                reopen = gr.Button(REOPEN, variant="secondary", elem_id="reopen")
                start_over = gr.Button("Start Over", variant="secondary", elem_id="start-over")
            sharing = owner_panel()

        with gr.Column(scale=3, min_width=320, elem_id="picture"):
            progress = gr.HTML("", elem_id="progress")
            cancel = gr.Button(CANCEL, variant="stop", visible=False, elem_id="cancel")  # beside what it stops
            batch = MemoryGallery(label=BATCH_LABEL, columns=2, object_fit="contain", allow_preview=False,
                                  buttons=[], visible=False, elem_id="batch")
            show_batch = gr.Button(SHOW_BATCH, size="sm", visible=False, elem_id="show-batch")
            with gr.Row(equal_height=False, elem_id="pair"):  # two side by side: next to each other
                with gr.Column(min_width=160, elem_id="left"):
                    image = MemoryImage(label="Image", interactive=False, height=560, elem_id="image",
                                        buttons=["download", "fullscreen"], alt_text="Generated image")
                    approve_left = gr.Button("Approve left", variant="primary", visible=False,
                                             elem_id="approve-left")
                with gr.Column(visible=False, min_width=160, elem_id="compare-bar") as compare_bar:
                    beside = MemoryImage(label="Beside it", interactive=False, height=560, elem_id="beside",
                                         buttons=["download", "fullscreen"], alt_text="The candidate beside it")
                    with gr.Row(elem_id="compare-actions"):
                        approve_compared = gr.Button("Approve right", variant="primary", min_width=96,
                                                     elem_id="approve-right")
                        end_compare = gr.Button("Stop comparing", min_width=96, elem_id="end-compare")
                    gr.HTML(COMPARING, elem_classes="compare-note")
                    with gr.Accordion("Wipe slider", open=False, elem_id="wipe"):
                        slider = MemoryImageSlider(label="Side by side", interactive=False, visible=False,
                                                   height=400, elem_id="slider")
            revised_prompt = gr.Textbox(label="Revised prompt", interactive=False, visible=False, elem_id="revised")
            cost = gr.HTML("", elem_id="cost")
            gallery = MemoryGallery(label="All candidates (click one to review it)", columns=6, fit_columns=False,
                                    height=230, allow_preview=False, buttons=[], visible=False, elem_id="gallery")
    candidate_index = gr.Number(0, precision=0, visible=False)
    approve_index = gr.Number(-1, precision=0, visible=False)
    versions = gr.JSON(visible=False)
    upload = gr.Textbox("", visible=False, label="Image (data: URL)", elem_id="upload-data")
    mask = gr.Textbox("", visible=False, label="Mask (data: URL)", elem_id="mask-data")
    seen = gr.Textbox("", visible=False, label="What the page showed", elem_id="seen-data")

    return Page(
        session=session, token=token, history=history, message=message,
        prompt_stage=prompt_stage, undo=undo, prompt=prompt, recent=recent, forget=forget, generate=generate,
        count=count,
        estimate=estimate, size=size, quality=quality, background=background, output_format=output_format,
        api_key=api_key, budget=budget,
        review_stage=review_stage, your_prompt=your_prompt, remix=remix, approve=approve, regenerate=regenerate,
        regenerate_count=regenerate_count, regenerate_estimate=regenerate_estimate,
        feedback=feedback, refine=refine,
        discard=discard, final_stage=final_stage, download=download, reopen=reopen, start_over=start_over,
        cancel=cancel, progress=progress, batch=batch, show_batch=show_batch, image=image, approve_left=approve_left,
        compare_bar=compare_bar, beside=beside, approve_compared=approve_compared, end_compare=end_compare,
        slider=slider, revised_prompt=revised_prompt, cost=cost, gallery=gallery, compare=compare,
        candidate_index=candidate_index, approve_index=approve_index, versions=versions,
        upload_picker=upload_picker, upload=upload, paint_toggle=paint_toggle, region_tools=region_tools,
        region_instruction=region_instruction, edit_region=edit_region, mask=mask, seen=seen, sharing=sharing,
    )
