"""Sliding-window arithmetic, for the per-session window (kept in the session) and the per-address one
(hitl/serving/shared_counters.py)."""

from __future__ import annotations


def window_wait(times: list[float], limit: int, window: float, now: float, n: int = 1) -> tuple[list[float], float]:
    """Drop times older than the window; return them and the seconds until `n` more are allowed.

    More than the limit at once (a limit of 0 included) is never allowed; the wait is then a whole window.
    """
    recent = [t for t in times if now - t < window]
    if len(recent) + n <= limit:
        return recent, 0.0
    if n > limit:
        return recent, window
    return recent, recent[len(recent) - limit + n - 1] + window - now

