"""Cleaning and checking what users type, before anything is sent upstream."""

from __future__ import annotations

import unicodedata

from .backends import ImageOptions


class InputError(ValueError):
    """Input that cannot be used; the text is for the user."""


def clean_text(text: str | None) -> str:
    """Strip control characters (keeping line breaks and tabs) and surrounding space."""
    text = (text or "").replace("\r\n", "\n")
    kept = (c for c in text if c in "\n\t" or unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co"})
    return "".join(kept).strip()


def check_prompt(text: str | None, max_chars: int, what: str = "prompt") -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise InputError(f"The {what} is empty: describe the image you want.")
    if len(cleaned) > max_chars:
        raise InputError(
            f"The {what} is {len(cleaned):,} characters long; the limit is {max_chars:,}. Shorten it and try again."
        )
    return cleaned


def check_options(raw: dict | None) -> ImageOptions:
    try:
        return ImageOptions(**(raw or {}))
    except TypeError as exc:
        raise InputError(f"Unknown option: {exc}.") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
