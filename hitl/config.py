"""Settings read once from the environment; every knob has a sensible default."""

from __future__ import annotations

import os
from dataclasses import dataclass

from .costs import PriceTable

# Current GPT image model per the installed SDK (`gpt-image-1` was shut down 2026-10-23).
DEFAULT_IMAGE_MODEL = "gpt-image-2.6-sunburst"
# The mainline model that hosts the image_generation tool in the Responses API.
DEFAULT_RESPONSES_MODEL = "gpt-5.5"
# The Images API documents 32,000 characters as the prompt limit for GPT image models.
MAX_PROMPT_CHARS = 32_000


def _int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def _flag(name: str, default: bool) -> bool:
    return os.environ.get(name, "1" if default else "0").strip().lower() in {"1", "true", "yes", "on"}


def _float(name: str, default: float) -> float:
    return float(os.environ.get(name, default))


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
    prices: PriceTable  # USD per token kind per model (hitl/prices.json, or HITL_PRICES_FILE)
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
    closed_session_grace: int  # seconds a closed tab's state is kept, in case it reconnects
    redis_url: str | None  # where the per-address limits and the daily spend are counted (None: in memory)
    image_memory_mb: float  # MiB of images all sessions hold together (0: a quarter of the memory we may use)
    monitoring: bool = False  # Gradio's /monitoring pages (an event summary anyone could read): off unless asked

    @property
    def demo(self) -> bool:
        return not self.api_key


def load_settings(**overrides) -> Settings:
    on_spaces = os.environ.get("SYSTEM") == "spaces"
    settings = Settings(
        api_key=os.environ.get("OPENAI_API_KEY") or None,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        responses_model=os.environ.get("HITL_RESPONSES_MODEL", DEFAULT_RESPONSES_MODEL),
        image_model=os.environ.get("HITL_IMAGE_MODEL", DEFAULT_IMAGE_MODEL),
        api_style=os.environ.get("HITL_API_STYLE", "responses"),
        partial_images=_int("HITL_PARTIAL_IMAGES", 2),
        store_responses=_flag("HITL_STORE_RESPONSES", False),
        request_timeout=_float("HITL_REQUEST_TIMEOUT", 120),
        total_timeout=_float("HITL_TOTAL_TIMEOUT", 180),
        max_attempts=_int("HITL_MAX_ATTEMPTS", 3),
        max_prompt_chars=_int("HITL_MAX_PROMPT_CHARS", MAX_PROMPT_CHARS),
        prices=PriceTable.load(os.environ.get("HITL_PRICES_FILE") or None),
        daily_budget_usd=_float("HITL_DAILY_BUDGET_USD", 0),
        session_limit=_int("HITL_SESSION_LIMIT", 20),
        ip_limit=_int("HITL_IP_LIMIT", 60),
        limited=True,
        limit_window=_float("HITL_LIMIT_WINDOW", 3600),
        proxy_hops=_int("HITL_PROXY_HOPS", 1 if on_spaces else 0),
        max_concurrent=_int("HITL_MAX_CONCURRENT", 64),
        queue_size=_int("HITL_QUEUE_SIZE", 256),
        max_candidates=_int("HITL_MAX_CANDIDATES", 8),
        session_ttl=_int("HITL_SESSION_TTL", 1800),
        closed_session_grace=_int("HITL_CLOSED_SESSION_GRACE", 60),
        redis_url=os.environ.get("HITL_REDIS_URL") or None,
        image_memory_mb=_float("HITL_IMAGE_MEMORY_MB", 0),
        monitoring=_flag("HITL_MONITORING", False),
    )
    if settings.api_style not in {"responses", "images"}:
        raise ValueError("HITL_API_STYLE must be 'responses' or 'images'")
    return Settings(**{**settings.__dict__, **overrides}) if overrides else settings
