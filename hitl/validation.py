"""Cleaning and checking what users type, before anything is sent upstream."""

from __future__ import annotations

import unicodedata

from .backends import ImageOptions


class InputError(ValueError):
    """Input that cannot be used; the text is for the user."""


# Format characters that carry meaning in ordinary text: ZWNJ and ZWJ shape Persian, Indic
# and emoji sequences (👩‍💻). Other format characters (bidi overrides, zero-width spaces,
# BOMs) and all control characters are removed.
_KEEP = {"\n", "\t", "\u200c", "\u200d"}
_DROP = {"Cc", "Cf", "Cs", "Co"}


def clean_text(text: str | None) -> str:
    """Strip control characters (keeping line breaks and tabs) and surrounding space."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n")
    kept = (c for c in text if c in _KEEP or unicodedata.category(c) not in _DROP)
    return "".join(kept).strip()


def check_prompt(text: str | None, max_chars: int, what: str = "prompt") -> str:
    cleaned = clean_text(text)
    if all(c in _KEEP or c.isspace() for c in cleaned):  # nothing visible left (or nothing at all)
        hint = "describe the image you want" if what == "prompt" else "describe the change you want"
        raise InputError(f"The {what} is empty: {hint}.")
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
