"""OpenAI Images API, for gateways that lack the Responses API (HITL_API_STYLE=images)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import aclosing
from dataclasses import asdict
from typing import Any

from hitl.backends.base import ImageRequest, OnPartial, OpenAIBackend
from hitl.backends.errors import MalformedResponseError, NoImageError
from hitl.core.stages import Candidate
from hitl.serving.costs import Usage


class ImagesBackend(OpenAIBackend):
    async def _attempt(self, request: ImageRequest, on_partial: OnPartial, stream: bool) -> Candidate:
        arguments = {"model": self.settings.image_model, **asdict(request.options)}
        call: Callable[..., Awaitable[Any]]  # images.edit or images.generate, called with the same arguments
        if request.previous:
            arguments["prompt"] = request.instruction
            previous = request.previous
            arguments["image"] = ("image." + previous.mime.split("/")[-1], previous.image, previous.mime)
            if request.mask is not None:  # alpha 0 where to repaint
                arguments["mask"] = ("mask.png", request.mask, "image/png")
            call = self.client.images.edit
        else:
            arguments["prompt"] = request.prompt
            call = self.client.images.generate
        mime = request.options.mime
        if not stream:
            answer = await call(**arguments)
            return _candidate_from(answer.data, request, mime, self.cost_of(Usage.of_images(answer.usage)))
        answer = await call(**arguments, stream=True, partial_images=self.settings.partial_images)
        async with aclosing(self.events(answer)) as events:
            async for event in events:
                kind = getattr(event, "type", "")
                if kind.endswith("partial_image"):
                    on_partial(Candidate.from_b64(event.b64_json, mime, request.prompt))
                elif kind.endswith("completed"):
                    cost = self.cost_of(Usage.of_images(getattr(event, "usage", None)))
                    return Candidate.from_b64(event.b64_json, mime, request.prompt, cost=cost)
        raise AssertionError("unreachable: events() raises when a stream ends without the image")


def _candidate_from(data, request: ImageRequest, mime: str, cost: float | None) -> Candidate:
    if not data:
        raise MalformedResponseError("no data in response")
    first = data[0]
    if not getattr(first, "b64_json", None):
        raise NoImageError(getattr(first, "revised_prompt", None) or "")
    return Candidate.from_b64(first.b64_json, mime, request.prompt, first.revised_prompt or "", cost=cost)
