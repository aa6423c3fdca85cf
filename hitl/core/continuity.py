"""A session that survives a reload or a lost connection.

The browser keeps only an unguessable token (`gr.BrowserState`); the session itself stays in this
server's memory, never on disk, for its time to live after it was last used. A reloaded tab that
presents the token gets the same session back; a wrong or expired token gets a fresh one, never
someone else's. Tabs presenting the same token share one `Home` (`hitl/core/jobs.py`): the session, the
job under way and a version every tab watches, so each tab shows the latest state any of them left,
a job runs on whether or not a tab is open, and the one-action-at-a-time claim covers them all.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

from hitl.core.jobs import Home
from hitl.core.stages import Session

MAX_TABS = 8


def _digest(token: str) -> str:
    """Tokens are kept hashed, so not even this process's memory holds a usable one."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class _Kept:
    home: Home
    tabs: dict[str, None] = field(default_factory=dict)  # the newest tabs (Gradio session hashes) showing it


class SessionVault:
    """Token -> session, for every tab that loaded the page; bounded in count and time."""

    def __init__(self, ttl: float, max_sessions: int = 10_000):
        self.ttl, self.max_sessions = ttl, max_sessions
        self._kept: OrderedDict[str, _Kept] = OrderedDict()  # by digest, least recently used first
        self._tabs: dict[str, str] = {}  # tab (session hash) -> digest

    def open(self, token: str | None, tab: str, session: Session, now: float) -> tuple[str, Home]:
        """A tab loads the page: its token's home if it is still kept, else a new token and home for `session`."""
        self._expire(now)
        digest = _digest(token) if isinstance(token, str) and token else ""
        kept = self._kept.get(digest)
        if kept is None or not isinstance(token, str):  # a kept home is only ever found by its token
            token = secrets.token_urlsafe(32)
            digest = _digest(token)
            kept = self._kept[digest] = _Kept(Home(session, now))
        kept.tabs[tab] = None
        while len(kept.tabs) > MAX_TABS:  # a tab reloaded again and again: forget the oldest
            oldest = next(iter(kept.tabs))
            del kept.tabs[oldest]
            self._tabs.pop(oldest, None)
        kept.home.touched = now
        self._kept.move_to_end(digest)
        self._tabs[tab] = digest
        while len(self._kept) > self.max_sessions:
            self._drop(next(iter(self._kept)))
        return token, kept.home

    def home(self, tab: str) -> Home | None:
        """The home a tab's events act on (None for a tab that never loaded the page: gradio_client)."""
        kept = self._kept.get(self._tabs.get(tab, ""))
        return kept.home if kept is not None else None

    def keep(self, tab: str, session: Session, now: float) -> None:
        """After an event: the tab's session as it now is, kept for its time to live from now."""
        self._expire(now)
        digest = self._tabs.get(tab, "")
        kept = self._kept.get(digest) if digest else None
        if kept is not None:
            kept.home.set(session, now)
            self._kept.move_to_end(digest)

    def __len__(self) -> int:
        return len(self._kept)

    def _expire(self, now: float) -> None:
        while self._kept:
            digest, oldest = next(iter(self._kept.items()))
            if now - oldest.home.touched < self.ttl:
                break
            self._drop(digest)

    def _drop(self, digest: str) -> None:
        kept = self._kept.pop(digest)
        for tab in kept.tabs:
            self._tabs.pop(tab, None)
        if kept.home.job is not None:  # the session is gone: nobody can see what it would make
            kept.home.job.cancel()
