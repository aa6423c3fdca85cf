"""Serves a session's decision log (JSON or Markdown) from its `gr.State`, like the image route:
nothing stored, nothing on disk, 404 for a session that is not there.

The link comes with an image of the session (the approved one, or in review the one on screen) and names
the log by a secret of its own (derived from that image's key with a key this process made up, so neither
the session hash nor the image's URL can be read from it), valid while that image is held."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets

from fastapi import Request, Response
from fastapi.routing import APIRoute

from hitl.core.history import history, markdown
from hitl.core.stages import Candidate
from hitl.web.image_route import link, linked_sessions

PATH = "/gradio_api/hitl/log/{secret}/decision-log.{fmt}"
_KEY = secrets.token_bytes(32)
FORMATS = {"json": ("application/json", lambda s: json.dumps(history(s), indent=2, ensure_ascii=False)),
           "md": ("text/markdown; charset=utf-8", markdown)}


def log_url(session_hash: str, anchor: Candidate, fmt: str) -> str:
    """Relative to the page, like the image route's URLs; `anchor` is an image the session holds."""
    secret = hmac.new(_KEY, anchor.key.encode(), hashlib.sha256).hexdigest()[:32]
    return PATH.lstrip("/").format(secret=link(secret, session_hash, anchor.held), fmt=fmt)


async def serve_log(secret: str, fmt: str, request: Request) -> Response:
    session = next(iter(linked_sessions(request, secret)), None)
    if session is None or fmt not in FORMATS:
        return Response(status_code=404)
    media_type, render = FORMATS[fmt]
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f'attachment; filename="decision-log.{fmt}"'}
    return Response(render(session), media_type=media_type, headers=headers)


def log_route() -> APIRoute:
    return APIRoute(PATH, serve_log, methods=["GET"], include_in_schema=False)
