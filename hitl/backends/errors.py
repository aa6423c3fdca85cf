"""Turning upstream failures into decisions (retry or not) and short human messages.

SDK error texts can quote request details, even part of a key, so they are never shown:
each failure maps to a message written here, and any free text we do show is scrubbed.
"""

from __future__ import annotations

import email.utils
import re
import time

import httpx2  # the HTTP stack of openai 3.x; raised raw when a stream breaks mid-way
import openai

from hitl.serving.config import Settings

# Statuses that may succeed if asked again (the SDK's own list: 408, 409, 429, 5xx).
_RETRYABLE_STATUS = {408, 409, 429}
TRANSPORT_ERRORS = (httpx2.TransportError, httpx2.StreamError)
_KEY_PATTERN = re.compile(r"\b(sk|rk|sess)-[A-Za-z0-9_\-*]{6,}")


class NoImageError(Exception):
    """The model answered, but without an image (a refusal or plain text)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


class MalformedResponseError(Exception):
    """The upstream answer could not be read as a Responses / Images result."""


class InterruptedGeneration(Exception):
    """A stream that broke after OpenAI had begun the image (its first event had arrived). OpenAI may
    finish, and bill, the image it began, so asking again could bill twice for one click: never retried."""


class UpstreamFailure(Exception):
    """A failure reported inside a 200 answer: a stream `error` event, a response whose status is
    `failed`, or an `image_generation_call` that failed (then `stage` says whether the safety
    system blocked the prompt ("input") or the picture ("output"))."""

    def __init__(self, code: str | None, message: str = "", stage: str | None = None,
                 categories: tuple[str, ...] = ()):
        super().__init__(message)
        self.code, self.stage, self.categories = code, stage, categories


class IncompleteResponse(Exception):
    """A response that stopped before its image (`incomplete_details.reason`)."""

    def __init__(self, reason: str | None):
        super().__init__(reason or "")
        self.reason = reason


# `ResponseError.code` values (openai/types/responses/response_error.py) that can succeed later.
_TRANSIENT_CODES = {"server_error", "rate_limit_exceeded", "vector_store_timeout", "timeout"}
_SAFETY_CODES = {"moderation_blocked", "content_policy_violation", "image_content_policy_violation",
                 "bio_policy", "misalignment_policy_violation"}
# Codes about an image sent with the request (Refine sends the candidate itself).
_INPUT_IMAGE_CODES = {
    "invalid_image", "invalid_image_format", "invalid_base64_image", "invalid_image_url", "image_too_large",
    "image_too_small", "image_parse_error", "invalid_image_mode", "image_file_too_large",
    "unsupported_image_media_type", "empty_image_file", "failed_to_download_image", "image_file_not_found",
}
_MAX_QUOTE = 600  # characters of the model's own text quoted in a message


def error_code(exc: BaseException) -> str | None:
    code = getattr(exc, "code", None)
    if code:
        return str(code)
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("code"):
            return str(inner["code"])
    return None


def status_of(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None)


def streaming_refused(exc: BaseException) -> bool:
    """OpenAI's 400 about `stream` itself: "Your organization must be verified to stream this model"
    (`param: "stream"`, `code: "unsupported_value"`, as reported against the real API in
    langflow-ai/openrag#257 and BeehiveInnovations/pal-mcp-server#134). The same call without
    streaming can succeed."""
    return status_of(exc) == 400 and getattr(exc, "param", None) == "stream"


def _server_says_retry(exc: BaseException) -> bool | None:
    """OpenAI's `x-should-retry` header: true or false when the server says, None when it does not.
    The SDK obeys it before its own rules (`_should_retry` in openai/_base_client.py); so do we."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    return {"true": True, "false": False}.get(headers.get("x-should-retry", ""))


def is_retryable(exc: BaseException) -> bool:
    """True only for failures that can succeed later; never for quota or bad requests, nor for an
    image OpenAI had already begun (asking again could bill twice for one click)."""
    if error_code(exc) == "insufficient_quota" or isinstance(exc, InterruptedGeneration):
        return False
    if (said := _server_says_retry(exc)) is not None:
        return said
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, UpstreamFailure):
        return exc.code in _TRANSIENT_CODES
    if isinstance(exc, TRANSPORT_ERRORS):
        return True
    status = status_of(exc)
    return status is not None and (status in _RETRYABLE_STATUS or status >= 500)


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait (Retry-After / retry-after-ms), if any."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    if ms := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw) if raw else None
        if parsed is None:
            return None
        return max(0.0, parsed.timestamp() - (now or time.time()))


