"""The one retry layer: `backoff` with full jitter, honouring Retry-After.

The SDK's own retries are switched off (`max_retries=0`) wherever a client is built, so
attempts never multiply. Only failures that can succeed later are retried.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import backoff

from hitl.backends.errors import is_retryable, retry_after
from hitl.serving.config import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

_BASE_DELAY = 0.5
_MAX_DELAY = 8.0


def _wait_gen():
    """Yield waits; `backoff` sends in each failure, so Retry-After can steer the next wait."""
    attempt = 0
    exc = yield  # primed by backoff with None
    while True:
        asked = retry_after(exc) if exc is not None else None
        if asked is not None:
            delay = random.uniform(asked, _longest_wait(asked))  # never earlier than asked
        else:
            delay = random.uniform(0, min(_MAX_DELAY, _BASE_DELAY * 2**attempt))
        attempt += 1
        exc = yield delay


def _log_backoff(details) -> None:
    exc = details.get("exception")
    log.warning("upstream attempt %d failed (%s); retrying in %.1fs",
                details["tries"], type(exc).__name__, details["wait"])


def _longest_wait(asked: float) -> float:
    """The most `_wait_gen` can wait when the server asked for `asked` seconds."""
    return asked + 0.1 * asked + 0.05


def _give_up(settings: Settings, started: float):
    def give_up(exc: BaseException) -> bool:
        if not is_retryable(exc):
            return True
        asked = retry_after(exc)
        if asked is None:
            return False
        # Waiting as asked would not leave time for another attempt: stop now with the
        # rate-limit message. Otherwise backoff would cut the wait to the time left (an
        # attempt earlier than Retry-After) and asyncio.timeout would end it anyway.
        remaining = settings.total_timeout - (time.monotonic() - started)
        return asked > settings.total_timeout / 2 or _longest_wait(asked) >= remaining
    return give_up


async def with_retries(call: Callable[[], Awaitable[T]], settings: Settings) -> T:
    """Run `call` until it succeeds, fails for good, or the attempt/time budget is spent."""

    async def attempt() -> T:  # a coroutine function, so backoff picks its async retry loop
        return await call()

    retrying = backoff.on_exception(
        _wait_gen,
        Exception,
        max_tries=settings.max_attempts,
        max_time=settings.total_timeout,
        jitter=None,  # jitter is applied in _wait_gen so Retry-After is never shortened
        giveup=_give_up(settings, time.monotonic()),
        on_backoff=_log_backoff,
        logger=None,
    )(attempt)
    # backoff's max_time only stops new attempts; asyncio.timeout also bounds a slow one.
    async with asyncio.timeout(settings.total_timeout):
        return await retrying()
