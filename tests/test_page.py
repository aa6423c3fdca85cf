"""What a page event sends: updates only where something is shown or hidden, plain values elsewhere,
the image and stage boxes left out when they did not change; every output keyed by component."""

from __future__ import annotations

from dataclasses import replace

import gradio as gr
import pytest

from hitl.core.jobs import Job
from hitl.core.progress import Preview
from hitl.core.stages import Action, Candidate, Session, Stage
from hitl.serving.config import load_settings
from hitl.web.components import Linked, gallery_payload, image_payload, slider_payload
from hitl.web.page import CANCEL, SHOW_BATCH, layout
from hitl.web.screen import Screen

IMAGE = Candidate.from_b64("QUJD", prompt="a kite", revised_prompt="a red kite")


@pytest.fixture(scope="module")
def page():
    with gr.Blocks():
        return layout(load_settings(api_key=None))


def running(count: int = 1, *previews: Preview) -> Job:
    """A job under way (its image calls started) that has drawn `previews` so far."""
    job = Job(Action.GENERATE, count, started=True)
    for preview in previews:
        job.note(preview)
    return job


def updates(outputs: dict) -> dict:
    return {component: value for component, value in outputs.items() if isinstance(value, dict) and "visible" in value}


def test_first_image_switches_the_stage_and_shows_the_revised_prompt(page):
    after = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="a kite", candidates=[IMAGE], selected=0)
    outputs = Screen.of(page, Session(), "abc").show(after)
    assert outputs[page.session] is after
    # By URL, and saved as its prompt and number.
    assert outputs[page.image] == image_payload(Linked(IMAGE, "abc", "a-kite-1"))
    assert outputs[page.prompt_stage] == gr.update(visible=False)
    assert outputs[page.review_stage] == gr.update(visible=True)
    assert page.final_stage not in outputs  # unchanged: left out
    assert outputs[page.revised_prompt] == gr.update(visible=True, value="a red kite")
    assert outputs[page.cancel] == CANCEL  # unchanged: a plain value
    assert outputs[page.message] == gr.update(visible=False, value="")  # always set: notes come and go
    assert outputs[page.gallery] == gallery_payload([Linked(IMAGE, "abc")], current=0)
    assert outputs[page.gallery][0]["caption"] == "#1 · on screen"  # the one under review is marked
    assert outputs[page.your_prompt] == "a kite" and outputs[page.progress] == ""


def test_your_prompt_is_sent_when_it_changes_never_over_an_edit_being_typed(page):
    """Review's prompt box is typed into for Remix: a render for anything else (another tab's Regenerate, a
    watch) leaves the edit alone; a Remix's new prompt, or a new review, brings the box up to date."""
    review = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="a kite", candidates=[IMAGE], selected=0)
    screen = Screen.of(page, Session(), "abc")
    assert screen.show(review)[page.your_prompt] == "a kite"
    other = Candidate(b"DEF", prompt="a kite", made_by="regenerate", parent=IMAGE.key)
    assert page.your_prompt not in screen.show(replace(review, candidates=[IMAGE, other], selected=1))
    assert screen.show(replace(review, input_used_by_process="a kite at dusk"))[page.your_prompt] == "a kite at dusk"
    screen.show(replace(review, stage=Stage.INITIAL_INPUT, candidates=[], selected=-1))  # Start Over
    assert screen.show(replace(review, input_used_by_process="a kite at dusk"))[page.your_prompt] == "a kite at dusk"


def test_a_message_tells_the_page_what_it_is_about_and_each_saying_is_new(page):
    """page.js takes a message away once its cause is fixed, and brings it back when an action says it again:
    the classes say what it is about and which saying it is; a plain message has none."""
    from hitl.core.stages import Message

    screen = Screen.of(page, Session(), "abc")
    empty = Session(error_message=Message("The prompt is empty.", "prompt"))
    first = screen.show(empty)[page.message]
    assert first["elem_classes"] == ["hitl-about-prompt", "hitl-said-1"] and first["value"] == "The prompt is empty."
    assert "elem_classes" not in screen.show(empty)[page.message]  # the same saying, drawn again (a watch)
    again = screen.show(replace(empty))[page.message]  # the next Generate says it again: a new session
    assert again["elem_classes"] == ["hitl-about-prompt", "hitl-said-2"]
    assert screen.show(Session(error_message="Generation limit reached."))[page.message]["elem_classes"] == []