def scrub(text: str, secrets: tuple[str | None, ...] = ()) -> str:
    """Remove anything that looks like an API key, and the given secrets verbatim."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


def describe(exc: BaseException, settings: Settings) -> str:
    """One specific sentence for the user: what happened and what to do."""
    if isinstance(exc, NoImageError):
        return _no_image(exc, settings)
    if isinstance(exc, IncompleteResponse):
        return _INCOMPLETE.get(exc.reason or "", "The model stopped before the image was finished. Try again.")
    return _by_code(exc) or _by_kind(exc, settings) or "Something went wrong while generating the image. Try again."


def _no_image(exc: NoImageError, settings: Settings) -> str:
    text = scrub(" ".join(exc.text.split()), (settings.api_key,))
    if not text:
        return "The model answered without an image. Try rephrasing the prompt."
    if len(text) > _MAX_QUOTE:
        text = text[:_MAX_QUOTE - 1].rstrip() + "…"
    stop = "" if text[-1] in ".!?…" else "."  # no “…request.”. double stop
    return f"The model answered without an image: “{text}”{stop} Try rephrasing the prompt."


_BLOCKED = "Your request was rejected by the safety system. Rephrase the prompt and try again."
_INCOMPLETE = {
    "content_filter": "The safety system stopped the image before it was finished. Rephrase the prompt and try again.",
    "max_output_tokens": "The model ran out of output budget before the image was finished. Try again.",
    "max_messages": "The conversation reached its message limit before the image was finished. Start over.",
}


def _blocked(exc: BaseException) -> str:
    stage = getattr(exc, "stage", None)
    if stage == "input":
        return "The safety system blocked your prompt. Rephrase it and try again."
    if stage == "output":
        categories = ", ".join(getattr(exc, "categories", ()))
        why = f" ({categories})" if categories else ""
        return f"The safety system blocked the picture that was made{why}. Rephrase the prompt and try again."
    return _BLOCKED


def _by_code(exc: BaseException) -> str | None:  # noqa: C901 - a flat table
    """Messages for the error codes OpenAI sends, in an HTTP error or inside a 200 answer."""
    code = error_code(exc)
    if code in _SAFETY_CODES:
        return _blocked(exc)
    if code == "insufficient_quota":
        return "The OpenAI account has run out of credit (insufficient quota). Add billing or use another key."
    if code == "rate_limit_exceeded" and status_of(exc) is None:
        return "OpenAI is rate limiting this key. Try again in a minute."
    if code == "invalid_prompt":
        return "OpenAI could not use this prompt (invalid prompt). Rephrase it and try again."
    if code in _INPUT_IMAGE_CODES:
        return (f"OpenAI could not use the image sent for editing ({code.replace('_', ' ')}). "
                "Regenerate, or pick another candidate to refine.")
    if code == "previous_response_not_found":
        return "OpenAI no longer holds the earlier image's conversation. Regenerate, or start over."
    if code == "unsupported_country_region_territory":
        return ("OpenAI does not serve the country or region this server connects from (403). Run the app "
                "where OpenAI's API is offered, or set OPENAI_BASE_URL to a gateway there.")
    if code == "data_residency_mismatch":
        return ("This key's OpenAI project requires a data-residency region this request does not use. "
                "Set OPENAI_BASE_URL to the project's regional endpoint, or use another key.")
    if code == "image_generation_failed":
        return "OpenAI could not make this image. Try again, or rephrase the prompt."
    if code == "vector_store_timeout":
        return "OpenAI timed out on its side. Try again in a moment."
    return None


def _by_kind(exc: BaseException, settings: Settings) -> str | None:  # noqa: C901 - a flat table
    """Messages by HTTP status or exception type, for answers without a code we know."""
    status = status_of(exc)
    if isinstance(exc, openai.AuthenticationError) or status == 401:
        return "OpenAI rejected the API key (401). Check OPENAI_API_KEY or the key you entered."
    if isinstance(exc, openai.PermissionDeniedError) or status == 403:
        return (
            "OpenAI refused access to the image model (403). The organisation may need to be "
            "verified on platform.openai.com before it can use image generation."
        )
    if isinstance(exc, openai.NotFoundError) or status == 404:
        return (
            f"OpenAI does not know the model “{settings.image_model}” or “{settings.responses_model}” "
            "(404). Set HITL_IMAGE_MODEL / HITL_RESPONSES_MODEL to models your account can use."
        )
    if status == 429:
        wait = retry_after(exc)
        when = f"in {wait:.0f} s" if wait else "in a minute"
        return f"OpenAI is rate limiting this key. Try again {when}."
    if isinstance(exc, TimeoutError):
        return f"The image was not ready within {settings.total_timeout:.0f} s. Try again, or choose a lower quality."
    if isinstance(exc, openai.APITimeoutError):
        return f"OpenAI did not answer within {settings.request_timeout:.0f} s. Try again, or choose a lower quality."
    if isinstance(exc, InterruptedGeneration):
        return ("The connection to OpenAI broke while the image was being made. It was not asked for again, "
                "because OpenAI may still bill the one it began; click again to try once more.")
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return "The connection to OpenAI was lost before the image arrived. Try again."
    if (status is not None and status >= 500) or error_code(exc) == "server_error":
        return f"OpenAI had a server error{f' ({status})' if status else ''}. Try again in a moment."
    if isinstance(exc, (MalformedResponseError, openai.APIResponseValidationError, ValueError)):
        return "OpenAI sent an answer that could not be read. Try again."
    if isinstance(exc, openai.BadRequestError) or status == 400:
        return "OpenAI rejected the request (400). Check the options and the prompt, then try again."
    if status == 422:
        return "OpenAI could not process the request (422). Check the options and try again."
    return None
