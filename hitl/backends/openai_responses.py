"""OpenAI Responses API with the `image_generation` tool (the default backend).

Retention: with `store: false` (the default, HITL_STORE_RESPONSES=0) OpenAI keeps no response to
continue, so Refine sends the candidate itself as an `input_image`. With stored responses Refine
continues the conversation by `previous_response_id` and falls back to sending the image when
OpenAI no longer holds it (400 `previous_response_not_found`).

Edit region sends the candidate as an `input_image` and the mask as the tool's `input_image_mask`
(a PNG data URL), always inline: the SDK documents the mask as applied to an input image, and
nothing says it applies to an image carried by `previous_response_id`, so that path is not used.
A picture of the user's own is sent the same way (an `input_image`, action "edit").
"""

from __future__ import annotations

import logging
from contextlib import aclosing
from dataclasses import asdict, replace

from hitl.backends.base import ImageRequest, OnPartial, OpenAIBackend
from hitl.backends.errors import IncompleteResponse, MalformedResponseError, NoImageError, UpstreamFailure, error_code
from hitl.core.stages import Candidate, as_data_url
from hitl.serving.costs import Usage

log = logging.getLogger(__name__)


class ResponsesBackend(OpenAIBackend):
    async def generate(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        try:
            return await super().generate(request, on_partial)
        except Exception as exc:
            if error_code(exc) != "previous_response_not_found" or not request.previous:
                raise
        log.info("stored response gone; refining from the image itself")
        inline = replace(request, previous=replace(request.previous, response_id=None))
        return await super().generate(inline, on_partial)

    def _arguments(self, request: ImageRequest, stream: bool = True) -> dict:
        tool = {"type": "image_generation", "model": self.settings.image_model, **asdict(request.options)}
        if stream and self.settings.partial_images:
            tool["partial_images"] = self.settings.partial_images
        arguments = {
            "model": self.settings.responses_model,
            "tools": [tool],
            "tool_choice": {"type": "image_generation"},
            "store": self.settings.store_responses,
            "input": request.prompt,
        }
        previous = request.previous
        if previous is None:
            return arguments
        tool["action"] = "edit"
        if request.mask is not None:  # the mask applies to the input image: always send the image itself
            tool["input_image_mask"] = {"image_url": as_data_url(request.mask, "image/png")}
        elif previous.response_id:  # only set on candidates from stored responses
            return {**arguments, "previous_response_id": previous.response_id, "input": request.instruction}
        return {**arguments, "input": [{"role": "user", "content": [
            {"type": "input_text", "text": request.instruction},
            {"type": "input_image", "image_url": previous.data_url, "detail": "auto"},  # encoded here, per request
        ]}]}

    async def _attempt(self, request: ImageRequest, on_partial: OnPartial, stream: bool) -> Candidate:
        arguments = self._arguments(request, stream)
        if not stream:
            return self._candidate_from(await self.client.responses.create(**arguments), request)
        answer = await self.client.responses.create(**arguments, stream=True)
        async with aclosing(self.events(answer)) as events:
            async for event in events:
                kind = getattr(event, "type", "")
                if kind == "response.image_generation_call.partial_image":
                    on_partial(Candidate.from_b64(event.partial_image_b64, request.options.mime, request.prompt))
                elif kind in ("response.completed", "response.incomplete", "response.failed"):
                    return self._candidate_from(event.response, request)
                elif kind == "error":
                    raise UpstreamFailure(getattr(event, "code", None), getattr(event, "message", ""))
        raise AssertionError("unreachable: events() raises when a stream ends without the image")

    def _candidate_from(self, response, request: ImageRequest) -> Candidate:
        """The image in a finished response, or the failure it reports (streamed or not alike)."""
        output = getattr(response, "output", None)
        if output is None:
            raise MalformedResponseError("no output in response")
        for item in output:
            if getattr(item, "type", None) != "image_generation_call":
                continue
            if getattr(item, "result", None):
                return Candidate.from_b64(
                    b64=item.result, mime=request.options.mime, prompt=request.prompt,
                    revised_prompt=getattr(item, "revised_prompt", None) or "",
                    response_id=response.id if self.settings.store_responses else None,
                    cost=self.cost_of(Usage.of_response(response)),
                )
            if getattr(item, "status", None) == "failed":
                raise _call_failure(getattr(item, "error", None))
        status = getattr(response, "status", None)
        if status == "failed":
            error = getattr(response, "error", None)
            raise UpstreamFailure(getattr(error, "code", None), getattr(error, "message", ""))
        if status == "incomplete":
            raise IncompleteResponse(getattr(getattr(response, "incomplete_details", None), "reason", None))
        raise NoImageError(_text_of(output))


def _call_failure(error) -> UpstreamFailure:
    """A failed image_generation_call; its moderation details say what was blocked."""
    details = getattr(error, "moderation_details", None)
    return UpstreamFailure(getattr(error, "code", None) or "image_generation_failed", getattr(error, "message", ""),
                           stage=getattr(details, "moderation_stage", None),
                           categories=tuple(getattr(details, "categories", None) or ()))


def _text_of(output) -> str:
    parts = []
    for item in output:
        for part in getattr(item, "content", None) or []:
            parts.append(getattr(part, "text", None) or getattr(part, "refusal", None) or "")
    return " ".join(p for p in parts if p).strip()