def test_a_started_generation_shows_cancel_and_hides_the_last_message(page):
    before = Session(error_message="Generation limit reached. Try again in 3 s.")
    outputs = Screen.of(page, before, "abc").show(before, running())
    assert not any(box in outputs for box in page.stage_boxes.values())  # the stage stays
    assert outputs[page.cancel] == gr.update(visible=True, value=CANCEL)
    assert page.image not in outputs  # the image on screen stays until a preview comes
    assert outputs[page.message] == gr.update(visible=False, value=before.error_message)


def test_a_preview_is_sent_inline_and_changes_nothing_else(page):
    screen = Screen.of(page, Session(), "abc")
    screen.show(Session(), running())
    preview = Candidate.from_b64("UFJF")
    outputs = screen.show(Session(), running(1, Preview(0, preview)))
    assert outputs[page.image] == image_payload(preview) and outputs[page.image]["url"].startswith("data:")
    assert updates(outputs) == {page.message: gr.update(visible=False, value="")}


def test_the_end_of_a_run_replaces_the_preview_and_settles_the_message(page):
    """The last good image comes back after a failed run; the message is set either way, because an
    event refused meanwhile may have shown one."""
    before = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE], selected=0)
    screen = Screen.of(page, before, "abc")
    screen.show(before, running())
    screen.show(before, running(1, Preview(0, Candidate.from_b64("UFJF"))))
    failed = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE], selected=0, error_message="Blocked.")
    outputs = screen.show(failed)
    assert outputs[page.image] == image_payload(Linked(IMAGE, "abc", "hitl-image-1"))
    assert outputs[page.message] == gr.update(visible=True, value="Blocked.")
    assert screen.show(before, running())[page.message] == gr.update(visible=False, value="")
    assert screen.show(before)[page.message] == gr.update(visible=False, value="")
    assert screen.show(before, note="Another tab moved on.")[page.message] == gr.update(
        visible=True, value="Another tab moved on.")  # a note for this tab alone


def test_nothing_changes_nothing_is_updated(page):
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE, IMAGE], selected=1)
    outputs = Screen.of(page, session, "abc").show(session)
    assert updates(outputs) == {page.message: gr.update(visible=False, value="")} and page.image not in outputs


def test_cancel_restores_the_picture_whatever_was_streamed(page):
    session = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE], selected=0)
    screen = Screen.of(page, session, "abc")
    screen.show(session, running(1, Preview(0, Candidate.from_b64("UFJF"))))
    outputs = screen.show(session)
    assert outputs[page.image] == image_payload(Linked(IMAGE, "abc", "hitl-image-1"))
    assert outputs[page.cancel] == gr.update(visible=False, value=CANCEL)


def test_the_progress_line_says_what_is_happening(page):
    session = Session()
    screen = Screen.of(page, session, "abc", previews_expected=2)
    job = running()
    assert "Making your image…" in screen.show(session, job)[page.progress]
    for n in (1, 2):
        job.note(Preview(0, Candidate.from_b64("UFJF")))
        line = screen.show(session, job)[page.progress]
        assert f"preview {n} of 2" in line and 'role="status"' in line and 'class="elapsed"' in line
        assert f'data-since="{int(job.since * 1000)}"' in line  # a reloaded tab counts from the click
    assert screen.show(session)[page.progress] == ""  # done: the line goes


def test_the_download_link_names_the_approved_image_not_the_session(page):
    final = Session(stage=Stage.FINAL, candidates=[IMAGE], selected=0, final_result=IMAGE)
    link = Screen.of(page, Session(), "session-hash-xyz").show(final)[page.download]
    assert f'href="gradio_api/hitl/image/{IMAGE.key}"' in link and 'download="hitl-image-1.png"' in link
    assert "session-hash-xyz" not in link  # neither the image's link nor the decision log's


def test_a_download_is_named_after_the_prompt_and_the_image_number(page):
    other = Candidate.from_b64("T1RIRVI=")
    final = Session(stage=Stage.FINAL, candidates=[other, IMAGE], selected=1, final_result=IMAGE,
                    input_used_by_process='A glass lighthouse, at dawn! <"/\\:*?|> ' + "very long " * 9)
    link = Screen.of(page, Session(), "abc").show(final)[page.download]
    assert 'download="a-glass-lighthouse-at-dawn-very-long-very-long-2.png"' in link


def captions(outputs: dict, page, which=None) -> list[str]:
    gallery = outputs[which or page.gallery]
    return [tile["caption"] for tile in (gallery["value"] if "__type__" in gallery else gallery)]


