"""Serves a session's decision log (JSON or Markdown) from its `gr.State`, like the image route:
nothing stored, nothing on disk, 404 for a session that is not there."""

from __future__ import annotations

import json

from fastapi import Request, Response
from fastapi.routing import APIRoute

from .history import history, markdown
from .image_route import session_of

PATH = "/gradio_api/hitl/log/{session_hash}/decision-log.{fmt}"
FORMATS = {"json": ("application/json", lambda s: json.dumps(history(s), indent=2, ensure_ascii=False)),
           "md": ("text/markdown; charset=utf-8", markdown)}


def log_url(session_hash: str, fmt: str) -> str:
    """Relative to the page, like the image route's URLs."""
    return PATH.lstrip("/").format(session_hash=session_hash, fmt=fmt)


async def serve_log(session_hash: str, fmt: str, request: Request) -> Response:
    session = session_of(request, session_hash)
    if session is None or fmt not in FORMATS:
        return Response(status_code=404)
    media_type, render = FORMATS[fmt]
    headers = {"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
               "Content-Disposition": f'attachment; filename="decision-log.{fmt}"'}
    return Response(render(session), media_type=media_type, headers=headers)


def log_route() -> APIRoute:
    return APIRoute(PATH, serve_log, methods=["GET"], include_in_schema=False)
