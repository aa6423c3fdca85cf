"""The stage machine on its own: no Gradio, no network."""

from __future__ import annotations

import itertools

import pytest

from hitl.core.stages import (
    TRANSITIONS,
    Action,
    Candidate,
    Session,
    Stage,
    StageError,
    add_candidate,
    allowed,
    from_shared,
    next_stage,
    to_shared,
)


def test_the_seed_workflow_is_legal():
    stage = Stage.INITIAL_INPUT
    for action, expected in [(Action.GENERATE, Stage.USER_FEEDBACK), (Action.REGENERATE, Stage.USER_FEEDBACK),
                             (Action.APPROVE, Stage.FINAL), (Action.START_OVER, Stage.INITIAL_INPUT)]:
        stage = next_stage(stage, action)
        assert stage is expected


@pytest.mark.parametrize("stage,action", [
    (s, a) for s, a in itertools.product(Stage, Action) if (s, a) not in TRANSITIONS
])
def test_every_other_action_is_refused_with_a_message(stage, action):
    assert not allowed(stage, action)
    with pytest.raises(StageError) as refusal:
        next_stage(stage, action)
    assert str(refusal.value)


def test_remix_belongs_to_review_only():
    assert next_stage(Stage.USER_FEEDBACK, Action.REMIX) is Stage.USER_FEEDBACK
    with pytest.raises(StageError, match="Generate Image"):  # nothing on screen to remix yet
        next_stage(Stage.INITIAL_INPUT, Action.REMIX)
    with pytest.raises(StageError, match="already approved"):
        next_stage(Stage.FINAL, Action.REMIX)


def test_refusals_name_the_way_forward():
    with pytest.raises(StageError, match="Generate Image"):
        next_stage(Stage.INITIAL_INPUT, Action.APPROVE)
    with pytest.raises(StageError, match="Start Over"):
        next_stage(Stage.FINAL, Action.REGENERATE)


def test_shared_round_trip_keeps_the_session_and_drops_runtime_keys():
    one, two = Candidate(b"AAA", prompt="p"), Candidate(b"BBB", prompt="p")
    session = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="p", candidates=[one, two], selected=1, made=2,
                      generations=[1.0, 2.0])
    shared = to_shared(session, task_input="typed", settings=object())
    assert shared["input_used_by_process"] == "p" and shared["stage"] is Stage.USER_FEEDBACK
    assert shared["task_input"] == "typed"
    assert from_shared(shared) == session


def test_the_shared_store_does_not_alias_session_lists():
    session = Session(candidates=[Candidate(b"A")], selected=0)
    shared = to_shared(session)
    add_candidate(shared, Candidate(b"B"), keep=8)
    assert len(session.candidates) == 1  # a cancelled flow leaves the session untouched


def test_candidates_are_capped_and_the_newest_is_selected():
    shared = to_shared(Session())
    for i in range(5):
        add_candidate(shared, Candidate(str(i).encode()), keep=3)
    assert [c.image for c in shared["candidates"]] == [b"2", b"3", b"4"]
    assert shared["selected"] == 2


def test_current_image_follows_the_stage():
    a, b = Candidate(b"A"), Candidate(b"B")
    assert Session().shown_image is None
    review = Session(stage=Stage.USER_FEEDBACK, candidates=[a, b], selected=0)
    assert review.shown_image is a
    final = Session(stage=Stage.FINAL, candidates=[a, b], selected=1, final_result=a)
    assert final.shown_image is a


def test_images_are_held_as_bytes_decoded_once_and_encoded_on_demand():
    candidate = Candidate.from_b64("QUJD", mime="image/webp")
    assert candidate.image == b"ABC" and candidate.mime == "image/webp"
    assert candidate.data_url == "data:image/webp;base64,QUJD"  # the mime type carried
    assert candidate.thumb_url == candidate.data_url  # no thumbnail: the image itself
    assert Candidate(b"ABC", thumb=b"WEB").thumb_url == "data:image/webp;base64,V0VC"


def test_a_candidate_repr_leaves_the_image_bytes_out():
    shown = repr(Candidate(b"ABC", thumb=b"ABC", prompt="a kite"))
    assert "ABC" not in shown and "a kite" in shown


def test_a_session_runs_one_action_at_a_time_and_copies_share_the_claim():
    from dataclasses import replace

    from hitl.core.stages import Busy

    session = Session()
    copy = replace(session, error_message="a copy made by another event")
    assert session.busy.claim(Action.REGENERATE, now=10.0, stale_after=60)
    assert not copy.busy.claim(Action.APPROVE, now=11.0, stale_after=60)  # the same claim, seen from the copy
    assert session.busy.action is Action.REGENERATE
    session.busy.release()
    assert copy.busy.claim(Action.APPROVE, now=12.0, stale_after=60)
    assert Busy().claim(Action.GENERATE, 0, 60) and Session().busy is not Session().busy


def test_a_claim_older_than_any_action_can_last_is_taken_over():
    session = Session()
    assert session.busy.claim(Action.GENERATE, now=0.0, stale_after=60)
    assert not session.busy.claim(Action.APPROVE, now=59.0, stale_after=60)
    assert session.busy.claim(Action.APPROVE, now=61.0, stale_after=60)
