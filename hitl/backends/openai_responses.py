"""OpenAI Responses API with the `image_generation` tool (the default backend)."""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import asdict

from ..errors import MalformedResponseError, NoImageError, TransientStreamError, UpstreamFailure
from ..stages import Candidate
from .base import ImageRequest, OnPartial, OpenAIBackend


class ResponsesBackend(OpenAIBackend):
    def _arguments(self, request: ImageRequest) -> dict:
        tool = {"type": "image_generation", "model": self.settings.image_model, **asdict(request.options)}
        if self.settings.partial_images:
            tool["partial_images"] = self.settings.partial_images
        arguments = {
            "model": self.settings.responses_model,
            "tools": [tool],
            "tool_choice": {"type": "image_generation"},
            "store": bool(request.previous),  # stored only when continuing a conversation
            "input": request.prompt,
        }
        previous = request.previous
        if previous and previous.response_id:
            arguments["previous_response_id"] = previous.response_id
            arguments["input"] = request.feedback
        elif previous:  # made elsewhere (demo, Images API): send the image itself
            arguments["input"] = [{"role": "user", "content": [
                {"type": "input_text", "text": request.feedback},
                {"type": "input_image", "image_url": previous.data_url},
            ]}]
        return arguments

    async def _attempt(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        arguments = self._arguments(request)
        mime = request.options.mime
        if not self.settings.partial_images:
            response = await self.client.responses.create(**arguments)
            return _candidate_from(response, request, mime)
        stream = await self.client.responses.create(**arguments, stream=True)
        started = False
        # aclosing: we return mid-iteration, and the SDK's event generator must close now, not at GC
        async with stream, aclosing(aiter(stream)) as events:
            async for event in events:
                started = True
                kind = getattr(event, "type", "")
                if kind == "response.image_generation_call.partial_image":
                    on_partial(Candidate.from_b64(event.partial_image_b64, mime, request.prompt))
                elif kind in ("response.completed", "response.incomplete"):
                    return _candidate_from(event.response, request, mime)
                elif kind == "response.failed":
                    error = event.response.error
                    raise UpstreamFailure(getattr(error, "code", None), getattr(error, "message", ""))
                elif kind == "error":
                    raise UpstreamFailure(getattr(event, "code", None), getattr(event, "message", ""))
        if not started:  # a 200 that was not an event stream at all
            raise MalformedResponseError("empty or unreadable stream")
        raise TransientStreamError("the stream ended before the image was complete")


def _candidate_from(response, request: ImageRequest, mime: str) -> Candidate:
    output = getattr(response, "output", None)
    if output is None:
        raise MalformedResponseError("no output in response")
    for item in output:
        if getattr(item, "type", None) == "image_generation_call" and getattr(item, "result", None):
            return Candidate.from_b64(
                b64=item.result,
                mime=mime,
                prompt=request.prompt,
                revised_prompt=getattr(item, "revised_prompt", None) or "",
                response_id=getattr(response, "id", None),
            )
    raise NoImageError(_text_of(output))


def _text_of(output) -> str:
    parts = []
    for item in output:
        for part in getattr(item, "content", None) or []:
            parts.append(getattr(part, "text", None) or getattr(part, "refusal", None) or "")
    return " ".join(p for p in parts if p).strip()
