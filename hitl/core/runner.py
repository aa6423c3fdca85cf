"""Runs one user action: session -> shared store -> PocketFlow flow -> session.

Gradio-free. `Started` is yielded when the image calls begin, a `Preview` for each partial image
as it arrives (and for each finished image, `ready`); the last item is the new session.
If the event is cancelled, nothing is written back, so the session stays as it was.
A session runs one action at a time: another one (a second Generate, Approve during a
Regenerate) is refused with a message while the first runs; Cancel ends the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from hitl.backends import ImageService
from hitl.core.continuity import SessionVault
from hitl.core.flows import FLOWS
from hitl.core.progress import Preview, Started
from hitl.core.review import ReviewDesk
from hitl.core.stages import Action, Session, from_shared, to_shared
from hitl.core.validation import InputError, check_key
from hitl.serving.config import Settings
from hitl.serving.image_memory import ImageMemory, budget_bytes
from hitl.serving.shared_counters import SharedCounters, counters_for

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What all sessions of one app share: settings, SDK clients, the counters all app processes share
    (per-address limits, the server key's daily spend), the image memory budget."""

    settings: Settings
    service: ImageService
    counters: SharedCounters
    vault: SessionVault  # the page's sessions by the token in the visitor's browser (reloads)
    images: ImageMemory  # every session's images against one memory budget
    calls: asyncio.Semaphore  # image calls under way, all sessions together (several per click count each)
    desk: ReviewDesk  # the review links sessions sent out (by their tokens' digests)

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        images = ImageMemory(budget_bytes(settings.image_memory_mb))
        log.info("image memory budget: %.0f MiB", images.budget / (1 << 20))
        vault = SessionVault(settings.session_ttl, settings.max_sessions, settings.sessions_per_address)
        return cls(settings, ImageService(settings), counters_for(settings), vault, images,
                   asyncio.Semaphore(settings.max_concurrent), ReviewDesk(settings.session_ttl))


BUSY = "An image is being made: wait for it, or click Cancel."


async def run_action(
    action: Action, session: Session, runtime: Runtime, *, client_ip: str = "local",
    api_key: str | None = None, **inputs,
) -> AsyncIterator[Started | Preview | Session]:
    # No await between the check and the claim, so no other event of this session can slip in.
    if not session.busy.claim(action, time.monotonic(), stale_after=runtime.settings.total_timeout + 60):
        yield replace(session, error_message=BUSY)
        return
    try:
        async for item in _run(action, session, runtime, client_ip, api_key, inputs):
            if isinstance(item, Session):  # the event's outcome: its images counted, what it shows pinned
                runtime.images.settle(item)
            yield item
    finally:
        session.busy.release()


async def _run(action: Action, session: Session, runtime: Runtime, client_ip: str, api_key: str | None,
               inputs: dict) -> AsyncIterator[Started | Preview | Session]:
    try:  # before any SDK client is made for it: a key that can never work gets no call and no retry
        backend = runtime.service.backend_for(check_key(api_key))
    except InputError as problem:
        yield replace(session, error_message=str(problem))
        return
    news: asyncio.Queue[Started | Preview | None] = asyncio.Queue()  # None: the flow has ended
    # now: this process's clock, for the session's own window; wall_now: the same in every process.
    shared = to_shared(
        session, **inputs, settings=runtime.settings, counters=runtime.counters, client_ip=client_ip,
        now=time.monotonic(), wall_now=time.time(), today=datetime.now(timezone.utc).date(),
        backend=backend, own_key=bool(api_key),
        on_start=lambda: news.put_nowait(Started()),
        on_partial=lambda slot, candidate, ready=False: news.put_nowait(Preview(slot, candidate, ready)),
        images=runtime.images, owner=session.busy, calls=runtime.calls,
    )
    flow = asyncio.ensure_future(FLOWS[action]().run_async(shared))
    flow.add_done_callback(lambda _: news.put_nowait(None))
    try:
        while (item := await news.get()) is not None:
            yield item
        flow.result()
    except Exception:
        log.exception("flow %s crashed", action.value)
        yield replace(session, error_message="Something unexpected went wrong. Your work is kept; try again.")
        return
    finally:
        flow.cancel()
        # MakeRoom's room, the pictures in flight included: the calls are over; their images are counted next
        runtime.images.unreserve(shared.get("reserved", 0))
    yield from_shared(shared, session.busy)
