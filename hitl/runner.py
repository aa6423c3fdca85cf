"""Runs one user action: session -> shared store -> PocketFlow flow -> session.

Gradio-free. `Started` is yielded when the image call begins, partial images as they arrive;
the last item is the new session.
If the event is cancelled, nothing is written back, so the session stays as it was.
A session runs one action at a time: another one (a second Generate, Approve during a
Regenerate) is refused with a message while the first runs; Cancel ends the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime, timezone
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace

from .backends import ImageService
from .config import Settings
from .flows import FLOWS
from .budget import DailySpend
from .continuity import SessionVault
from .image_memory import ImageMemory, budget_bytes
from .limits import ClientLimiter
from .stages import Action, Candidate, Session, from_shared, to_shared

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Started:
    """The image call has begun (every guard passed): from now on there is something to cancel."""


@dataclass
class Runtime:
    """What all sessions of one app share: settings, SDK clients, per-address limits, the image budget."""

    settings: Settings
    service: ImageService
    limiter: ClientLimiter
    daily_spend: DailySpend
    vault: SessionVault  # the page's sessions by the token in the visitor's browser (reloads)
    images: ImageMemory  # every session's images against one memory budget

    @classmethod
    def create(cls, settings: Settings) -> Runtime:
        images = ImageMemory(budget_bytes(settings.image_memory_mb))
        log.info("image memory budget: %.0f MiB", images.budget / (1 << 20))
        return cls(settings, ImageService(settings), ClientLimiter(settings.ip_limit, settings.limit_window),
                   DailySpend(settings.daily_budget_usd), SessionVault(settings.session_ttl), images)


BUSY = "An image is being made: wait for it, or click Cancel."


async def run_action(
    action: Action, session: Session, runtime: Runtime, *, client_ip: str = "local",
    api_key: str | None = None, **inputs,
) -> AsyncIterator[Started | Candidate | Session]:
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
               inputs: dict) -> AsyncIterator[Started | Candidate | Session]:
    news: asyncio.Queue[Started | Candidate | None] = asyncio.Queue()  # None: the flow has ended
    shared = to_shared(
        session, **inputs, settings=runtime.settings, limiter=runtime.limiter, client_ip=client_ip,
        now=time.monotonic(), today=datetime.now(timezone.utc).date(), daily_spend=runtime.daily_spend,
        backend=runtime.service.backend_for(api_key), own_key=bool(api_key),
        on_start=lambda: news.put_nowait(Started()), on_partial=news.put_nowait,
        images=runtime.images, owner=session.busy,
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
        runtime.images.unreserve(shared.get("reserved", 0))  # MakeRoom's; the new image itself is counted next
    yield from_shared(shared, session.busy)
