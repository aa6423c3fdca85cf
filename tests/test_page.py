"""What a page event sends: updates only where something is shown or hidden, plain values elsewhere."""

from __future__ import annotations

import gradio as gr

from hitl.components import Linked, gallery_payload, image_payload
from hitl.stages import Candidate, Session, Stage
from hitl.ui import CANCEL, page_outputs, shown

BOXES = [Stage.INITIAL_INPUT, Stage.USER_FEEDBACK]  # what Generate can switch
IMAGE = Candidate.from_b64("QUJD", prompt="a kite", revised_prompt="a red kite")


def test_first_image_switches_the_stage_and_shows_the_revised_prompt():
    before = Session()
    after = Session(stage=Stage.USER_FEEDBACK, prompt="a kite", candidates=[IMAGE], selected=0)
    state, input_box, review_box, cancel, image, revised, gallery, message = page_outputs(
        BOXES, after, IMAGE, shown(before), shown(after), "abc")
    assert state is after and image == image_payload(IMAGE)
    assert input_box == gr.update(visible=False) and review_box == gr.update(visible=True)
    assert revised == gr.update(visible=True, value="a red kite")
    assert cancel == CANCEL and message == ""  # unchanged: plain values
    assert gallery == gallery_payload([Linked(IMAGE, "abc")])


def test_a_started_generation_shows_cancel_and_hides_the_last_message():
    before = Session(message="Generation limit reached. Try again in 3 s.")
    outputs = page_outputs(BOXES, before, gr.skip(), shown(before), shown(before, running=True), "abc")
    assert outputs[1] == gr.skip() and outputs[2] == gr.skip()  # the stage stays
    assert outputs[3] == gr.update(visible=True, value=CANCEL)
    assert outputs[4] == gr.skip()  # the image on screen stays until a preview comes
    assert outputs[-1] == gr.update(visible=False, value=before.message)


def test_a_preview_is_sent_inline_and_changes_nothing_else():
    running = shown(Session(), running=True)
    preview = Candidate.from_b64("UFJF")
    outputs = page_outputs(BOXES, Session(), preview, running, running, "abc")
    assert outputs[4] == image_payload(preview) and outputs[4]["url"].startswith("data:")
    assert not any(isinstance(value, dict) and "visible" in value for value in outputs)


def test_nothing_changes_nothing_is_updated():
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE, IMAGE], selected=1)
    outputs = page_outputs([], session, gr.skip(), shown(session), shown(session), "abc")
    assert not any(isinstance(value, dict) and value.get("visible") is not None for value in outputs)
