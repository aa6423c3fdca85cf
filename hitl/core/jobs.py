"""Work owned by the session, not by the browser connection that asked for it.

A `Home` is where a session lives between events: its latest `Session`, a version number that moves
on every change, and the `Job` under way, if any. A job runs one generating action as a task of its
own, so a reload, a closed tab, a locked phone or a dropped network does not stop it: its progress
and its result land in the home whether or not anyone is watching, and every page of the session
watches the home (`changed`) and draws what it finds. Cancel stops a job from any page; the images
that had finished are kept. Gradio-free, like the runner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hitl.core.progress import Preview, Started
from hitl.core.stages import Action, Session

if TYPE_CHECKING:
    from hitl.core.review import ReviewLink

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Job:
    """One generating action under way: what it has drawn so far, for every page that watches."""

    action: Action
    count: int  # images asked for
    since: float = field(default_factory=time.time)  # wall clock, so a reloaded page's elapsed time is right
    started: bool = False  # every guard passed and the image calls are under way: there is something to cancel
    previews: dict[int, Preview] = field(default_factory=dict)  # the latest per slot (one per image asked for)
    partials: dict[int, int] = field(default_factory=dict)  # partial previews seen per slot
    stop: asyncio.Event = field(default_factory=asyncio.Event)  # Cancel: finished images are kept
    task: asyncio.Task | None = None

    def note(self, item: Started | Preview) -> None:
        if isinstance(item, Started):
            self.started = True
            return
        self.previews[item.slot] = item
        if not item.ready:
            self.partials[item.slot] = self.partials.get(item.slot, 0) + 1

    def cancel(self) -> None:
        """Once the calls are under way they are stopped and what finished is kept; before, nothing
        was asked of OpenAI yet, so the job simply ends."""
        if self.started:
            self.stop.set()
        elif self.task is not None:
            self.task.cancel()


class Home:
    """A session's latest state, the version every page compares with what it shows, and its job."""

    def __init__(self, session: Session, now: float = 0.0):
        self.session, self.touched = session, now
        self.version = 0
        self.job: Job | None = None
        self.review: ReviewLink | None = None  # the session's review link, if one is out (hitl/core/review.py)
        self._changed = asyncio.Event()

    def set(self, session: Session, now: float) -> None:
        """The session after an action: every page of it is told."""
        self.session, self.touched = session, now
        self.bump()

    def bump(self) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def changed(self, since: int) -> None:
        """Returns once the home has moved on from version `since` (at once if it already has)."""
        while self.version == since:
            await self._changed.wait()

    @property
    def busy(self) -> bool:
        return self.job is not None or self.session.busy.action is not None

    def start(self, action: Action, count: int, items: Callable[[asyncio.Event], AsyncIterator],
              session: Session | None = None) -> Job | None:
        """Run `items(stop)` (the runner's stream for `action`) as this session's job, from `session` (the
        home's own by default, or one with this click's draft in it); None while another action runs."""
        if self.busy:
            return None
        if session is not None:
            self.set(session, self.touched)
        job = self.job = Job(action, count)
        job.task = asyncio.ensure_future(self._run(job, items(job.stop)))
        self.bump()
        return job

    async def _run(self, job: Job, items: AsyncIterator) -> None:
        try:
            async for item in items:
                if isinstance(item, Session):
                    self.session, self.touched = item, time.monotonic()
                else:
                    job.note(item)
                self.bump()
        except Exception:  # the runner turns a crashed flow into a message; anything else must not linger
            log.exception("job %s crashed", job.action.value)
            self.session = replace(self.session, error_message="Something unexpected went wrong. Your work is "
                                                                "kept; try again.")
        finally:
            self.job = None
            self.bump()
