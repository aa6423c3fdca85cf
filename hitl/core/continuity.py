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
from collections.abc import Callable
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
    address: str = ""  # the client address that last opened it
    tabs: dict[str, None] = field(default_factory=dict)  # the newest tabs (Gradio session hashes) showing it


class SessionVault:
    """Token -> session, for every tab that loaded the page; bounded in count and time, and per client
    address: an address opening more than `per_address` sessions loses its own least recently used
    ones, so a flood of page loads from one address cannot push everyone else's sessions out.
    `on_evict` is told the tabs of a session dropped for room (the web layer releases their Gradio state,
    which would otherwise still fill Gradio's store)."""

    def __init__(self, ttl: float, max_sessions: int = 10_000, per_address: int = 200,
                 on_evict: Callable[[list[str]], None] | None = None):
        self.ttl, self.max_sessions, self.per_address, self.on_evict = ttl, max_sessions, per_address, on_evict
        self._kept: OrderedDict[str, _Kept] = OrderedDict()  # by digest, least recently used first
        self._tabs: dict[str, str] = {}  # tab (session hash) -> digest
        self._addresses: dict[str, OrderedDict[str, None]] = {}  # address -> its digests, least recently used first

    def open(self, token: str | None, tab: str, session: Session, now: float,
             address: str = "") -> tuple[str, Home]:
        """A tab loads the page from `address`: its token's home if it is still kept, else a new token and
        home for `session`."""
        self._expire(now)
        digest = _digest(token) if isinstance(token, str) and token else ""
        kept = self._kept.get(digest)
        if kept is None:
            token = secrets.token_urlsafe(32)
            digest = _digest(token)
            kept = self._kept[digest] = _Kept(Home(session, now))
        self._belong(digest, kept, address)
        kept.tabs[tab] = None
        while len(kept.tabs) > MAX_TABS:  # a tab reloaded again and again: forget the oldest
            oldest = next(iter(kept.tabs))
            del kept.tabs[oldest]
            self._tabs.pop(oldest, None)
        kept.home.touched = now
        self._kept.move_to_end(digest)
        self._tabs[tab] = digest
        while len(self._kept) > self.max_sessions:
            self._evict(next(iter(self._kept)))
        return token, kept.home

    def _belong(self, digest: str, kept: _Kept, address: str) -> None:
        """Counted, as its most recently used, against the address that opens it now."""
        if kept.address != address:
            self._forget_address(digest, kept)
            kept.address = address
        mine = self._addresses.setdefault(address, OrderedDict())
        mine[digest] = None
        mine.move_to_end(digest)
        while len(mine) > self.per_address:
            self._evict(next(iter(mine)))

    def home(self, tab: str) -> Home | None:
        """The home a tab's events act on (None for a tab that never loaded the page: gradio_client)."""
        kept = self._kept.get(self._tabs.get(tab, ""))
        return kept.home if kept is not None else None

    def keep(self, tab: str, session: Session, now: float) -> None:
        """After an event: the tab's session as it now is, kept for its time to live from now."""
        self._expire(now)
        digest = self._tabs.get(tab)
        kept = self._kept.get(digest) if digest else None
        if kept is not None:
            kept.home.set(session, now)
            self._kept.move_to_end(digest)
            self._addresses[kept.address].move_to_end(digest)

    def __len__(self) -> int:
        return len(self._kept)

    def _expire(self, now: float) -> None:
        while self._kept:
            digest, oldest = next(iter(self._kept.items()))
            if now - oldest.home.touched < self.ttl:
                break
            self._drop(digest)

    def _evict(self, digest: str) -> None:
        """Dropped for room while its tabs may still be open: their state goes too."""
        tabs = list(self._drop(digest).tabs)
        if self.on_evict is not None:
            self.on_evict(tabs)

    def _drop(self, digest: str) -> _Kept:
        kept = self._kept.pop(digest)
        self._forget_address(digest, kept)
        for tab in kept.tabs:
            self._tabs.pop(tab, None)
        if kept.home.job is not None:  # the session is gone: nobody can see what it would make
            kept.home.job.cancel()
        return kept

    def _forget_address(self, digest: str, kept: _Kept) -> None:
        mine = self._addresses.get(kept.address)
        if mine is not None:
            mine.pop(digest, None)
            if not mine:
                del self._addresses[kept.address]
