"""What the server does before any of the app's code runs: it refuses Gradio's routes that store or
serve files (this app makes none: every picture travels as a `data:` URL and is served from memory),
request bodies larger than the largest the app accepts, before they are read whole, and an address's
calls past a rate no person reaches, before Gradio parses them; and it compresses the pages' HTML,
which Gradio sends as it is.

Routes given to FastAPI's constructor (`launch_options`' `app_kwargs`) are matched before the ones
Gradio adds afterwards, so the paths below answer 404 in place of Gradio's handlers.
"""

from __future__ import annotations

import math
import time

from fastapi import HTTPException, Response
from fastapi.routing import APIRoute
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitl.core.uploads import MAX_UPLOAD_URL
from hitl.serving.limits import Buckets, forwarded_client

# Gradio 6.31's routes (gradio/routes.py) that write a request's files to disk or serve files from
# its temp folder (or a Space's, by proxy), none of which this app uses:
CLOSED = (
    ("/gradio_api/upload", ["POST"]),  # stores any file under GRADIO_TEMP_DIR, no event needed
    ("/gradio_api/process_recording", ["POST"]),  # writes a posted video to a temp file
    ("/gradio_api/file={path:path}", ["GET", "HEAD"]),  # serves what the upload route stored
    ("/gradio_api/file/{path:path}", ["GET", "HEAD"]),  # the same, by its older name
    ("/gradio_api/proxy={path:path}", ["GET", "HEAD"]),  # relays files of other Spaces
    ("/gradio_api/stream/{path:path}", ["GET", "POST"]),  # streamed inputs and their files (none here)
    # A session's component values (images among them) written to a file for a deep link; this app
    # keeps no such values (`gradio_internals.LeanSessionState`) and offers no deep links.
    ("/gradio_api/deep_link", ["GET"]),
)

# The largest body a legitimate request sends: Generate with a 10 MB picture as a data: URL, plus
# the prompt, the recent prompts and the options (JSON, a few hundred KB at most).
MAX_BODY = MAX_UPLOAD_URL + (2 << 20)
TOO_LARGE = b"The request is larger than this app accepts (a picture may be at most 10 MB)."
TOO_MANY = b"Too many requests from your address at once. Wait a few seconds and try again."
CALLS = "/gradio_api/"  # every event a page or a script asks for is a POST under it (join, run, call, cancel)


async def _refuse() -> Response:
    return Response(status_code=404)


def closed_routes() -> list[APIRoute]:
    return [APIRoute(path, _refuse, methods=methods, include_in_schema=False) for path, methods in CLOSED]


class BodyLimit:
    """ASGI middleware: a body over `max_bytes` gets 413 before the app reads it. A declared
    Content-Length is checked before a byte is received (the server never delivers more than it
    declares); a chunked body is counted as it arrives and refused as soon as it passes the limit."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            return await _too_large(send)
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, self._counted(receive), sending)
        except HTTPException as refusal:  # raised by our receive where no handler turned it into a response
            if refusal.status_code != 413 or started:
                raise
            await _too_large(send)

    def _counted(self, receive: Receive) -> Receive:
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise HTTPException(413, TOO_LARGE.decode())  # FastAPI answers it with this status
            return message

        return counted


async def _too_large(send: Send) -> None:
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": TOO_LARGE})


class CompressedPages:
    """ASGI middleware: the pages' HTML gzipped. Gradio compresses only paths with a file extension
    (`gradio/brotli_middleware.py`), so a page, whose HTML carries the whole app's config (about
    200 KB here, a third of a first visit), went uncompressed: on a slow connection, seconds of a
    blank page."""

    def __init__(self, app: ASGIApp, pages: tuple[str, ...]):
        self.app, self.gzip, self.pages = app, GZipMiddleware(app), pages

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        page = scope["type"] == "http" and scope["path"] in self.pages
        await (self.gzip if page else self.app)(scope, receive, send)


class CallRate:
    """ASGI middleware: an address's calls (POSTs under /gradio_api/) past `buckets`' rate get 429 with
    Retry-After before their body is read. Each call Gradio takes costs it tens of milliseconds of CPU
    before the app's own limits refuse it (bench/flood.py), so one address sending many at once slowed
    every other visitor; the rate is far above what a person clicking, or a few behind one address, sends."""

    def __init__(self, app: ASGIApp, buckets: Buckets, proxy_hops: int):
        self.app, self.buckets, self.proxy_hops = app, buckets, proxy_hops

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"].startswith(CALLS):
            wait = self.buckets.take(self._address(scope), time.monotonic())
            if wait:
                return await _too_many(send, wait)
        await self.app(scope, receive, send)

    def _address(self, scope: Scope) -> str:
        lines = [value.decode("latin-1") for name, value in scope["headers"] if name == b"x-forwarded-for"]
        peer = scope.get("client") or ("unknown", 0)
        return forwarded_client(lines, peer[0], self.proxy_hops)


async def _too_many(send: Send, wait: float) -> None:
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close"),
                            (b"retry-after", str(math.ceil(wait)).encode())]})
    await send({"type": "http.response.body", "body": TOO_MANY})