def test_several_images_each_get_a_tile_with_their_preview(page):
    """Four at once: the batch's grid is the picture, a tile per image as its first preview comes (among all
    candidates too), "ready" as each is done; the end of the run shows the candidates only."""
    screen = Screen.of(page, Session(), "abc")
    job = running(4)
    assert "Making 4 images…" in screen.show(Session(), job)[page.progress]
    first, third = Candidate.from_b64("UFJF"), Candidate.from_b64("VEhJ")
    job.note(Preview(2, third))
    outputs = screen.show(Session(), job)
    drawn = gallery_payload([], drawing=[(third, "drawing…")])
    assert outputs[page.gallery] == gr.update(visible=True, value=drawn)
    assert outputs[page.batch] == gr.update(visible=True, value=drawn)
    assert outputs[page.image] == gr.update(visible=False, value=None)  # the grid instead, no preview sent twice
    job.note(Preview(0, first))
    outputs = screen.show(Session(), job)
    assert page.image not in outputs
    assert captions(outputs, page) == captions(outputs, page, page.batch) == ["new 1 · drawing…", "new 2 · drawing…"]
    job.note(Preview(2, third, ready=True))
    outputs = screen.show(Session(), job)
    assert captions(outputs, page) == ["new 1 · drawing…", "new 2 · ready"]
    assert "1 of 4 ready" in outputs[page.progress]
    done = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE, third], selected=1)
    outputs = screen.show(done)
    assert captions(outputs, page) == captions(outputs, page, page.batch) == ["#1", "#2 · on screen"]
    assert outputs[page.image] == image_payload(Linked(third, "abc", "hitl-image-2"))  # hidden: the grid is the picture


def test_a_batch_shows_as_a_grid_until_one_is_focused_and_a_new_batch_is_a_grid_again(page):
    made = [Candidate(b"ONE"), Candidate(b"TWO"), Candidate(b"THR")]
    session = Session(stage=Stage.USER_FEEDBACK, candidates=made, selected=2)
    screen = Screen.of(page, Session(), "abc")
    outputs = screen.show(session)
    assert outputs[page.batch]["visible"] is True and outputs[page.image]["visible"] is False
    assert captions(outputs, page, page.batch) == ["#1", "#2", "#3 · on screen"]
    screen.focused = True  # a tile clicked
    outputs = screen.show(replace(session, selected=0))
    assert outputs[page.batch]["visible"] is False and outputs[page.image]["visible"] is True
    assert outputs[page.show_batch] == gr.update(visible=True, value=SHOW_BATCH)
    again = [Candidate(b"FOU", made_by="regenerate", parent=made[0].key),
             Candidate(b"FIV", made_by="regenerate", parent=made[0].key)]
    outputs = screen.show(replace(session, candidates=[*made, *again], selected=4))
    assert outputs[page.batch]["visible"] is True and outputs[page.show_batch]["visible"] is False
    assert captions(outputs, page, page.batch) == ["#4 · regenerate of #1", "#5 · regenerate of #1 · on screen"]


def test_comparing_shows_the_two_next_to_each_other_each_with_its_approve_and_marks_both(page):
    other = Candidate(b"OTH", made_by="regenerate", parent=IMAGE.key)
    reviewing = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE, other], selected=1)
    comparing = Session(stage=Stage.USER_FEEDBACK, candidates=[IMAGE, other], selected=1, compared=0)
    screen = Screen.of(page, reviewing, "abc")
    outputs = screen.show(comparing)
    assert outputs[page.compare_bar] == gr.update(visible=True)
    assert page.image not in outputs  # the one on screen stays, on the left
    assert outputs[page.beside] == image_payload(Linked(IMAGE, "abc", "hitl-image-1"))  # the other on the right
    assert outputs[page.approve_left] == gr.update(visible=True, value="Approve left")
    pair = (Linked(other, "abc", "hitl-image-2"), Linked(IMAGE, "abc", "hitl-image-1"))
    assert outputs[page.slider] == gr.update(visible=True, value=slider_payload(pair))
    assert outputs[page.compare]["visible"] is False
    assert captions(outputs, page) == ["#1 · beside it", "#2 · regenerate of #1 · on screen"]
    outputs = screen.show(reviewing)
    assert outputs[page.compare_bar] == gr.update(visible=False) and outputs[page.approve_left]["visible"] is False
