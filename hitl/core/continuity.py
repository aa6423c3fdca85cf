"""A session that survives a reload or a lost connection.

The browser keeps only an unguessable token (in its localStorage); the session itself stays in this
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


def token_digest(token: str) -> str:
    """Tokens are kept hashed, so not even this process's memory holds a usable one."""
    return hashlib.sha256(token.encode()).hexdigest()


class ByAddress:
    """Items (sessions, tabs) by the client address that last used them, least recently used first, per
    address and overall: `use` says what to let go, the address's own oldest past `per_address` (so one
    address flooding in new ones pushes out its own, never other people's), then everyone's past `most`."""

    def __init__(self, per_address: int, most: int):
        self.per_address, self.most = per_address, most
        self._address: OrderedDict[str, str] = OrderedDict()  # item -> its address, least recently used first
        self._items: dict[str, OrderedDict[str, None]] = {}  # address -> its items, least recently used first

    def use(self, item: str, address: str) -> list[str]:
        """`item` used now from `address`; returns the items to let go (never `item` itself)."""
        if self._address.get(item, address) != address:
            self.forget(item)
        self._address[item] = address
        self._address.move_to_end(item)
        mine = self._items.setdefault(address, OrderedDict())
        mine[item] = None
        mine.move_to_end(item)
        gone = []
        while len(mine) > self.per_address:
            gone.append(next(iter(mine)))
            self.forget(gone[-1])
        while len(self._address) > self.most:
            gone.append(next(iter(self._address)))
            self.forget(gone[-1])
        return gone

    def touch(self, item: str) -> None:
        """`item` used again from where it was last used."""
        address = self._address.get(item)
        if address is not None:
            self._address.move_to_end(item)
            self._items[address].move_to_end(item)

    def oldest(self) -> str | None:
        return next(iter(self._address), None)

    def forget(self, item: str) -> None:
        address = self._address.pop(item, None)
        if address is not None:
            mine = self._items[address]
            del mine[item]
            if not mine:
                del self._items[address]

    def __len__(self) -> int:
        return len(self._address)


@dataclass
class _Kept:
    home: Home
    tabs: dict[str, None] = field(default_factory=dict)  # the newest tabs (Gradio session hashes) showing it
    untold: bool = False  # made for a tab's events before its page load: its token was never handed out


class SessionVault:
    """Token -> session, for every tab that loaded the page; bounded in count and time, and per client
    address: an address opening more than `per_address` sessions loses its own least recently used
    ones, so a flood of page loads from one address cannot push everyone else's sessions out.
    `on_evict` is told the tabs of a session dropped for room (the web layer releases their Gradio state,
    which would otherwise still fill Gradio's store)."""

    def __init__(self, ttl: float, max_sessions: int = 10_000, per_address: int = 200,
                 on_evict: Callable[[list[str]], None] | None = None):
        self.ttl, self.on_evict = ttl, on_evict
        self._kept: dict[str, _Kept] = {}  # by digest
        self._used = ByAddress(per_address, max_sessions)  # digests, least recently used first
        self._tabs: dict[str, str] = {}  # tab (session hash) -> digest

    def open(self, token: str | None, tab: str, session: Session, now: float,
             address: str = "") -> tuple[str, Home]:
        """A tab loads the page from `address`: its token's home if it is still kept, else a new token and
        home for `session`."""
        self._expire(now)
        digest = token_digest(token) if isinstance(token, str) and token else ""
        kept = self._kept.get(digest)
        if kept is None or not isinstance(token, str):  # a kept home is only ever found by its token
            token, digest, kept = self._new(tab, session, now)
        kept.tabs[tab] = None
        while len(kept.tabs) > MAX_TABS:  # a tab reloaded again and again: forget the oldest
            oldest = next(iter(kept.tabs))
            del kept.tabs[oldest]
            self._tabs.pop(oldest, None)
        kept.home.touched = now
        self._tabs[tab] = digest
        for gone in self._used.use(digest, address):  # counted against the address that opens it now
            self._evict(gone)
        return token, kept.home

    def _new(self, tab: str, session: Session, now: float) -> tuple[str, str, _Kept]:
        """A new token: for the home this tab's first click made before its page load arrived (a quick
        Enter on a slow connection), whose token was never handed out, so its work stays the tab's own;
        else for a new home of `session`."""
        token = secrets.token_urlsafe(32)
        digest = token_digest(token)
        early = self._tabs.get(tab, "")
        kept = self._kept.get(early)
        if kept is not None and kept.untold:
            del self._kept[early]
            self._used.forget(early)
            kept.untold = False
        else:
            kept = _Kept(Home(session, now))
        self._kept[digest] = kept
        return token, digest, kept

    def untold(self, tab: str, session: Session, now: float, address: str = "", token: str = "") -> Home:
        """A home for a tab whose events come before its page load (a click faster than the page's load
        event) or without one (gradio_client): the home the browser's token names, if kept, which its page
        load will open too; else one whose token is not handed out, which the tab's page load, if it
        comes, adopts (`open`)."""
        if isinstance(token, str) and token and token_digest(token) in self._kept:
            return self.open(token, tab, session, now, address)[1]
        _, home = self.open(None, tab, session, now, address)
        self._kept[self._tabs[tab]].untold = True
        return home

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
            self._used.touch(digest)

    def __len__(self) -> int:
        return len(self._kept)

    def _expire(self, now: float) -> None:
        while (digest := self._used.oldest()) is not None and now - self._kept[digest].home.touched >= self.ttl:
            self._drop(digest)

    def _evict(self, digest: str) -> None:
        """Dropped for room while its tabs may still be open: their state goes too."""
        tabs = list(self._drop(digest).tabs)
        if self.on_evict is not None:
            self.on_evict(tabs)

    def _drop(self, digest: str) -> _Kept:
        kept = self._kept.pop(digest)
        self._used.forget(digest)
        for tab in kept.tabs:
            self._tabs.pop(tab, None)
        if kept.home.job is not None:  # the session is gone: nobody can see what it would make
            kept.home.job.cancel()
        kept.home.review = None  # and its review link stops working
        kept.home.bump()
        return kept
