"""What a page event sends: updates only where something is shown or hidden, plain values elsewhere,
the image and stage boxes left out when they did not change; every output keyed by component."""

from __future__ import annotations

import gradio as gr
import pytest

from hitl.components import Linked, gallery_payload, image_payload
from hitl.config import load_settings
from hitl.page import CANCEL, layout
from hitl.screen import Screen
from hitl.stages import Candidate, Session, Stage

IMAGE = Candidate.from_b64("QUJD", prompt="a kite", revised_prompt="a red kite")


@pytest.fixture(scope="module")
def page():
    with gr.Blocks():
        return layout(load_settings(api_key=None))


def updates(outputs: dict) -> dict:
    return {component: value for component, value in outputs.items() if isinstance(value, dict) and "visible" in value}


def test_first_image_switches_the_stage_and_shows_the_revised_prompt(page):
    after = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="a kite", candidates=[IMAGE], selected=0)
    outputs = Screen.of(page, Session(), "abc").show(after)
    assert outputs[page.session] is after
    assert outputs[page.image] == image_payload(Linked(IMAGE, "abc"))  # the final image by URL
    assert outputs[page.prompt_stage] == gr.update(visible=False)
    assert outputs[page.review_stage] == gr.update(visible=True)
    assert page.final_stage not in outputs  # unchanged: left out
    assert outputs[page.revised_prompt] == gr.update(visible=True, value="a red kite")
    assert outputs[page.cancel] == CANCEL and outputs[page.message] == ""  # unchanged: plain values
    assert outputs[page.gallery] == gallery_payload([Linked(IMAGE, "abc")], current=0)
    assert outputs[page.gallery][0]["caption"] == "#1 · on screen"  # the one under review is marked
    assert outputs[page.your_prompt] == "a kite" and outputs[page.progress] == ""


def test_a_started_generation_shows_cancel_and_hides_the_last_message(page):
    before = Session(error_message="Generation limit reached. Try again in 3 s.")
    outputs = Screen.of(page, before, "abc").show(before, running=True)
    assert not any(box in outputs for box in page.stage_boxes.values())  # the stage stays
    assert outputs[page.cancel] == gr.update(visible=True, value=CANCEL)
    assert page.image not in outputs  # the image on screen stays until a preview comes
    assert outputs[page.message] == gr.update(visible=False, value=before.error_message)


def test_a_preview_is_sent_inline_and_changes_nothing_else(page):
    screen = Screen.of(page, Session(), "abc")
    screen.show(Session(), running=True)
    preview = Candidate.from_b64("UFJF")
    outputs = screen.show(Session(), running=True, preview=preview)
    assert outputs[page.image] == image_payload(preview) and outputs[page.image]["url"].startswith("data:")
    assert updates(outputs) == {}


def test_the_end_of_a_run_replaces_the_preview_and_settles_the_message(page):
    """The last good image comes back after a failed run; the message is set either way, because an
    event refused meanwhile may have shown one."""
    before = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE], selected=0)
    screen = Screen.of(page, before, "abc")
    screen.show(before, running=True)
    screen.show(before, running=True, preview=Candidate.from_b64("UFJF"))
    failed = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE], selected=0, error_message="Blocked.")
    outputs = screen.show(failed)
    assert outputs[page.image] == image_payload(Linked(IMAGE, "abc"))
    assert outputs[page.message] == gr.update(visible=True, value="Blocked.")
    assert screen.show(before, running=True)[page.message] == gr.update(visible=False, value="")
    assert screen.show(before)[page.message] == gr.update(visible=False, value="")


def test_nothing_changes_nothing_is_updated(page):
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE, IMAGE], selected=1)
    outputs = Screen.of(page, session, "abc").show(session)
    assert updates(outputs) == {} and page.image not in outputs


def test_cancel_restores_the_picture_whatever_was_streamed(page):
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE], selected=0)
    outputs = Screen.of(page, session, "abc", running=True).show(session)
    assert outputs[page.image] == image_payload(Linked(IMAGE, "abc"))
    assert outputs[page.cancel] == gr.update(visible=False, value=CANCEL)


def test_the_progress_line_says_what_is_happening(page):
    session = Session()
    screen = Screen.of(page, session, "abc", previews_expected=2)
    assert "Making your image…" in screen.show(session, running=True)[page.progress]
    for n in (1, 2):
        line = screen.show(session, running=True, preview=Candidate.from_b64("UFJF"))[page.progress]
        assert f"preview {n} of 2" in line and 'role="status"' in line and 'class="elapsed"' in line
    assert screen.show(session)[page.progress] == ""  # done: the line goes


def test_the_download_link_names_the_approved_image_in_the_session(page):
    final = Session(stage=Stage.FINAL, candidates=[IMAGE], selected=0, final_result=IMAGE)
    link = Screen.of(page, Session(), "abc").show(final)[page.download]
    assert f'href="gradio_api/hitl/image/abc/{IMAGE.key}"' in link and 'download="hitl-image.png"' in link
