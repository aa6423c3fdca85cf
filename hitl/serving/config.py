"""Settings read once from the environment; every knob has a sensible default, and every value set is
checked at start-up (`SettingError` names the variable and what it allows)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from hitl.serving.costs import DEFAULT_PRICES, PriceTable

# Current GPT image model per the installed SDK (`gpt-image-1` was shut down 2026-10-23).
DEFAULT_IMAGE_MODEL = "gpt-image-2.6-sunburst"
# The mainline model that hosts the image_generation tool in the Responses API.
DEFAULT_RESPONSES_MODEL = "gpt-5.5"
# The Images API documents 32,000 characters as the prompt limit for GPT image models.
MAX_PROMPT_CHARS = 32_000
# The image tool's `partial_images` takes 0 to 3 (openai/types/responses/tool.py); more is a 400.
MAX_PARTIAL_IMAGES = 3


class SettingError(ValueError):
    """A setting read at start-up outside what it allows: the app refuses to start rather than fail
    every call at run time (HITL_PARTIAL_IMAGES=4 would make each request a 400)."""


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None  # set but blank counts as unset


def number_setting(name: str, default: float, kind: type = int, low: float = 0, high: float | None = None,
                   note: str = "", above: bool = False):
    """`name` from the environment as `kind` (int or float) within [low, high] (`above`: more than
    low); a SettingError naming the variable and the allowed range otherwise."""
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if (value is None or not math.isfinite(value) or value < low or (above and value == low)
            or (high is not None and value > high)):
        what = "a whole number" if kind is int else "a number"
        span = (f"from {low:g} to {high:g}" if high is not None else
                f"more than {low:g}" if above else f"{low:g} or more")
        raise SettingError(f"{name}={raw} is not allowed: it must be {what} {span}{note}.")
    return value


def _choice(name: str, default: str, allowed: tuple[str, ...], fold=str.lower) -> str:
    raw = _raw(name)
    if raw is None:
        return default
    if fold(raw) not in allowed:
        raise SettingError(f"{name}={raw} is not allowed: it must be one of {', '.join(allowed)}.")
    return fold(raw)


_YES, _NO = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def _flag(name: str, default: bool) -> bool:
    return _choice(name, "1" if default else "0", _YES + _NO) in _YES


def _text(name: str, default: str) -> str:
    return _raw(name) or default


def _url(name: str, schemes: tuple[str, ...], form: str) -> str | None:
    raw = _raw(name)
    if raw is not None and (urlsplit(raw).scheme not in schemes or not urlsplit(raw).netloc):
        raise SettingError(f"{name}={raw} is not allowed: it must look like {form}.")
    return raw


def _prices() -> PriceTable:
    path = _raw("HITL_PRICES_FILE")
    try:
        return PriceTable.load(path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise SettingError(f"HITL_PRICES_FILE={path or DEFAULT_PRICES} cannot be used ({reason}): it must be a "
                           "JSON price table shaped like hitl/serving/prices.json.") from None


@dataclass(frozen=True)
class Settings:
    api_key: str | None
    base_url: str | None
    responses_model: str
    image_model: str
    api_style: str  # "responses" or "images"
    partial_images: int
    store_responses: bool  # let OpenAI keep responses (30+ days) so Refine can continue them by id
    request_timeout: float  # one upstream attempt, seconds
    total_timeout: float  # all attempts and waits together, seconds
    max_attempts: int
    max_prompt_chars: int
    prices: PriceTable  # USD per token kind per model (hitl/serving/prices.json, or HITL_PRICES_FILE)
    daily_budget_usd: float  # what the server's key may spend per UTC day (0: no budget)
    session_limit: int  # generations per session per window
    ip_limit: int  # generations per client address per window
    limited: bool  # whether those limits apply (off for the owner on their own machine: see app.py)
    limit_window: float  # seconds
    proxy_hops: int  # trusted proxies in front of the app (0: use the TCP peer address)
    max_concurrent: int  # image calls running at once, all users together (events too)
    queue_size: int  # requests waiting beyond that
    max_candidates: int  # images kept per session in review
    session_ttl: int  # seconds before an idle session's state is dropped
    sessions_per_address: int  # sessions one client address keeps at once: its own oldest go first past it
    call_rate: float  # calls per second one client address may make, on average (hitl/web/edge.py)
    call_burst: int  # and at once
    closed_session_grace: int  # seconds a closed tab's state is kept, in case it reconnects
    redis_url: str | None  # where the per-address limits and the daily spend are counted (None: in memory)
    image_memory_mb: float  # MiB of images all sessions hold together (0: a quarter of the memory we may use)
    log_level: str  # one of logging's level names
    monitoring: bool = False  # Gradio's /monitoring pages (an event summary anyone could read): off unless asked
    max_sessions: int = 10_000  # sessions kept at once, all addresses together (the vault and Gradio's state alike)

    @property
    def demo(self) -> bool:
        return not self.api_key


def load_settings(**overrides) -> Settings:
    """Every setting from the environment, each checked (SettingError names a bad one); `overrides`
    (tests, the bench) replace fields as given."""
    on_spaces = os.environ.get("SYSTEM") == "spaces"
    settings = Settings(
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=_url("OPENAI_BASE_URL", ("http", "https"), "https://host/v1"),
        responses_model=_text("HITL_RESPONSES_MODEL", DEFAULT_RESPONSES_MODEL),
        image_model=_text("HITL_IMAGE_MODEL", DEFAULT_IMAGE_MODEL),
        api_style=_choice("HITL_API_STYLE", "responses", ("responses", "images")),
        partial_images=number_setting("HITL_PARTIAL_IMAGES", 2, int, 0, MAX_PARTIAL_IMAGES,
                                      " (OpenAI's partial_images; 0 turns previews off)"),
        store_responses=_flag("HITL_STORE_RESPONSES", False),
        request_timeout=number_setting("HITL_REQUEST_TIMEOUT", 120, float, 0, note=" seconds", above=True),
        total_timeout=number_setting("HITL_TOTAL_TIMEOUT", 180, float, 0, note=" seconds", above=True),
        max_attempts=number_setting("HITL_MAX_ATTEMPTS", 3, int, 1, 10),
        max_prompt_chars=number_setting("HITL_MAX_PROMPT_CHARS", MAX_PROMPT_CHARS, int, 1, MAX_PROMPT_CHARS,
                                        " (OpenAI's prompt limit)"),
        prices=_prices(),
        daily_budget_usd=number_setting("HITL_DAILY_BUDGET_USD", 0, float, 0, note=" (US$; 0: no budget)"),
        session_limit=number_setting("HITL_SESSION_LIMIT", 20, int, 1),
        ip_limit=number_setting("HITL_IP_LIMIT", 60, int, 1),
        limited=True,
        limit_window=number_setting("HITL_LIMIT_WINDOW", 3600, float, 0, note=" seconds", above=True),
        proxy_hops=number_setting("HITL_PROXY_HOPS", 1 if on_spaces else 0, int, 0, 10),
        max_concurrent=number_setting("HITL_MAX_CONCURRENT", 64, int, 1),
        queue_size=number_setting("HITL_QUEUE_SIZE", 256, int, 1),
        max_candidates=number_setting("HITL_MAX_CANDIDATES", 8, int, 1),
        session_ttl=number_setting("HITL_SESSION_TTL", 1800, int, 1, note=" seconds"),
        sessions_per_address=number_setting("HITL_SESSIONS_PER_ADDRESS", 200, int, 1),
        call_rate=number_setting("HITL_CALL_RATE", 4, float, 0, note=" calls per second", above=True),
        call_burst=number_setting("HITL_CALL_BURST", 40, int, 1),
        closed_session_grace=number_setting("HITL_CLOSED_SESSION_GRACE", 60, int, 0, note=" seconds"),
        redis_url=_url("HITL_REDIS_URL", ("redis", "rediss"),
                       "redis://[:password@]host[:port][/db] (rediss:// for TLS)"),
        image_memory_mb=number_setting("HITL_IMAGE_MEMORY_MB", 0, float, 0, note=" MiB (0: a quarter of memory)"),
        log_level=_choice("HITL_LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"), fold=str.upper),
        monitoring=_flag("HITL_MONITORING", False),
    )
    _priced(settings)
    return Settings(**{**settings.__dict__, **overrides}) if overrides else settings


def _priced(settings: Settings) -> None:
    """A daily budget counts what the image model's calls cost: with no price for that model, none would count."""
    if settings.daily_budget_usd > 0 and settings.prices.estimate("auto", "auto", settings.image_model) is None:
        raise SettingError(f"HITL_DAILY_BUDGET_USD={settings.daily_budget_usd:g} is not allowed with "
                           f"HITL_IMAGE_MODEL={settings.image_model}, which has no price in the prices file "
                           "(HITL_PRICES_FILE): add the model's row there, or set the budget to 0.")
