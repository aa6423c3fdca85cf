"""What every app process behind one load balancer must count together: generations per client
address (a sliding window) and what the server's key spent per UTC day.

In memory by default: one process, as before. In Redis when `HITL_REDIS_URL` is set, so N replicas
share one count (through the `redis` package's asyncio client; `rediss://` for TLS). Times are wall-clock
seconds (`time.time()`): monotonic clocks differ per process.
Per-session windows stay in the session (a session lives in one process); see hitl/serving/limits.py.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections import OrderedDict
from collections.abc import Awaitable
from datetime import date
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from hitl.serving.config import Settings
from hitl.serving.limits import window_wait

log = logging.getLogger(__name__)

UNAVAILABLE = ("This app cannot reach its usage counters right now, so it is not generating on its OpenAI key. "
               "Try again in a minute, or enter your own OpenAI key under Advanced.")


class CountersUnavailable(Exception):
    """The shared counters cannot be reached: nothing is generated on the server's key until they can
    (failing open would let anyone drain it while Redis is down)."""


class SharedCounters(Protocol):
    async def take(self, address: str, now: float, n: int = 1) -> float:
        """Count `n` generations for `address` if its window has room for them and return 0; else count
        nothing and return the seconds until it has room. One atomic step, whichever process asks."""

    async def spent(self, day: date) -> float:
        """What the server's key spent on `day` (UTC)."""

    async def add_spend(self, usd: float, day: date) -> None:
        """Count what an image cost. Never raises: the image is made and paid for; a lost count is logged."""


class MemoryCounters:
    """One process's counters; bounded in addresses kept (the least recently seen go first)."""

    def __init__(self, limit: int, window: float, max_clients: int = 10_000):
        self.limit, self.window, self.max_clients = limit, window, max_clients
        self._times: OrderedDict[str, list[float]] = OrderedDict()
        self._day: date | None = None
        self._spent = 0.0

    async def take(self, address: str, now: float, n: int = 1) -> float:
        recent, wait = window_wait(self._times.get(address, []), self.limit, self.window, now, n)
        self._times[address] = recent if wait > 0 else recent + [now] * n
        self._times.move_to_end(address)
        while len(self._times) > self.max_clients:
            self._times.popitem(last=False)
        return wait

    async def spent(self, day: date) -> float:
        return self._spent if day == self._day else 0.0

    async def add_spend(self, usd: float, day: date) -> None:
        if day != self._day:
            self._day, self._spent = day, 0.0
        self._spent += usd


# KEYS[1]: the address's sorted set of times; ARGV: now, window, limit, n, a unique member prefix. The
# same arithmetic as limits.window_wait, run inside Redis so check and count are one step for all processes.
_TAKE = """
local now, window, limit, n = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count + n <= limit then
  for i = 1, n do redis.call('ZADD', KEYS[1], now, ARGV[5] .. ':' .. i) end
  redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
  return '0'
end
if n > limit then return tostring(window) end
local at = count - limit + n - 1
local decisive = redis.call('ZRANGE', KEYS[1], at, at, 'WITHSCORES')
return tostring(tonumber(decisive[2]) + window - now)
"""
# KEYS[1]: the day's total; ARGV: dollars, seconds to keep it.
_ADD = """
local total = redis.call('INCRBYFLOAT', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return total
"""
KEEP_DAY = 2 * 86_400  # a day's total outlives its UTC day a little, then goes
TIMEOUT = 2.0  # seconds to connect, and to wait for each reply


def connect(url: str, timeout: float = TIMEOUT) -> Redis:
    """A client for a `redis://` or `rediss://` (TLS) URL, with its password and database; it connects
    on its first command, one pooled connection per command in flight."""
    # One more try, at once, after a broken connection (a kept one can be stale: Redis restarted); none
    # after a timeout, so a frozen Redis holds a visitor for one timeout. redis-py's default (10 retries
    # with backoff, redis/_defaults.py in 8.1.0) would hold every visitor for many while Redis is down. A
    # command the old server ran after all is counted twice, which errs on the safe side for limits and budgets.
    retry = Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,))
    return Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=retry)


class RedisCounters:
    """The counters in Redis: a sorted set per address (expiring after a window) and a float per day."""

    def __init__(self, redis: Redis, limit: int, window: float):
        self.redis, self.limit, self.window = redis, limit, window
        self._take, self._add = redis.register_script(_TAKE), redis.register_script(_ADD)  # EVALSHA, else load
        where = redis.connection_pool.connection_kwargs
        self.where = f"{where.get('host', 'localhost')}:{where.get('port', 6379)}"  # for logs: never the password
        self._reachable = True

    def address_key(self, address: str) -> str:
        return f"hitl:limit:{hashlib.sha256(address.encode()).hexdigest()[:32]}"  # not in plain text

    def day_key(self, day: date) -> str:
        return f"hitl:spend:{day.isoformat()}"

    async def take(self, address: str, now: float, n: int = 1) -> float:
        member = f"{now!r}:{secrets.token_hex(4)}"  # unique, though two processes may take at the same instant
        key = self.address_key(address)
        return float(await self._call(self._take([key], [repr(now), self.window, self.limit, n, member])))

    async def spent(self, day: date) -> float:
        return float(await self._call(self.redis.get(self.day_key(day))) or 0)

    async def add_spend(self, usd: float, day: date) -> None:
        try:
            await self._call(self._add([self.day_key(day)], [repr(usd), KEEP_DAY]))
        except CountersUnavailable:
            log.warning("the cost of an image made on the server's key (%.4f USD) was not counted", usd)

    async def _call(self, command: Awaitable[Any]) -> Any:
        try:
            reply = await command
        except RedisError as exc:  # redis-py raises its own errors for sockets, timeouts and error replies
            if self._reachable:  # once per outage, not once per visitor
                log.warning("shared counters at %s unreachable (%s: %s): no generations on the server's key "
                            "until they are back", self.where, type(exc).__name__, exc)
            self._reachable = False
            raise CountersUnavailable(UNAVAILABLE) from None
        if not self._reachable:
            log.warning("shared counters at %s reachable again", self.where)
            self._reachable = True
        return reply


def counters_for(settings: Settings) -> SharedCounters:
    if settings.redis_url:
        return RedisCounters(connect(settings.redis_url), settings.ip_limit, settings.limit_window)
    return MemoryCounters(settings.ip_limit, settings.limit_window)
