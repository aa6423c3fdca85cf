"""Image backends: OpenAI Responses API, OpenAI Images API, and the offline demo.

Each backend has one coroutine, `generate(request, on_partial) -> Candidate`.
`ImageService` picks one per event and owns the SDK clients, built once per key.
"""

from __future__ import annotations

from hitl.backends.base import SENT_COPIES, Backend, ImageOptions, ImageRequest, OnPartial, OpenAIBackend
from hitl.backends.clients import Clients, Lease
from hitl.backends.demo import DemoBackend
from hitl.backends.openai_images import ImagesBackend
from hitl.backends.openai_responses import ResponsesBackend
from hitl.core.stages import Candidate
from hitl.serving.config import Settings


class ImageService:
    """Chooses the backend for a key, on the SDK client kept for that key (`Clients`)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.clients = Clients(settings)  # the server's client is built now, not mid-request

    def backend_for(self, session_key: str | None) -> Backend:
        style = ImagesBackend if self.settings.api_style == "images" else ResponsesBackend
        if session_key and session_key != self.settings.api_key:
            lease = self.clients.own(session_key)
            return _Leased(style(lease.client, self.settings), lease, self.clients)
        if self.clients.server is None:
            return DemoBackend(self.settings)
        return style(self.clients.server, self.settings)


class _Leased:
    """A backend on an own key's client, which is not closed while one of its calls is under way."""

    def __init__(self, backend: OpenAIBackend, lease: Lease, clients: Clients):
        self.backend, self.lease, self.clients = backend, lease, clients

    @property
    def notice(self) -> str:
        return self.backend.notice

    async def generate(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        self.lease.calls += 1
        try:
            return await self.backend.generate(request, on_partial)
        finally:
            self.clients.done(self.lease)


__all__ = ["SENT_COPIES", "Backend", "ImageOptions", "ImageRequest", "ImageService", "OnPartial"]
