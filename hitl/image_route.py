"""Serves a session's images by URL, straight from its `gr.State`, so the page fetches each
final image once, as bytes, and the browser's cache answers when it comes back on screen.

Inline `data:` URLs cost a third more than the bytes, and Gradio sends a streaming event's
last values twice (in its last diff and again in the result). A URL is a few dozen bytes
either way. Nothing is copied or stored here: the route reads the very session the page's
events update, so an image lives as long as its session and no longer.

An image released to keep the server within its image memory (`image_memory`) answers 410 Gone
with a small placeholder picture, so its gallery tile still shows something.

The session hash is already the key to a session (whoever holds it can run that session's
events); each image's random key keeps a URL from naming more than that one image.
"""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.routing import APIRoute

from . import gradio_internals
from .image_memory import PLACEHOLDER, PLACEHOLDER_MIME
from .stages import Candidate, Session

# Under /gradio_api so that Gradio's Node server (SSR mode) passes it to Python, like its own API.
PATH = "/gradio_api/hitl/image/{session_hash}/{key}"
# `private`: shared caches and CDNs must not keep one user's image; `immutable`: a key never
# names another image, so the browser need not ask again.
HEADERS = {"Cache-Control": "private, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"}


def image_url(session_hash: str, candidate: Candidate) -> str:
    """Relative to the page, so it works at a domain's root and under a proxy's path prefix alike."""
    return PATH.lstrip("/").format(session_hash=session_hash, key=candidate.key)


def find_image(session: Session, key: str) -> Candidate | None:
    return next((c for c in [*session.candidates, session.final_result] if c is not None and c.key == key), None)


def session_of(request: Request, session_hash: str) -> Session | None:
    """The session's state as Gradio holds it, read without creating anything for unknown hashes."""
    values = gradio_internals.session_values(request.app, session_hash)
    return next((value for value in values if isinstance(value, Session)), None)


async def serve_image(session_hash: str, key: str, request: Request) -> Response:
    session = session_of(request, session_hash)
    image = find_image(session, key) if session is not None else None
    if image is None:
        return Response(status_code=404)
    if image.released:
        return Response(PLACEHOLDER, status_code=410, media_type=PLACEHOLDER_MIME, headers=HEADERS)
    return Response(image.image, media_type=image.mime, headers=HEADERS)  # the bytes held, not a copy


def image_route() -> APIRoute:
    return APIRoute(PATH, serve_image, methods=["GET"], include_in_schema=False)
