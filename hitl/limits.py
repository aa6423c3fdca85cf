"""Sliding-window arithmetic, for the per-session window (kept in the session) and the per-address one
(hitl/shared_counters.py)."""

from __future__ import annotations


def window_wait(times: list[float], limit: int, window: float, now: float) -> tuple[list[float], float]:
    """Drop times older than the window; return them and the seconds until one more is allowed.

    A limit of 0 (or less) allows nothing; the wait is then a whole window.
    """
    recent = [t for t in times if now - t < window]
    if len(recent) < limit:
        return recent, 0.0
    if limit <= 0:
        return recent, window
    return recent, recent[-limit] + window - now

