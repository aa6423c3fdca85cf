"""The stage machine: stages, legal transitions and per-user session state.

Pure Python on purpose (no Gradio import) so it is testable on its own. A `Session`
lives in the user's `gr.State`; each event turns it into PocketFlow's plain `shared`
dict with `to_shared`, runs a flow, and reads it back with `from_shared`.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from enum import Enum


class Stage(str, Enum):
    INITIAL_INPUT = "initial_input"
    USER_FEEDBACK = "user_feedback"
    FINAL = "final"


class Action(str, Enum):
    GENERATE = "generate"
    REGENERATE = "regenerate"
    REFINE = "refine"
    SELECT = "select"
    COMPARE = "compare"
    APPROVE = "approve"
    START_OVER = "start_over"
    UNDO_START_OVER = "undo_start_over"
    EDIT_REGION = "edit_region"  # repaint the painted area of the candidate on screen
    REMIX = "remix"  # new candidates from an edited prompt, made from the candidate on screen
    REOPEN = "reopen"  # withdraw the approval and go back to review, every candidate still there
    REVIEW_APPROVE = "review_approve"  # the reviewer (a review link) approves a candidate they saw
    REQUEST_CHANGES = "request_changes"  # the reviewer asks for changes to a candidate, with a comment


# The actions that make images: each runs as its session's job (the page's events and the API alike).
GENERATING = frozenset({Action.GENERATE, Action.REGENERATE, Action.REFINE, Action.EDIT_REGION, Action.REMIX})

# Undo Start Over goes back to whichever stage Start Over left (review or final).
RESTORED = "restored"

# (stage, action) -> stage after the action succeeds. Anything else is refused.
TRANSITIONS: dict[tuple[Stage, Action], Stage | str] = {
    (Stage.INITIAL_INPUT, Action.GENERATE): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.REGENERATE): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.REFINE): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.SELECT): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.EDIT_REGION): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.REMIX): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.COMPARE): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.APPROVE): Stage.FINAL,
    (Stage.USER_FEEDBACK, Action.REVIEW_APPROVE): Stage.FINAL,
    (Stage.USER_FEEDBACK, Action.REQUEST_CHANGES): Stage.USER_FEEDBACK,
    (Stage.USER_FEEDBACK, Action.START_OVER): Stage.INITIAL_INPUT,
    (Stage.FINAL, Action.START_OVER): Stage.INITIAL_INPUT,
    (Stage.FINAL, Action.REOPEN): Stage.USER_FEEDBACK,
    (Stage.INITIAL_INPUT, Action.START_OVER): Stage.INITIAL_INPUT,
    (Stage.INITIAL_INPUT, Action.UNDO_START_OVER): RESTORED,
}

_REFUSALS = {
    Stage.INITIAL_INPUT: "There is no image to review yet: enter a prompt and click Generate Image.",
    Stage.USER_FEEDBACK: "An image is waiting for review: Approve it, Regenerate, or Start Over.",
    Stage.FINAL: "This image is already approved: click Start Over to make a new one.",
}


class Message(str):
    """A message for the user that names what it is about, so the page shows it beside its cause and takes
    it away once the user fixes that: "prompt", "feedback", "instruction" (the text typed there), "picture"
    (the starting picture). A plain str is about the action as a whole."""

    about: str

    def __new__(cls, text: str, about: str = "") -> Message:
        message = super().__new__(cls, text)
        message.about = about
        return message


class StageError(ValueError):
    """An action that the current stage does not allow; its text is for the user."""


def allowed(stage: Stage, action: Action) -> bool:
    return (stage, action) in TRANSITIONS


def next_stage(stage: Stage, action: Action) -> Stage | str:
    try:
        return TRANSITIONS[(stage, action)]
    except KeyError:
        raise StageError(_REFUSALS[stage]) from None


class Held:
    """An image's bytes, in one holder shared by every copy of its `Candidate` (the session's copies
    per event, `replace`d ones, the reload vault's): releasing it once frees the bytes everywhere.
    A copy, deep or not, is the holder itself, so the image is never held twice."""

    __slots__ = ("data", "__weakref__")

    def __init__(self, data: bytes):
        self.data: bytes | None = data

    def __copy__(self) -> Held:
        return self

    def __deepcopy__(self, memo) -> Held:
        return self


def as_data_url(data: bytes, mime: str) -> str:
    """Bytes as a `data:` URL: a new 4/3-size string per call, only for consumers that need text."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class Candidate:
    """One generated image, kept in memory only, as its raw bytes.

    Bytes, not base64 text: one copy per image, 3/4 of the memory a `data:` URL takes. The
    base64 OpenAI sends is decoded once, where the image arrives (`from_b64`); it is encoded
    again only where a consumer needs text: API answers (`components`), the page's inline
    previews, and Refine's `input_image`. The page's final images are links that `image_route`
    answers with these very bytes. Made with the bytes in a `Held` (`Candidate(Held(data), ...)`;
    plain bytes are wrapped in one too), which the server's image budget (`image_memory`) may
    release: then `released` is true, `image` is empty, and the candidate keeps everything else
    (its thumbnail included).
    """

    held: Held = field(repr=False)  # or given as bytes (see __post_init__); equal only to itself
    mime: str = "image/png"
    prompt: str = ""
    revised_prompt: str = ""
    response_id: str | None = None  # lets Refine continue the Responses conversation
    thumb: bytes = field(default=b"", repr=False)  # small WebP for API answers (the page links the full image)
    key: str = field(default_factory=lambda: secrets.token_urlsafe(12))  # names it in URLs (image_route)
    cost: float | None = None  # USD, from the usage OpenAI reported (None: no usage or no price)
    estimated: bool = False  # the cost is an estimate (demo mode: what it would have cost)
    # Its place in the version tree: which action made it, from which candidate, with what.
    made_by: str = "generate"  # generate, regenerate, refine, edit_region, remix or upload
    parent: str | None = None  # the key of the candidate on screen when it was asked for
    instruction: str = ""  # Refine's feedback, Edit region's words, Remix's edited prompt
    options: dict = field(default_factory=dict)  # size, quality, background, output format

    def __post_init__(self):
        if not isinstance(self.held, Held):  # new bytes; `replace` passes the holder on, so copies share it
            object.__setattr__(self, "held", Held(self.held))

    @property
    def image(self) -> bytes:
        """The image's bytes; empty once released (check `released`)."""
        return self.held.data or b""

    @property
    def released(self) -> bool:
        """The server let go of the bytes to stay within its image memory budget."""
        return self.held.data is None

    @classmethod
    def from_b64(cls, b64: str, mime: str = "image/png", prompt: str = "", revised_prompt: str = "",
                 response_id: str | None = None, cost: float | None = None, estimated: bool = False) -> Candidate:
        """A candidate from the base64 an API sent, decoded here, once."""
        return cls(Held(base64.b64decode(b64)), mime, prompt, revised_prompt, response_id,
                   cost=cost, estimated=estimated)

    @property
    def data_url(self) -> str:
        """The image as a `data:` URL, encoded on every call (a new 4/3-size string): only for
        consumers that need text (API answers, inline previews, Refine's `input_image`)."""
        return as_data_url(self.image, self.mime)

    @property
    def thumb_url(self) -> str:
        """The thumbnail as a `data:` URL, or the full image's when there is none (encoded per call)."""
        if not self.thumb:
            return self.data_url
        return as_data_url(self.thumb, "image/webp")


