"""What every backend takes and gives."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Any, Protocol

import openai
from openai import AsyncOpenAI

from hitl.backends.clients import release_failure
from hitl.backends.errors import TRANSPORT_ERRORS, InterruptedGeneration, MalformedResponseError, streaming_refused
from hitl.backends.retry import with_retries
from hitl.core.stages import Candidate
from hitl.serving.config import Settings
from hitl.serving.costs import Usage

log = logging.getLogger(__name__)

OnPartial = Callable[[Candidate], None]

# While a call that sends a picture runs, the picture is in memory this many times over besides its own
# bytes: as base64 (4/3) and again inside the request's JSON body (4/3). The Images API's multipart body
# holds it about once; counting it the same is on the safe side.
SENT_COPIES = 8 / 3

SIZES = ("auto", "1024x1024", "1536x1024", "1024x1536")
QUALITIES = ("auto", "low", "medium", "high")
BACKGROUNDS = ("auto", "opaque", "transparent")
FORMATS = ("png", "webp", "jpeg")


@dataclass(frozen=True)
class ImageOptions:
    size: str = "auto"
    quality: str = "auto"
    background: str = "auto"
    output_format: str = "png"

    def __post_init__(self):
        for value, allowed, name in (
            (self.size, SIZES, "size"),
            (self.quality, QUALITIES, "quality"),
            (self.background, BACKGROUNDS, "background"),
            (self.output_format, FORMATS, "output format"),
        ):
            if value not in allowed:
                raise ValueError(f"Unknown {name} “{value}”: choose one of {', '.join(allowed)}.")
        if self.background == "transparent" and self.output_format == "jpeg":
            raise ValueError("A transparent background needs PNG or WebP output, not JPEG.")

    @property
    def mime(self) -> str:
        return f"image/{self.output_format}"


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    options: ImageOptions = field(default_factory=ImageOptions)
    # The picture to edit: the candidate on screen (Refine, Edit region) or the user's own (Generate).
    previous: Candidate | None = None
    feedback: str = ""  # what to change (Refine, Edit region); "" = make the prompt from `previous`
    variant: int = 0  # how many images this prompt has had; varies the demo's picture
    mask: bytes | None = None  # Edit region: PNG, `previous`'s size, alpha 0 where to repaint

    @property
    def instruction(self) -> str:
        """The text sent with an image to edit: the change asked for, or the prompt itself."""
        return self.feedback or self.prompt


class Backend(Protocol):
    async def generate(self, request: ImageRequest, on_partial: OnPartial) -> Candidate: ...


# Shown with the image when OpenAI refused to stream it and the app asked once more without streaming.
UNSTREAMED = ("This image came without previews: OpenAI streams this image model only to verified organisations. "
              "Verify the organisation on platform.openai.com to see previews, or set HITL_PARTIAL_IMAGES=0.")


class OpenAIBackend:
    """What both OpenAI backends share: a client, settings, and every call through the retry layer.

    Streamed (previews) when HITL_PARTIAL_IMAGES > 0. OpenAI answers 400 on `stream` for a model it
    streams only to verified organisations; then the call is made once more without streaming, and
    `notice` says why no previews came (one backend serves one event)."""

    def __init__(self, client: AsyncOpenAI, settings: Settings):
        self.client = client
        self.settings = settings
        self.notice = ""

    async def generate(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        stream = self.settings.partial_images > 0
        try:
            return await with_retries(lambda: self._releasing(request, on_partial, stream), self.settings)
        except openai.BadRequestError as exc:
            if not (stream and streaming_refused(exc)):
                raise
        log.info("OpenAI refused to stream this model (organisation not verified); asking once without streaming")
        self.notice = UNSTREAMED
        return await with_retries(lambda: self._releasing(request, on_partial, False), self.settings)

    async def _releasing(self, request: ImageRequest, on_partial: OnPartial, stream: bool) -> Candidate:
        try:
            return await self._attempt(request, on_partial, stream)
        except Exception as exc:
            release_failure(exc)
            raise

    async def _attempt(self, request: ImageRequest, on_partial: OnPartial, stream: bool) -> Candidate:
        raise NotImplementedError

    @staticmethod
    async def events(stream) -> AsyncGenerator[Any, None]:
        """A stream's events. Once one has arrived OpenAI has begun the image, so a stream that breaks
        or ends without it from then on raises InterruptedGeneration (never retried: a second call could
        bill twice); a 200 that sends no event at all is an answer that could not be read."""
        started = False
        # aclosing: callers return mid-iteration, and the SDK's event generator must close now, not at GC.
        # Its own generator, not the one aiter() wraps it in: closing that one leaves it suspended, its frame
        # referring back to the stream, a cycle that kept the request (the picture as base64) until a full
        # collection.
        async with stream, aclosing(stream._iterator) as events:
            try:
                async for event in events:
                    started = True
                    try:
                        yield event
                    except GeneratorExit:  # the caller returns: with the answer if this was the last event
                        if getattr(event, "type", "") in LAST_EVENTS:
                            await _read_to_the_end(events)
                        raise
            except (openai.APIConnectionError, *TRANSPORT_ERRORS) as exc:
                if started:
                    raise InterruptedGeneration("the stream broke after the image was begun") from exc
                raise
        if not started:
            raise MalformedResponseError("empty or unreadable stream")
        raise InterruptedGeneration("the stream ended before the image was complete")

    def cost_of(self, usage: Usage | None) -> float | None:
        return self.settings.prices.cost(usage, self.settings.responses_model, self.settings.image_model)


# The events after which a stream has nothing more to say (Responses API; Images API, generate and edit).
LAST_EVENTS = frozenset({"response.completed", "response.incomplete", "response.failed",
                         "image_generation.completed", "image_edit.completed"})


async def _read_to_the_end(events: AsyncGenerator[Any, None]) -> None:
    """What a stream sends after its last event (its end: `[DONE]`, the closing chunk), read rather than
    hung up on: the call ends as OpenAI ends it, and its connection goes back to the pool instead of being
    closed (a new TLS connection for the next call). The answer is in hand, so a stream that breaks now
    changes nothing, nor does a server that keeps the stream open past `AFTER_THE_END` s; Cancel still stops
    it (a CancelledError is not an Exception)."""
    try:
        async with asyncio.timeout(AFTER_THE_END):
            async for _ in events:
                pass
    except Exception:  # the answer is already had: nothing after it can change it
        log.debug("the stream broke, or stayed open, after its last event")


AFTER_THE_END = 5.0  # s a stream may take to end after its last event before it is hung up on
