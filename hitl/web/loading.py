"""A sign that the page is on its way, in the HTML the server sends: Gradio's page is blank until its
scripts have arrived and drawn the app (about 14 s on a slow connection), and what it sends first is an
empty `<gradio-app>`. The sign is plain HTML and CSS, so it shows before any script runs, follows the
browser's dark mode, and goes once the app has drawn its title (the studio's or the reviewer's)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hitl.web import gradio_internals

SIGN = b"""<style>
#hitl-loading { display: flex; align-items: center; justify-content: center; gap: .75rem; padding: 3rem 1rem;
  font: 600 1.125rem system-ui, sans-serif; color: #374151; }
#hitl-loading span { width: 1.25rem; height: 1.25rem; border-radius: 50%; border: 3px solid #fed7aa;
  border-top-color: #c2410c; animation: hitl-loading .8s linear infinite; }
@keyframes hitl-loading { to { transform: rotate(360deg); } }
@media (prefers-reduced-motion: reduce) { #hitl-loading span { animation: none; } }
@media (prefers-color-scheme: dark) { #hitl-loading { color: #d1d5db; } }
body:has(#title, #review-title) #hitl-loading { display: none; }
</style><div id="hitl-loading" role="status"><span aria-hidden="true"></span>Loading HITL Image Studio\xe2\x80\xa6
</div>"""


class LoadingSign:
    """ASGI middleware: every HTML page the server sends gets the sign. Other responses (the queue's event
    streams, images, the API) pass through untouched, unbuffered."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            return await self.app(scope, receive, send)
        start: Message | None = None
        body = b""

        async def sending(message: Message) -> None:
            nonlocal start, body
            if message["type"] == "http.response.start" and _is_html(message):
                start = message  # held until the whole page is here
            elif start is None:
                await send(message)
            else:
                body += message.get("body", b"")
                if not message.get("more_body"):
                    await _send_page(send, start, gradio_internals.with_loading_sign(body, SIGN))

        await self.app(scope, receive, sending)


def _is_html(start: Message) -> bool:
    return dict(start["headers"]).get(b"content-type", b"").startswith(b"text/html")


async def _send_page(send: Send, start: Message, page: bytes) -> None:
    headers = [(k, v) for k, v in start["headers"] if k != b"content-length"]
    await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
    await send({"type": "http.response.body", "body": page})
