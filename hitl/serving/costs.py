"""What an image costs: the usage OpenAI reports, priced from one data file (`hitl/serving/prices.json`).

Money is counted from what the API reported once a call completes, each kind of token at its own
rate: fresh and cached input, image and text output. Estimates (before a call, and in demo mode,
which shows what the run would have cost) use the image model family's own output tokens for an
image of that size and quality, and "auto" its worst case, so a budget checked against them errs
on the safe side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PRICES = Path(__file__).with_name("prices.json")
PER_TOKEN = 1 / 1_000_000  # the table is in USD per 1M tokens
IMAGE_RATES = ("text_input", "text_cached_input", "image_input", "image_cached_input", "image_output", "text_output")
TEXT_RATES = ("input", "cached_input", "output")


@dataclass(frozen=True)
class Usage:
    """Tokens one generation used: the Responses model's, and the image model's."""

    text_input: int = 0
    text_cached: int = 0  # of text_input, read from OpenAI's prompt cache
    text_output: int = 0
    image_text_input: int = 0
    image_text_cached: int = 0  # of image_text_input
    image_image_input: int = 0  # an image sent to edit (Refine, Edit region, your own picture)
    image_image_cached: int = 0  # of image_image_input
    image_output: int = 0  # image tokens the image model made
    image_text_output: int = 0  # text tokens it made

    @classmethod
    def of_response(cls, response) -> Usage | None:
        """From a Responses API `Response`: `usage` (the text model) and `tool_usage.image_gen`. Without
        the image tool's usage (the SDK: "can be omitted when tool usage is unavailable") the image's own
        cost is unknown, and the text model's few tokens alone would pass for its price: None."""
        text, tool = getattr(response, "usage", None), getattr(getattr(response, "tool_usage", None), "image_gen", None)
        image = cls.of_images(tool)
        if image is None:
            return None
        return cls(**{**image.__dict__,
                      "text_input": getattr(text, "input_tokens", 0) or 0,
                      "text_cached": getattr(getattr(text, "input_tokens_details", None), "cached_tokens", 0) or 0,
                      "text_output": getattr(text, "output_tokens", 0) or 0})

    @classmethod
    def of_images(cls, usage) -> Usage | None:
        """From the Images API's `usage` or the image tool's (`ToolUsageImageGen`): input split into text
        and image tokens, the cached part of each (the tool's `cached_tokens_details`; when it is omitted
        the cache use is unknown and all input is priced fresh), output split into image and text tokens
        (without `output_tokens_details`, all of it is priced as image output, the dearer kind)."""
        if usage is None:
            return None
        details = getattr(usage, "input_tokens_details", None)
        text = getattr(details, "text_tokens", None)
        if text is None:  # no split reported: all input is text
            text = getattr(usage, "input_tokens", 0) or 0
        image = getattr(details, "image_tokens", 0) or 0
        cached = getattr(usage, "cached_tokens_details", None)
        output = getattr(usage, "output_tokens", 0) or 0
        text_output = getattr(getattr(usage, "output_tokens_details", None), "text_tokens", 0) or 0
        return cls(image_text_input=text, image_text_cached=min(text, getattr(cached, "cached_text_tokens", 0) or 0),
                   image_image_input=image,
                   image_image_cached=min(image, getattr(cached, "cached_image_tokens", 0) or 0),
                   image_output=output - text_output, image_text_output=text_output)


def _family(table: dict, model: str):
    """A model's entry, or that of the longest listed name it starts with (its family)."""
    name = max((name for name in table if model.startswith(name)), key=len, default=None)
    return table[name] if name else None


def _checked(models: dict, tokens: dict) -> None:
    """Refuse a price file with a row that is neither a whole image-model row nor a text-model row."""
    for model, rates in models.items():
        kind = IMAGE_RATES if any(rate in rates for rate in IMAGE_RATES) else TEXT_RATES
        missing = [rate for rate in kind if not isinstance(rates.get(rate), (int, float))]
        if missing:
            raise ValueError(f"the row for {model} lacks the rates {', '.join(missing)} (USD per 1M tokens)")
    for family, sizes in tokens.items():
        if not all(isinstance(n, int) and n > 0 for counts in sizes.values() for n in counts.values()):
            raise ValueError(f"the output tokens of {family} must be positive whole numbers")


@dataclass(frozen=True)
class PriceTable:
    models: dict  # model -> {rate name: USD per 1M tokens, "source": where it is from}
    output_tokens: dict  # model family -> size -> {quality: image output tokens of one image}

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        data = json.loads(Path(path or DEFAULT_PRICES).read_text(encoding="utf-8"))
        tokens = {family: {size: counts for size, counts in table.items() if size != "source"}
                  for family, table in data.get("output_tokens_per_image", {}).items() if family != "about"}
        _checked(data["models"], tokens)
        return cls(models=data["models"], output_tokens=tokens)

    def rates(self, model: str) -> dict | None:
        """A model's rates, or those of its family."""
        return _family(self.models, model)

    def _image_rates(self, model: str) -> dict | None:
        rates = self.rates(model)
        return rates if rates is not None and "image_output" in rates else None

    def cost(self, usage: Usage | None, text_model: str, image_model: str) -> float | None:
        """USD for what the API reported; None when a model has no price or nothing was reported."""
        image = self._image_rates(image_model)
        if usage is None or image is None:
            return None
        usd = ((usage.image_text_input - usage.image_text_cached) * image["text_input"]
               + usage.image_text_cached * image["text_cached_input"]
               + (usage.image_image_input - usage.image_image_cached) * image["image_input"]
               + usage.image_image_cached * image["image_cached_input"]
               + usage.image_output * image["image_output"] + usage.image_text_output * image["text_output"])
        if usage.text_input or usage.text_output:
            text = self.rates(text_model)
            if text is None or "output" not in text:
                return None
            fresh = usage.text_input - usage.text_cached
            usd += fresh * text["input"] + usage.text_cached * text["cached_input"] + usage.text_output * text["output"]
        return usd * PER_TOKEN

    def output_tokens_of(self, size: str, quality: str, image_model: str) -> int | None:
        """The image output tokens to expect: "auto" (size or quality) counts as the most it may be."""
        sizes = _family(self.output_tokens, image_model) or {}
        counts = [n for name, by_quality in sizes.items() if size in ("auto", name)
                  for level, n in by_quality.items() if quality in ("auto", level)]
        return max(counts, default=None)

    def estimate(self, size: str, quality: str, image_model: str, prompt: str = "") -> float | None:
        """About what one image of this size and quality costs, before anything is asked."""
        image, tokens = self._image_rates(image_model), self.output_tokens_of(size, quality, image_model)
        if image is None or tokens is None:
            return None
        return (tokens * image["image_output"] + max(1, len(prompt) // 4) * image["text_input"]) * PER_TOKEN


def money(usd: float | None) -> str:
    """$0.041 for sums under a dollar (image prices are cents), $1.25 above; "price unknown" for None."""
    if usd is None:
        return "price unknown"
    return f"${usd:.3f}" if usd < 1 else f"${usd:.2f}"
