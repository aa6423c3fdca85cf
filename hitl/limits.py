"""Sliding-window rate limits: per session (kept in the session) and per client address."""

from __future__ import annotations

from collections import OrderedDict


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


class ClientLimiter:
    """Per-address windows shared by all sessions of one app; bounded in addresses kept."""

    def __init__(self, limit: int, window: float, max_clients: int = 10_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._times: OrderedDict[str, list[float]] = OrderedDict()

    def wait(self, client: str, now: float) -> float:
        recent, wait = window_wait(self._times.get(client, []), self.limit, self.window, now)
        self._times[client] = recent
        self._times.move_to_end(client)
        while len(self._times) > self.max_clients:
            self._times.popitem(last=False)
        return wait

    def record(self, client: str, now: float) -> None:
        self._times.setdefault(client, []).append(now)
