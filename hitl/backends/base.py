"""What every backend takes and gives."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from openai import AsyncOpenAI

from ..config import Settings
from ..costs import Usage
from ..retry import with_retries
from ..stages import Candidate

OnPartial = Callable[[Candidate], None]

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


class OpenAIBackend:
    """What both OpenAI backends share: a client, settings, and every call through the retry layer."""

    def __init__(self, client: AsyncOpenAI, settings: Settings):
        self.client = client
        self.settings = settings

    async def generate(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        return await with_retries(lambda: self._attempt(request, on_partial), self.settings)

    async def _attempt(self, request: ImageRequest, on_partial: OnPartial) -> Candidate:
        raise NotImplementedError

    def cost_of(self, usage: Usage | None) -> float | None:
        return self.settings.prices.cost(usage, self.settings.responses_model, self.settings.image_model)
