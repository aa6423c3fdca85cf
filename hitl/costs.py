"""What an image costs: the usage OpenAI reports, priced from one data file (`hitl/prices.json`).

Money is counted from what the API reported once a call completes. Estimates (before a call, and
in demo mode, which shows what the run would have cost) use the typical output tokens of an image
of that size and quality.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRICES = Path(__file__).with_name("prices.json")
PER_TOKEN = 1 / 1_000_000  # the table is in USD per 1M tokens


@dataclass(frozen=True)
class Usage:
    """Tokens one generation used: the Responses model's, and the image model's."""

    text_input: int = 0
    text_cached: int = 0  # of text_input, read from OpenAI's prompt cache
    text_output: int = 0
    image_text_input: int = 0
    image_image_input: int = 0  # an image sent to edit (Refine)
    image_output: int = 0

    @classmethod
    def of_response(cls, response) -> Usage | None:
        """From a Responses API `Response`: `usage` (the text model) and `tool_usage.image_gen`."""
        text, tool = getattr(response, "usage", None), getattr(getattr(response, "tool_usage", None), "image_gen", None)
        if text is None and tool is None:
            return None
        image = cls.of_images(tool) if tool is not None else cls()
        return cls(text_input=getattr(text, "input_tokens", 0) or 0,
                   text_cached=getattr(getattr(text, "input_tokens_details", None), "cached_tokens", 0) or 0,
                   text_output=getattr(text, "output_tokens", 0) or 0,
                   image_text_input=image.image_text_input, image_image_input=image.image_image_input,
                   image_output=image.image_output)

    @classmethod
    def of_images(cls, usage) -> Usage | None:
        """From the Images API's `usage` (or the image tool's): input split into text and image tokens."""
        if usage is None:
            return None
        details = getattr(usage, "input_tokens_details", None)
        text = getattr(details, "text_tokens", None)
        return cls(image_text_input=getattr(usage, "input_tokens", 0) if text is None else text,
                   image_image_input=getattr(details, "image_tokens", 0) or 0,
                   image_output=getattr(usage, "output_tokens", 0) or 0)


@dataclass(frozen=True)
class PriceTable:
    models: dict  # model -> {rate name: USD per 1M tokens}
    output_tokens: dict  # size -> {quality: output tokens of one image}

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        data = json.loads(Path(path or DEFAULT_PRICES).read_text(encoding="utf-8"))
        tokens = {size: counts for size, counts in data.get("output_tokens_per_image", {}).items() if size != "about"}
        return cls(models=data["models"], output_tokens=tokens)

    def rates(self, model: str) -> dict | None:
        """A model's rates, or those of the longest listed name it starts with (its family)."""
        family = max((name for name in self.models if model.startswith(name)), key=len, default=None)
        return self.models.get(family) if family else None

    def cost(self, usage: Usage | None, text_model: str, image_model: str) -> float | None:
        """USD for what the API reported; None when a model has no price or nothing was reported."""
        image = self.rates(image_model)
        if usage is None or image is None:
            return None
        usd = (usage.image_text_input * image["text_input"] + usage.image_image_input * image["image_input"]
               + usage.image_output * image["output"])
        if usage.text_input or usage.text_output:
            text = self.rates(text_model)
            if text is None:
                return None
            fresh = usage.text_input - usage.text_cached
            usd += fresh * text["input"] + usage.text_cached * text["cached_input"] + usage.text_output * text["output"]
        return usd * PER_TOKEN

    def estimate(self, size: str, quality: str, image_model: str, prompt: str = "") -> float | None:
        """About what one image of this size and quality costs, before anything is asked."""
        image = self.rates(image_model)
        counts = self.output_tokens.get(size if size in self.output_tokens else "1024x1024", {})
        tokens = counts.get(quality if quality in counts else "medium")
        if image is None or tokens is None:
            return None
        return (tokens * image["output"] + max(1, len(prompt) // 4) * image["text_input"]) * PER_TOKEN


def money(usd: float | None) -> str:
    """$0.041 for sums under a dollar (image prices are cents), $1.25 above; "price unknown" for None."""
    if usd is None:
        return "price unknown"
    return f"${usd:.3f}" if usd < 1 else f"${usd:.2f}"