@dataclass(eq=False)
class Busy:
    """The action a session is running, if any. One object per session, shared by every copy of its
    `Session` (each event works on its own copy), so an action claimed by one event is seen by all."""

    action: Action | None = None
    since: float = 0.0  # time.monotonic() of the claim

    def claim(self, action: Action, now: float, stale_after: float) -> bool:
        """Take the session for `action`; False while another action runs. A claim older than any
        action can last (a bug, a lost task) is taken over rather than locking the user out."""
        if self.action is not None and now - self.since < stale_after:
            return False
        self.action, self.since = action, now
        return True

    def release(self) -> None:
        self.action = None


@dataclass
class Session:
    """Everything one browser tab (or gradio_client) owns. Never shared between users.

    Its fields are the PocketFlow shared store's session keys, named as in the seed design, so
    nodes, page, image route and tests speak of the same things by the same names.
    """

    stage: Stage = Stage.INITIAL_INPUT
    input_used_by_process: str = ""  # the prompt the candidates were made from
    candidates: list[Candidate] = field(default_factory=list)  # for this prompt, newest last (capped)
    selected: int = -1  # index into candidates of the one under review
    compared: int = -1  # index of the candidate shown beside it (side by side), -1: none
    made: int = 0  # images made for this prompt (candidates keeps only the newest few)
    final_result: Candidate | None = None  # the approved image
    approved_at: str = ""  # when it was approved (ISO 8601, UTC), for the decision log
    decisions: list[dict] = field(default_factory=list)  # approvals, withdrawals, requests: oldest first (the log)
    # The reviewer's requests for changes, newest last: {"key", "number", "comment", "at"} (a review link's)
    requests: list[dict] = field(default_factory=list)
    prompt_draft: str = ""  # what the prompt box holds: the last prompt asked for, kept through failures
    error_message: str = ""  # the one message of the last event ("" when all went well)
    undo: dict | None = None  # what Start Over put aside (Undo Start Over brings it back), until a new Generate
    generations: list[float] = field(default_factory=list)  # times, for the session limit
    spent_usd: float = 0.0  # what this session's images cost (estimates in demo mode)
    busy: Busy = field(default_factory=Busy, compare=False, repr=False)  # one action at a time

    @property
    def generated_image(self) -> Candidate | None:
        """The candidate under review (the seed's `generated_image`)."""
        return self.candidates[self.selected] if 0 <= self.selected < len(self.candidates) else None

    @property
    def compared_image(self) -> Candidate | None:
        """The candidate side by side with the one under review, if the user is comparing two."""
        if self.stage is not Stage.USER_FEEDBACK or self.compared == self.selected:
            return None
        return self.candidates[self.compared] if 0 <= self.compared < len(self.candidates) else None

    @property
    def shown_image(self) -> Candidate | None:
        """The image the user is looking at: the approved one in the final stage, else the one under review."""
        if self.stage is Stage.FINAL and self.final_result:
            return self.final_result
        return self.generated_image

    @property
    def approved_by_reviewer(self) -> bool:
        """The approval standing now is the reviewer's (the last decision, as a withdrawal would follow it)."""
        last = self.decisions[-1] if self.decisions else {}
        return self.stage is Stage.FINAL and last.get("decision") == "approved" and last.get("by") == REVIEWER


