"""Cleaning and checking what users type, before anything is sent upstream."""

from __future__ import annotations

import unicodedata

from hitl.backends import ImageOptions


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
    """The cleaned text, or why it cannot be used. Cleaning goes character by character (about 0.65 s per
    MiB), so a text far over the limit is refused by its length first: cleaning never shortens more than
    CRLFs and invisible characters would, well under half."""
    if text is not None and len(text) > 2 * max_chars:
        raise _too_long(what, len(text), max_chars)
    cleaned = clean_text(text)
    if all(c in _KEEP or c.isspace() for c in cleaned):  # nothing visible left (or nothing at all)
        hint = "describe the image you want" if what == "prompt" else "describe the change you want"
        raise InputError(f"The {what} is empty: {hint}.")
    if len(cleaned) > max_chars:
        raise _too_long(what, len(cleaned), max_chars)
    return cleaned


def _too_long(what: str, length: int, max_chars: int) -> InputError:
    return InputError(f"The {what} is {length:,} characters long; the limit is {max_chars:,}. "
                      "Shorten it and try again.")


BAD_KEY = ("That API key contains characters an OpenAI key never has (a line break, a space, or a letter "
           "outside plain ASCII): copy it again from platform.openai.com/api-keys and paste it under Advanced.")


def check_key(key: str | None) -> str | None:
    """A visitor's own key as given, refused (InputError) unless it is printable ASCII without spaces, as
    every OpenAI key is: anything else could never authenticate, and CR/LF or non-ASCII in an HTTP header
    fails inside the SDK as a lost connection (and was retried), a lone surrogate as an unreadable answer."""
    if key is not None and not (key.isascii() and key.isprintable() and " " not in key):
        raise InputError(BAD_KEY)
    return key


MAX_COUNT = 4  # images per click: a grid's worth, as in Midjourney and Fooocus


def check_count(raw) -> int:
    """How many images one click asks for (1 to MAX_COUNT)."""
    try:
        count = int(raw if raw not in (None, "") else 1)
    except (TypeError, ValueError):
        raise InputError(f"“{raw}” is not a number of images: choose 1 to {MAX_COUNT}.") from None
    if not 1 <= count <= MAX_COUNT:
        raise InputError(f"{count} images is out of range: choose 1 to {MAX_COUNT} per click.")
    return count


def check_options(raw: dict | None) -> ImageOptions:
    try:
        return ImageOptions(**(raw or {}))
    except TypeError as exc:
        raise InputError(f"Unknown option: {exc}.") from None
    except ValueError as exc:
        raise InputError(str(exc)) from None
