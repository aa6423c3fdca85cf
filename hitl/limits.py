"""Sliding-window rate limits: per session (kept in the session) and per client address."""

from __future__ import annotations

from collections import OrderedDict


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


class ClientLimiter:
    """Per-address windows shared by all sessions of one app; bounded in addresses kept."""

    def __init__(self, limit: int, window: float, max_clients: int = 10_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._times: OrderedDict[str, list[float]] = OrderedDict()

    def wait(self, client: str, now: float, n: int = 1) -> float:
        recent, wait = window_wait(self._times.get(client, []), self.limit, self.window, now, n)
        self._times[client] = recent
        self._times.move_to_end(client)
        while len(self._times) > self.max_clients:
            self._times.popitem(last=False)
        return wait

    def record(self, client: str, now: float, n: int = 1) -> None:
        self._times.setdefault(client, []).extend([now] * n)
