"""The SDK clients: the server's one kept for good, visitors' own keys' few and closed when idle, and every
request's body let go as soon as it has been sent.

Measured against the launched app (issue 24; 3 visitors × 4 images from a 9 MB picture with a new own key
each, 5 rounds, no forced collection): before, 20 SDK requests holding 247 MiB of bodies were alive between
rounds, 713 MiB traced, 973 MiB RSS. The SDK's streams sat in reference cycles until a full collection, each
holding its request and options (the picture as base64, twice). After (base.OpenAIBackend.events closes the
SDK's own generator, failures drop their frames, bodies are emptied once sent): 0 requests, 218 MiB traced
(the 15 sessions' pictures, counted in the image budget, and Gradio's last 3 events), 479 MiB RSS.
Each client has its own connection pool and TLS context (about 0.5 MB traced); with a new own key per
call, up to 64 were kept for good.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from dataclasses import dataclass

import httpx2
import openai
from openai import AsyncOpenAI

from hitl.serving.config import Settings

OWN_KEYS = 8  # visitors' own-key clients kept at once; the least recently used goes first
IDLE = 300.0  # seconds an own-key client is kept with no call


def release_body(request: httpx2.Request) -> None:
    """Empty a sent request's body, so whatever still refers to the request (a stream waiting for the
    garbage collector, an exception) no longer holds megabytes of base64."""
    if isinstance(request.stream, httpx2.ByteStream):
        request.stream._stream = b""  # emptied in place: the transport's own request holds this stream too
    request._content = b""  # and httpx keeps the body here as well (Request.read)


async def _release_sent_body(response: httpx2.Response) -> None:
    if not response.has_redirect_location:  # a redirect would send the body again
        release_body(response.request)


def release_failure(exc: BaseException | None) -> None:
    """Let a failure and its causes hold no request body and no frames: a failure outlives its attempt (the
    retries, the event's message, a reference cycle), and the frames of the SDK's call it was raised in hold
    the request's arguments, the picture as base64 among them. Failures are logged by type, never with
    their traceback."""
    while exc is not None:
        exc.__traceback__ = None
        if isinstance(exc, openai.APIError | httpx2.RequestError):
            try:
                release_body(exc.request)
            except RuntimeError:  # an httpx error raised before it had a request
                pass
        exc = exc.__cause__ or exc.__context__


def new_client(key: str, settings: Settings) -> AsyncOpenAI:
    return AsyncOpenAI(
        api_key=key,
        base_url=settings.base_url,
        timeout=settings.request_timeout,
        max_retries=0,  # hitl.backends.retry is the only retry layer
        # the SDK's own defaults (limits, redirects), plus the hook that empties each body once sent
        http_client=openai.DefaultAsyncHttpxClient(event_hooks={"response": [_release_sent_body]}),
    )


@dataclass
class Lease:
    """An own-key client and the calls under way on it: it is closed only once none are."""

    client: AsyncOpenAI
    used: float
    calls: int = 0
    dropped: bool = False


class Clients:
    """One client per key: the server's for good; own keys' at most OWN_KEYS, each closed once unused for
    IDLE seconds or pushed out by newer ones (after its last call, never during one). Idle ones are
    looked for whenever a client is asked for or a call ends."""

    def __init__(self, settings: Settings, clock=time.monotonic):
        self.settings = settings
        self.clock = clock
        self.server = new_client(settings.api_key, settings) if settings.api_key else None
        self._own: OrderedDict[str, Lease] = OrderedDict()  # by the key's digest, least recently used first
        self._closing: set[asyncio.Task] = set()

    def __len__(self) -> int:
        return len(self._own)

    def own(self, key: str) -> Lease:
        digest = hashlib.sha256(key.encode()).hexdigest()  # the key itself is not kept as a dict key
        lease = self._own.get(digest)
        if lease is None:
            lease = self._own[digest] = Lease(new_client(key, self.settings), self.clock())
        self._own.move_to_end(digest)
        lease.used = self.clock()
        self.sweep()
        return lease

    def done(self, lease: Lease) -> None:
        lease.calls -= 1
        lease.used = self.clock()
        if lease.dropped and not lease.calls:
            self._close(lease.client)
        self.sweep()

    def sweep(self) -> None:
        now = self.clock()
        for digest, lease in list(self._own.items()):
            if len(self._own) > OWN_KEYS or (now - lease.used > IDLE and not lease.calls):
                del self._own[digest]
                lease.dropped = True
                if not lease.calls:
                    self._close(lease.client)

    def _close(self, client: AsyncOpenAI) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the event loop no connection was ever opened: nothing to close
            return
        task = loop.create_task(client.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
