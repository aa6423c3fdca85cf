"""One PocketFlow flow per user action. Guards end a flow early through `Halt`.

Cheap refusals come first: the stage, the text's length, the count and options, the image memory, the
limits and the budget are all checked before a picture the user sent is decoded (work in a shared thread
pool), so a caller past their limit costs a few comparisons however large the picture they send. The
image memory is checked before the limits (a refusal for want of room costs no generation) and claimed
only after them (`MakeRoom`), so a caller the limits refuse releases nobody's images. A picture refused
after that counts as a generation, as a failed image call does."""

from __future__ import annotations

from pocketflow import AsyncFlow

from hitl.core.nodes import (
    STOP,
    Approve,
    CheckBudget,
    CheckLimits,
    CheckRoom,
    CheckSeen,
    CheckStage,
    CompareCandidate,
    GenerateImage,
    Halt,
    MakeRoom,
    Reopen,
    RequestChanges,
    SelectCandidate,
    StartOver,
    UndoStartOver,
    ValidateMask,
    ValidateRequest,
    ValidateUpload,
)
from hitl.core.stages import REVIEWER, Action


def _chain(*nodes) -> AsyncFlow:
    """Link nodes in order; any of them saying "stop" ends the flow."""
    halt = Halt()
    for node, following in zip(nodes, nodes[1:], strict=False):
        node >> following
        node - STOP >> halt
    return AsyncFlow(start=nodes[0])


def generate_flow() -> AsyncFlow:
    return _chain(CheckStage(action=Action.GENERATE),
                  ValidateRequest(text="task_input", into="input_used_by_process", what="prompt"),
                  CheckRoom(action=Action.GENERATE), CheckLimits(), CheckBudget(), MakeRoom(action=Action.GENERATE),
                  ValidateUpload(), GenerateImage(action=Action.GENERATE))


def regenerate_flow() -> AsyncFlow:
    return _chain(CheckStage(action=Action.REGENERATE),
                  ValidateRequest(text="input_used_by_process", into="input_used_by_process", what="prompt"),
                  CheckRoom(action=Action.REGENERATE), CheckLimits(), CheckBudget(),
                  MakeRoom(action=Action.REGENERATE), GenerateImage(action=Action.REGENERATE))


def refine_flow() -> AsyncFlow:
    return _chain(CheckSeen(), CheckStage(action=Action.REFINE),
                  ValidateRequest(text="feedback", into="feedback", what="feedback"),
                  CheckRoom(action=Action.REFINE), CheckLimits(), CheckBudget(),
                  MakeRoom(action=Action.REFINE), GenerateImage(action=Action.REFINE))


def edit_region_flow() -> AsyncFlow:
    return _chain(CheckSeen(), CheckStage(action=Action.EDIT_REGION),
                  ValidateRequest(text="instruction", into="feedback", what="instruction"),
                  CheckRoom(action=Action.EDIT_REGION), CheckLimits(), CheckBudget(),
                  MakeRoom(action=Action.EDIT_REGION), ValidateMask(), GenerateImage(action=Action.EDIT_REGION))


def remix_flow() -> AsyncFlow:
    """The candidate on screen made again from an edited prompt, which the session then goes on with."""
    return _chain(CheckSeen(), CheckStage(action=Action.REMIX),
                  ValidateRequest(text="remix_input", into="remix_prompt", what="prompt"),
                  CheckRoom(action=Action.REMIX), CheckLimits(), CheckBudget(),
                  MakeRoom(action=Action.REMIX), GenerateImage(action=Action.REMIX))


def select_flow() -> AsyncFlow:
    return _chain(CheckSeen(into="select_index"), CheckStage(action=Action.SELECT), SelectCandidate())


def compare_flow() -> AsyncFlow:
    return _chain(CheckSeen(into="compare_index"), CheckStage(action=Action.COMPARE), CompareCandidate())


def approve_flow() -> AsyncFlow:
    return _chain(CheckSeen(into="approve_index", parts=("picked", "screen")), CheckStage(action=Action.APPROVE),
                  Approve())


def review_approve_flow() -> AsyncFlow:
    """The reviewer approves the candidate they saw (`seen["picked"]`, by key), never another."""
    return _chain(CheckSeen(into="approve_index"), CheckStage(action=Action.REVIEW_APPROVE),
                  Approve(action=Action.REVIEW_APPROVE, by=REVIEWER))


def request_changes_flow() -> AsyncFlow:
    return _chain(CheckSeen(into="changes_index"), CheckStage(action=Action.REQUEST_CHANGES), RequestChanges())


def reopen_flow() -> AsyncFlow:
    return _chain(CheckSeen(), CheckStage(action=Action.REOPEN), Reopen())


def start_over_flow() -> AsyncFlow:
    return _chain(CheckStage(action=Action.START_OVER), StartOver())


def undo_start_over_flow() -> AsyncFlow:
    return _chain(CheckStage(action=Action.UNDO_START_OVER), UndoStartOver())


FLOWS = {
    Action.GENERATE: generate_flow,
    Action.REGENERATE: regenerate_flow,
    Action.REFINE: refine_flow,
    Action.SELECT: select_flow,
    Action.COMPARE: compare_flow,
    Action.APPROVE: approve_flow,
    Action.START_OVER: start_over_flow,
    Action.UNDO_START_OVER: undo_start_over_flow,
    Action.EDIT_REGION: edit_region_flow,
    Action.REMIX: remix_flow,
    Action.REOPEN: reopen_flow,
    Action.REVIEW_APPROVE: review_approve_flow,
    Action.REQUEST_CHANGES: request_changes_flow,
}
