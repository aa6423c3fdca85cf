"""Limits' arithmetic: sliding windows, for the per-session window (kept in the session) and the
per-address one (hitl/serving/shared_counters.py); who the caller is behind trusted proxies; and the
per-address rate of events the server takes at all (hitl/web/edge.py)."""

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


def forwarded_client(lines: list[str], peer: str, proxy_hops: int) -> str:
    """The caller's address. Each trusted proxy appends the peer it saw to X-Forwarded-For, so the
    entry `proxy_hops` from the end is the client; entries before it are the client's own invention
    and would let anyone dodge a per-address limit. A client may also send the header itself, on
    lines of its own before the proxy's: all lines are read as one list, in order (RFC 9110 §5.3),
    never the first line alone."""
    hops = [h.strip() for line in lines for h in line.split(",") if h.strip()]
    if proxy_hops and hops:
        return hops[-min(proxy_hops, len(hops))]
    return peer


class Buckets:
    """A token bucket per address: `burst` events at once, then `rate` per second. Addresses idle long
    enough to be full again are forgotten, and at most `keep` are tracked (the least recently seen go
    first), so a spray of addresses costs bounded memory."""

    def __init__(self, rate: float, burst: int, keep: int = 100_000):
        self.rate, self.burst, self.keep = rate, burst, keep
        self.levels: dict[str, tuple[float, float]] = {}  # address: (tokens, when), oldest first

    def take(self, address: str, now: float) -> float:
        """Take one token; 0.0 if there was one, else the seconds until there will be."""
        tokens, then = self.levels.pop(address, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate)
        wait = 0.0 if tokens >= 1 else (1 - tokens) / self.rate
        self.levels[address] = (tokens - 1 if not wait else tokens, now)
        self._forget(now)
        return wait

    def _forget(self, now: float) -> None:
        full = self.burst / self.rate  # seconds after which any bucket is full again
        while self.levels:
            address, (_, then) = next(iter(self.levels.items()))
            if len(self.levels) <= self.keep and now - then < full:
                break
            del self.levels[address]