OWNER, REVIEWER = "you", "reviewer"  # who decided, in the decision log ("you": the session's owner)


# The session's part of the shared store: every field but `busy`, which is the runner's business.
_STORED = tuple(name for name in Session.__dataclass_fields__ if name != "busy")


def to_shared(session: Session, **inputs) -> dict:
    """Build the PocketFlow shared store from a session plus this event's inputs and runtime values
    (`task_input`, `feedback`, `options`, `settings`, `backend`, ...)."""
    shared = {key: getattr(session, key) for key in _STORED}
    shared["candidates"] = list(session.candidates)
    shared["generations"] = list(session.generations)
    shared["decisions"] = list(session.decisions)
    shared["requests"] = list(session.requests)
    shared.update(inputs)
    return shared


def from_shared(shared: dict, busy: Busy | None = None) -> Session:
    """Read the session back after a flow; per-event keys are left behind. `busy`: the session's own."""
    return Session(**{key: shared[key] for key in _STORED}, busy=busy or Busy())


def add_candidate(shared: dict, candidate: Candidate, keep: int) -> None:
    """Append a candidate, keep only the newest `keep`, and select it (a comparison ends: indexes moved)."""
    shared["candidates"] = (shared["candidates"] + [candidate])[-keep:]
    shared["selected"] = len(shared["candidates"]) - 1
    shared["compared"] = -1
