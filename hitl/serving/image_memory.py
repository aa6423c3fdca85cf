"""The server's image memory: every session's images counted against one budget.

Images are the app's memory (a few MB each, sessions are many). When the budget is reached, the
least recently used images that nobody is looking at are released, across all sessions: the bytes
go, the candidate stays (its gallery tile says so and offers Regenerate). What is on screen, what
is approved, and what Undo Start Over would bring back are never released. If those alone fill
the budget, a new generation is refused with a message (`MakeRoom`) rather than risking an
out-of-memory for everyone.

Sessions are copied per event, but every copy of a candidate shares one `Held`, so releasing it
once frees it everywhere; the ledger keeps only weak references, so an image nobody holds any
more (its session closed, expired, or let it go) leaves the ledger by itself. Pins are per session
identity (its `Busy`, shared by all copies) and go when the session does. Everything here runs on
the event loop; only the garbage collector's callbacks may come from other threads, and they just
queue a key.
"""

from __future__ import annotations

import logging
import os
import sys
import weakref
from collections import OrderedDict, deque
from collections.abc import Iterator
from pathlib import Path

from hitl.core.stages import Busy, Candidate, Held, Session, as_data_url

log = logging.getLogger(__name__)

MIB = 1 << 20
SHARE_OF_MEMORY = 4  # the default budget: a quarter of the memory the process may use
EXPECTED = 2 * MIB  # room made for an image before any is held (OpenAI's 1024² PNGs are 1.5–3 MB)
RELEASED = "released to free memory"  # the gallery caption's mark
FULL = ("The server is holding as many images as it can right now: try again in a minute. "
        "Your prompt and the image on screen are kept.")
# What a released image's URL answers (with 410 Gone), so its gallery tile still shows something.
PLACEHOLDER_MIME = "image/svg+xml"
PLACEHOLDER = (b'<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256">'
               b'<rect width="256" height="256" fill="#e5e7eb"/><text x="128" y="122" font-family="sans-serif" '
               b'font-size="18" text-anchor="middle" fill="#4b5563">Released to</text><text x="128" y="146" '
               b'font-family="sans-serif" font-size="18" text-anchor="middle" fill="#4b5563">free memory</text></svg>')
PLACEHOLDER_URL = as_data_url(PLACEHOLDER, PLACEHOLDER_MIME)


FALLBACK_MEMORY = 4 << 30  # only where the machine's RAM cannot be read at all


def physical_memory() -> int | None:
    """The machine's RAM in bytes: sysconf on Linux, macOS and the BSDs; GlobalMemoryStatusEx on
    Windows (which has no sysconf); None if neither answers."""
    if sys.platform == "win32":
        return _windows_memory()
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None


def _windows_memory() -> int | None:
    if sys.platform != "win32":  # where ctypes.windll exists (mypy checks the rest only for Windows)
        return None
    import ctypes

    class MemoryStatus(ctypes.Structure):  # MEMORYSTATUSEX (sysinfoapi.h)
        _fields_ = [("dwLength", ctypes.c_ulong), ("dwMemoryLoad", ctypes.c_ulong),
                    *((name, ctypes.c_ulonglong) for name in (
                        "ullTotalPhys", "ullAvailPhys", "ullTotalPageFile", "ullAvailPageFile",
                        "ullTotalVirtual", "ullAvailVirtual", "ullAvailExtendedVirtual"))]

    status = MemoryStatus(dwLength=ctypes.sizeof(MemoryStatus))
    return status.ullTotalPhys if ctypes.windll.kernel32.GlobalMemoryStatusEx(ctypes.byref(status)) else None


