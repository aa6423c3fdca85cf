"""Serves a session's images by URL, straight from its `gr.State`, so the page fetches each
final image once, as bytes, and the browser's cache answers when it comes back on screen.

Inline `data:` URLs cost a third more than the bytes, and Gradio sends a streaming event's
last values twice (in its last diff and again in the result). A URL is a few dozen bytes
either way. Nothing is copied or stored here: the route reads the very session the page's
events update, so an image lives as long as its session and no longer.

An image released to keep the server within its image memory (`image_memory`) answers 410 Gone
with a small placeholder picture, so its gallery tile still shows something.

A URL names its image by the image's random key (96 bits) alone, never by the session hash: the
hash is the key to a whole session (whoever holds it can run that session's events, read its
`/history`, fetch every candidate), and links get shared. The server remembers which sessions showed
a key by URL (`link`), for as long as the image is held anywhere, and answers only from those.
"""

from __future__ import annotations

import weakref

from fastapi import Request, Response
from fastapi.routing import APIRoute

from hitl.core.review import Reviewer
from hitl.core.stages import Candidate, Held, Session
from hitl.serving.image_memory import PLACEHOLDER, PLACEHOLDER_MIME
from hitl.web import gradio_internals

# Under /gradio_api so that Gradio's Node server (SSR mode) passes it to Python, like its own API.
PATH = "/gradio_api/hitl/image/{key}"
# `private`: shared caches and CDNs must not keep one user's image; `immutable`: a key never
# names another image, so the browser need not ask again.
HEADERS = {"Cache-Control": "private, max-age=86400, immutable", "X-Content-Type-Options": "nosniff"}


# A secret in a URL -> the sessions (hashes) that showed it; an entry goes with the image it came with.
_SHOWN: dict[str, set[str]] = {}


def link(secret: str, session_hash: str, holder: Held) -> str:
    """Let `secret` name `session_hash`'s session in URLs for as long as `holder` (an image) lives."""
    hashes = _SHOWN.get(secret)
    if hashes is None:
        hashes = _SHOWN[secret] = set()
        weakref.finalize(holder, _SHOWN.pop, secret, None)
    hashes.add(session_hash)  # another tab of the same session may show it too
    return secret


def linked_sessions(request: Request, secret: str) -> list[Session]:
    """The sessions that showed `secret` by URL and still exist; none for an unknown one."""
    found = (session_of(request, session_hash) for session_hash in list(_SHOWN.get(secret, ())))
    return [session for session in found if session is not None]


def image_url(session_hash: str, candidate: Candidate) -> str:
    """Relative to the page, so it works at a domain's root and under a proxy's path prefix alike."""
    return PATH.lstrip("/").format(key=link(candidate.key, session_hash, candidate.held))


def find_image(session: Session, key: str) -> Candidate | None:
    return next((c for c in [*session.candidates, session.final_result] if c is not None and c.key == key), None)


def session_of(request: Request, session_hash: str) -> Session | None:
    """The session's state as Gradio holds it, read without creating anything for unknown hashes."""
    values = gradio_internals.session_values(request.app, session_hash)
    # a reviewer's tab shows the owner's session while its link is valid (hitl/web/review.py)
    found = (value.session if isinstance(value, Reviewer) else value for value in values)
    return next((value for value in found if isinstance(value, Session)), None)


async def serve_image(key: str, request: Request) -> Response:
    image = next(filter(None, (find_image(session, key) for session in linked_sessions(request, key))), None)
    if image is None:
        return Response(status_code=404)
    if image.released:
        return Response(PLACEHOLDER, status_code=410, media_type=PLACEHOLDER_MIME, headers=HEADERS)
    return Response(image.image, media_type=image.mime, headers=HEADERS)  # the bytes held, not a copy


def image_route() -> APIRoute:
    return APIRoute(PATH, serve_image, methods=["GET"], include_in_schema=False)
