"""Image backends: OpenAI Responses API, OpenAI Images API, and the offline demo.

Each backend has one coroutine, `generate(request, on_partial) -> Candidate`.
`ImageService` picks one per event and owns the SDK clients, built once per key.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

from openai import AsyncOpenAI

from hitl.backends.base import Backend, ImageOptions, ImageRequest, OnPartial
from hitl.backends.demo import DemoBackend
from hitl.backends.openai_images import ImagesBackend
from hitl.backends.openai_responses import ResponsesBackend
from hitl.serving.config import Settings

_MAX_CLIENTS = 64


class ImageService:
    """Chooses the backend for a key and reuses one AsyncOpenAI client per key."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._clients: OrderedDict[str, AsyncOpenAI] = OrderedDict()
        if settings.api_key:
            self._client(settings.api_key)  # build the server's client now, not mid-request

    def backend_for(self, session_key: str | None) -> Backend:
        key = session_key or self.settings.api_key
        if not key:
            return DemoBackend(self.settings)
        backend = ImagesBackend if self.settings.api_style == "images" else ResponsesBackend
        return backend(self._client(key), self.settings)

    def _client(self, key: str) -> AsyncOpenAI:
        digest = hashlib.sha256(key.encode()).hexdigest()
        client = self._clients.get(digest)
        if client is None:
            client = AsyncOpenAI(
                api_key=key,
                base_url=self.settings.base_url,
                timeout=self.settings.request_timeout,
                max_retries=0,  # hitl.backends.retry is the only retry layer
            )
            self._clients[digest] = client
            if len(self._clients) > _MAX_CLIENTS:
                self._clients.popitem(last=False)
        self._clients.move_to_end(digest)
        return client


__all__ = ["Backend", "ImageOptions", "ImageRequest", "ImageService", "OnPartial"]
