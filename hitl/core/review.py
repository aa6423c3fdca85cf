"""Send for review: a link that lets someone else watch a session's candidates live and approve one or ask
for changes, and nothing else.

The link carries a capability token (`secrets.token_urlsafe(32)`, 256 bits); the server keeps only its
digest, beside the session's `Home`, as the vault keeps its tokens, so not even this process's memory
holds a usable one. One link per session: making a new one revokes the last. A link stops working when
the owner revokes it, when the time the owner picked runs out (bounded), or when the session itself
expires. The token names a home and nothing more: a reviewer reaches no other session, no key, no
generating action; their two actions run through the same flows and guards as the owner's (by the
candidate's key, as they saw it), and the decision log says the reviewer decided. Gradio-free.
"""

from __future__ import annotations

import hmac
import secrets
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from hitl.core.continuity import token_digest
from hitl.core.jobs import Home
from hitl.core.nodes import STALE
from hitl.core.stages import Action, Session, Stage

INVALID = "This review link is not valid."
MINUTES = (15, 60, 240, 1440)  # what the owner may pick: a quarter of an hour to a day
DEFAULT_MINUTES = 60
TOKEN_CHARS = (40, 64)  # token_urlsafe(32) is 43 characters; anything far off is refused before hashing
WAIT = "An image is being made for this session: wait for it, then decide."
MOVED = "The candidates changed while you were looking: this is where they stand now. Look again, then choose."
NOT_NOW = "There is nothing to review right now: the owner is not in review (no candidates, or one is approved)."


@dataclass(frozen=True)
class ReviewLink:
    """A home's live review link: the token's digest and when it stops working (time.monotonic())."""

    digest: str
    expires: float


class ReviewDesk:
    """Review tokens (by digest) -> the homes they open, for every session that sent one out. Holds the
    homes weakly: a session the vault let go is gone for its reviewer too."""

    def __init__(self, ttl: float):
        self.ttl = ttl  # the sessions' time to live: a link never outlives its session
        self._homes: weakref.WeakValueDictionary[str, Home] = weakref.WeakValueDictionary()

    def issue(self, home: Home, minutes, now: float) -> str:
        """A new link for `home`, valid `minutes` (one of MINUTES; anything else: the default); the last
        one stops working. The token is returned once, and kept nowhere."""
        minutes = minutes if minutes in MINUTES else DEFAULT_MINUTES
        self.revoke(home)
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        home.review = ReviewLink(digest, now + minutes * 60)
        self._homes[digest] = home
        home.bump()  # every page of the session shows that a link is out
        return token

    def revoke(self, home: Home) -> bool:
        """The home's link stops working at once (its reviewer's page says so); False if there was none."""
        link = home.review
        if link is None:
            return False
        self._homes.pop(link.digest, None)
        home.review = None
        home.bump()  # the reviewer's watch wakes up to find its link gone
        return True

    def find(self, token, now: float) -> Home | None:
        """The home a token opens, or None: wrong, revoked, expired, or its session gone — all alike."""
        if not isinstance(token, str) or not TOKEN_CHARS[0] <= len(token) <= TOKEN_CHARS[1]:
            return None
        digest = token_digest(token)
        home = self._homes.get(digest)
        return home if home is not None and self.valid(home, digest, now) else None

    def valid(self, home: Home, digest: str, now: float) -> bool:
        """Whether `digest` is still `home`'s link (checked again on every reviewer action and redraw)."""
        link = home.review
        if link is None or not hmac.compare_digest(link.digest, digest):
            return False
        if now >= link.expires or now - home.touched >= self.ttl:
            self.revoke(home)
            return False
        return True


def remaining(home: Home, now: float) -> int:
    """Whole minutes the home's link has left (0: none)."""
    return max(0, int((home.review.expires - now) // 60)) if home.review is not None else 0


@dataclass(eq=False)
class Reviewer:
    """One reviewer's page (or API caller): the home its token opened and the digest it must still match.
    Never a `Session`, so no event of the owner's page can be run on it."""

    home: Home
    digest: str
    desk: ReviewDesk
    picked: str = ""  # the key of the candidate the reviewer looks at ("": the owner's on screen)
    shown: int = -1  # the home's version this reviewer's page last drew (its watch draws what came after)

    @classmethod
    def open(cls, desk: ReviewDesk, token, now: float | None = None) -> Reviewer | None:
        home = desk.find(token, time.monotonic() if now is None else now)
        return None if home is None else cls(home, token_digest(token), desk)

    @property
    def session(self) -> Session | None:
        """The session as the owner has it now, while the link is valid; None once it is not."""
        return self.home.session if self.desk.valid(self.home, self.digest, time.monotonic()) else None


def reviewer_says(message: str) -> str:
    """A refusal in the reviewer's words (the guards speak to the owner)."""
    if message == STALE:
        return MOVED
    return message


async def review(reviewer: Reviewer, act, action: Action, key, comment: str = "") -> str:
    """Run the reviewer's `action` (REVIEW_APPROVE or REQUEST_CHANGES) on candidate `key` as they saw it,
    through `act(action, session, **inputs)` (the runner, bound to the app); returns their message ("" when
    done). The owner's pages see the outcome through the home, as they see another tab's."""
    if action not in (Action.REVIEW_APPROVE, Action.REQUEST_CHANGES):
        raise ValueError(f"not a reviewer's action: {action}")
    session = reviewer.session
    if session is None:
        return INVALID
    if not isinstance(key, str) or not key:
        return "Pick a candidate first."
    if reviewer.home.busy:
        return WAIT
    if session.stage is not Stage.USER_FEEDBACK:
        return NOT_NOW
    items: AsyncIterator = act(action, session, seen={"stage": session.stage.value, "picked": key},
                               comment=comment)
    async for after in items:
        pass
    if after.error_message and replace(after, error_message="") == replace(session, error_message=""):
        return reviewer_says(after.error_message)
    if reviewer.session is None:  # revoked while it ran: nothing lands
        return INVALID
    reviewer.home.set(after, time.monotonic())
    return ""
