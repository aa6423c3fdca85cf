"""A minimal asyncio Redis client: just what the shared counters need, so no Redis package is added.

Scope, deliberately small: `redis://[[user]:password@]host[:port][/db]` URLs (no TLS, no
Sentinel or Cluster); RESP2 requests as arrays of bulk strings; replies of the five RESP2 kinds
(simple string, error, integer, bulk string, array). One connection per event loop, one command
at a time under a lock (the counters send a few small commands per generation), a deadline on
every command (the wait for the lock included), and a fresh connection after any failure or
cancellation. No pipelining, pub/sub or transactions (so no error reply nested in an array).
"""

from __future__ import annotations

import asyncio
from urllib.parse import unquote, urlsplit


class RedisError(Exception):
    """An error reply from the server (wrong password, a script's error, ...)."""


class Redis:
    def __init__(self, url: str, timeout: float = 2.0):
        parts = urlsplit(url)
        if parts.scheme != "redis":
            raise ValueError("HITL_REDIS_URL must look like redis://[:password@]host[:port][/db]")
        self.host, self.port = parts.hostname or "localhost", parts.port or 6379
        self.db = int(parts.path.strip("/") or 0)
        self._auth = [unquote(x) for x in (parts.username, parts.password) if x] if parts.password else []
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def execute(self, *args: str | int | float) -> object:
        """Send one command and return its reply: str, int, bytes, None or a list of those.
        Raises RedisError for an error reply, OSError/EOFError/TimeoutError when the server cannot be reached."""
        if self._loop is not asyncio.get_running_loop():  # streams and locks belong to one loop
            self._loop, self._lock, self._streams = asyncio.get_running_loop(), asyncio.Lock(), None
        # One deadline for waiting on the lock and the command: behind a hung Redis, callers fail together.
        async with asyncio.timeout(self.timeout), self._lock:
            # A kept connection can be stale (Redis restarted): then one more try on a fresh one. Had the old
            # server run the command after all, it is counted twice, which errs on the safe side for limits.
            for retry in (False, True):
                reused = self._streams is not None
                try:
                    return await self._roundtrip(args)
                except RedisError:
                    raise  # a whole error reply was read: the connection is fine
                except (OSError, EOFError):
                    self._drop()
                    if retry or not reused:
                        raise
                except BaseException:  # cancelled (the deadline too), or an unreadable reply: what is
                    self._drop()       # left on the wire would be read as the next command's reply
                    raise

    async def _roundtrip(self, args) -> object:
        if self._streams is None:
            await self._connect()
        reader, writer = self._streams
        writer.write(_encode(args))
        await writer.drain()
        return await _read(reader)

    async def _connect(self) -> None:
        self._streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self._streams
        for command in ([["AUTH", *self._auth]] if self._auth else []) + ([["SELECT", self.db]] if self.db else []):
            writer.write(_encode(command))
            await writer.drain()
            try:
                await _read(reader)
            except RedisError:
                self._drop()
                raise

    def _drop(self) -> None:
        if self._streams is not None:
            self._streams[1].close()
        self._streams = None


def _encode(args) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


async def _read(reader: asyncio.StreamReader) -> object:
    line = await reader.readuntil(b"\r\n")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RedisError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else (await reader.readexactly(size + 2))[:-2]
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [await _read(reader) for _ in range(count)]
    raise OSError(f"not a RESP2 reply: {line[:20]!r}")