def machine_memory(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """Bytes this process may use: its cgroup's limit (v2 or v1) when lower than the machine's RAM."""
    total = physical_memory()
    if total is None:
        log.warning("the machine's memory is unknown: image memory budgeted as if it had %d GiB",
                    FALLBACK_MEMORY >> 30)
        total = FALLBACK_MEMORY
    for limit in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        try:
            text = limit.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return total


def budget_bytes(image_memory_mb: float) -> int:
    """HITL_IMAGE_MEMORY_MB in bytes, or when 0 a quarter of the memory this process may use."""
    return int(image_memory_mb * MIB) if image_memory_mb > 0 else machine_memory() // SHARE_OF_MEMORY


def _views(session: Session) -> list[Session]:
    """The session, and what Undo Start Over would put back (Start Over's aside holds Session fields)."""
    return [session, Session(**session.undo)] if session.undo else [session]


def kept_images(session: Session) -> Iterator[Candidate]:
    for view in _views(session):
        yield from view.candidates
        if view.final_result is not None:
            yield view.final_result


def pinned(session: Session) -> frozenset[str]:
    """Keys of the images that must stay: on screen (either of two side by side) and approved, now or
    after an Undo Start Over."""
    return frozenset(image.key for view in _views(session)
                     for image in (view.shown_image, view.compared_image, view.final_result) if image is not None)


class ImageMemory:
    """The ledger: bytes held, least recently used order, pins per session, room reserved for
    generations under way."""

    def __init__(self, budget: int):
        self.budget = budget
        self.reserved = 0  # bytes set aside for generations under way: their images and the pictures they send
        self.released = 0  # images released so far
        self.refused = 0  # generations refused for want of room
        self._held = 0
        self._lru: OrderedDict[str, tuple[weakref.ref, int]] = OrderedDict()  # key -> (its Held, bytes)
        self._pins: weakref.WeakKeyDictionary[Busy, frozenset[str]] = weakref.WeakKeyDictionary()
        self._gone: deque[str] = deque()  # keys whose Held was collected, to forget

    @property
    def held(self) -> int:
        """Bytes of the images held now."""
        self._forget_gone()
        return self._held

    def __len__(self) -> int:
        self._forget_gone()
        return len(self._lru)

    def settle(self, session: Session) -> None:
        """After each event: count the session's new images, pin what it shows and approved, mark the
        one on screen as used now, and release others if the new images took it past the budget."""
        self._forget_gone()
        for image in kept_images(session):
            if image.key not in self._lru and not image.released:
                self._hold(image)
        self._pins[session.busy] = pinned(session)
        shown = session.shown_image
        if shown is not None and shown.key in self._lru:
            self._lru.move_to_end(shown.key)
        self._make_room(0, partly=True)

    def pin(self, owner: Busy, key: str) -> None:
        """Pin an image as soon as a session puts it on screen (before the event ends and `settle`)."""
        self._pins[owner] = self._pins.get(owner, frozenset()) | {key}

    def has_room(self, n: int = 1, in_flight: int = 0) -> bool:
        """Whether `admit` would find the room, releasing and reserving nothing: a caller refused later (by
        its limits) must not have released anyone's images."""
        self._forget_gone()
        return self._victims(self._expected(n) + in_flight)[1] or self._refuse()

    def admit(self, n: int = 1, in_flight: int = 0) -> int | None:
        """Room for `n` more images and `in_flight` bytes the calls hold while they run (pictures sent, as
        base64 and in the request body): releases least recently used unpinned images if needed, and
        reserves the room (hand it back with `unreserve` when the calls end). None when even that leaves no
        room: refuse."""
        self._forget_gone()
        room = self._expected(n) + in_flight
        if not self._make_room(room, partly=False):
            self._refuse()
            return None
        self.reserved += room
        return room

    def unreserve(self, size: int) -> None:
        self.reserved -= size

    def _expected(self, n: int) -> int:
        """Room for `n` new images: the average held, or before any is held a typical one."""
        return n * (self._held // len(self._lru) if self._lru else min(EXPECTED, self.budget))

    def _refuse(self) -> bool:
        self.refused += 1
        log.warning("image memory full: %d images, %.1f MiB held, %.1f MiB reserved, budget %.1f MiB",
                    len(self._lru), self._held / MIB, self.reserved / MIB, self.budget / MIB)
        return False

    def _hold(self, image: Candidate) -> None:
        size, key, gone = len(image.image), image.key, self._gone  # the callback holds these, not self
        self._lru[key] = (weakref.ref(image.held, lambda _: gone.append(key)), size)
        self._held += size

    def _make_room(self, room: int, partly: bool) -> bool:
        """Release the least recently used unpinned images until `room` more bytes fit the budget. With
        `partly`, release what can be released even when that is not enough; else release nothing then."""
        victims, enough = self._victims(room)
        if enough or partly:
            for key in victims:
                self._release(key)
        return enough

    def _victims(self, room: int) -> tuple[list[str], bool]:
        """The least recently used unpinned images whose release makes `room` more bytes fit the budget, and
        whether they are enough."""
        over = self._held + self.reserved + room - self.budget
        keep = frozenset().union(*self._pins.values()) if over > 0 else frozenset()
        victims = []
        for key, (_, size) in self._lru.items():
            if over <= 0:
                break
            if key not in keep:
                victims.append(key)
                over -= size
        return victims, over <= 0

    def _release(self, key: str) -> None:
        ref, size = self._lru.pop(key)
        held: Held | None = ref()
        if held is not None:
            held.data = None  # every copy of the candidate sees it released
        self._held -= size
        self.released += 1

    def _forget_gone(self) -> None:
        while self._gone:
            key = self._gone.popleft()
            entry = self._lru.get(key)
            if entry is not None and entry[0]() is None:
                del self._lru[key]
                self._held -= entry[1]
