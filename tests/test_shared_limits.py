"""Limits and budgets shared past one process: the counters' contract (in memory and in a real
redis-server), how they reach Redis (URL, TLS, scripts, restarts, a frozen server), what happens when
Redis is gone, and two app processes that count together.

Run as a script, this file is one app process of the two-process test (see `app_process`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import pytest
from helpers import MESSAGE, TEST_SETTINGS, free_port, image_prompt, start_app, wait_until
from system_tools import which

from redis.asyncio.connection import SSLConnection
from redis.exceptions import RedisError

from hitl.serving.config import load_settings
from hitl.serving.shared_counters import (
    KEEP_DAY,
    TIMEOUT,
    UNAVAILABLE,
    CountersUnavailable,
    MemoryCounters,
    RedisCounters,
    connect,
    counters_for,
)

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "redis-test-password-0123456789"
DAY = date(2026, 11, 27)
REDIS_HINT = "`apt-get install -y redis-server` (or `brew install redis`)"


def run(coro):
    return asyncio.run(coro)


def command(url: str, *args, timeout: float = TIMEOUT):
    """One command on a fresh client, closed after it (each `run` is an event loop of its own)."""
    async def once():
        redis = connect(url, timeout)
        try:
            return await redis.execute_command(*args)
        finally:
            await redis.aclose()

    return run(once())


def stop(process: subprocess.Popen, patience: float) -> None:
    """Ask a child process to end; kill it if it has not within `patience` seconds."""
    process.terminate()
    try:
        process.wait(patience)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class RedisServer:
    """A real redis-server (Debian's package) on a loopback port, nothing kept on disk."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    def url(self, db: int = 1, password: str = PASSWORD) -> str:
        return f"redis://:{password}@127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        self.process = subprocess.Popen(
            [which("redis-server", REDIS_HINT), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--requirepass", PASSWORD], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.answers, 10)
        return self

    def answers(self) -> bool:
        assert self.process.poll() is None, "redis-server exited"
        try:
            return command(self.url(), "PING", timeout=0.5) is True
        except RedisError:
            return False

    def stop(self) -> None:
        stop(self.process, 5)


@pytest.fixture(scope="module")
def redis_server():
    server = RedisServer().start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server) -> str:
    """The module's redis-server, emptied for this test."""
    command(redis_server.url(), "FLUSHDB")
    return redis_server.url()


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def handle(request):
    """Factory of handles on one store of counters, as each app process holds one. In memory the
    store is one process, so every handle is the same object; in Redis each has its own connection."""
    if request.param == "memory":
        store: dict[tuple, MemoryCounters] = {}
        return lambda limit, window: store.setdefault((limit, window), MemoryCounters(limit, window))
    url = request.getfixturevalue("redis_url")
    return lambda limit, window: RedisCounters(connect(url), limit, window)


# -- the contract, in memory and in Redis ------------------------------------------------------
def test_an_address_gets_its_limit_then_the_wait_of_the_decisive_take(handle):
    counters = handle(2, 10.0)

    async def scenario():
        return [await counters.take("203.0.113.7", 100.0), await counters.take("203.0.113.7", 103.0),
                await counters.take("203.0.113.7", 104.0),  # full: 100 + 10 - 104
                await counters.take("198.51.100.9", 104.0),  # another address has its own window
                await counters.take("203.0.113.7", 110.5),  # 100 slid out; the refused 104 was not counted
                await counters.take("203.0.113.7", 111.0)]  # full again: 103 + 10 - 111

    assert run(scenario()) == [0.0, 0.0, pytest.approx(6.0), 0.0, 0.0, pytest.approx(2.0)]


def test_several_at_once_take_room_for_all_or_for_none(handle):
    """Four images per click: each counts; a click the window has no room for counts nothing."""
    counters = handle(4, 10.0)

    async def scenario():
        return [await counters.take("203.0.113.7", 100.0, 3), await counters.take("203.0.113.7", 101.0, 2),
                await counters.take("203.0.113.7", 102.0, 1), await counters.take("203.0.113.7", 103.0, 5),
                await counters.take("203.0.113.7", 110.5, 3)]  # the three of 100 slid out

    assert run(scenario()) == [0.0, pytest.approx(9.0), 0.0, pytest.approx(10.0), 0.0]


def test_a_zero_limit_allows_nothing(handle):
    assert run(handle(0, 10.0).take("203.0.113.7", 5.0)) == pytest.approx(10.0)


def test_take_is_one_atomic_step_across_handles(handle):
    """Twenty takes at once through two handles (two processes, in Redis): exactly the limit gets through."""
    first, second = handle(5, 60.0), handle(5, 60.0)

    async def scenario():
        takes = [counters.take("203.0.113.7", 1000.0 + i / 100) for i in range(10) for counters in (first, second)]
        return await asyncio.gather(*takes)

    waits = run(scenario())
    assert sum(wait == 0 for wait in waits) == 5 and all(wait > 0 for wait in waits if wait != 0)


def test_the_daily_spend_adds_up_per_utc_day(handle):
    first, second = handle(1, 60.0), handle(1, 60.0)

    async def scenario():
        before = await first.spent(DAY)
        await first.add_spend(0.25, DAY)
        await second.add_spend(0.5, DAY)
        return before, await second.spent(DAY), await first.spent(date(2026, 11, 28))

    assert run(scenario()) == (0.0, pytest.approx(0.75), 0.0)


def test_redis_keys_expire_and_hold_no_addresses(redis_url):
    counters = RedisCounters(connect(redis_url), 3, 60.0)

    async def scenario():
        await counters.take("203.0.113.7", 1000.0)
        await counters.add_spend(0.1, DAY)
        keys = sorted(key.decode() for key in await counters.redis.keys("*"))
        return keys, [await counters.redis.pttl(key) for key in keys]

    keys, ttls = run(scenario())
    assert keys == sorted([counters.address_key("203.0.113.7"), counters.day_key(DAY)])
    assert not any("203.0.113.7" in key for key in keys)
    ttl = dict(zip(keys, ttls, strict=True))
    address_ttl, day_ttl = ttl[counters.address_key("203.0.113.7")], ttl[counters.day_key(DAY)]
    assert 0 < address_ttl <= 60_000 and KEEP_DAY * 1000 - 60_000 < day_ttl <= KEEP_DAY * 1000


# -- how the counters reach Redis ------------------------------------------------------------------
def test_a_rediss_url_speaks_tls_with_the_usual_timeouts(monkeypatch):
    """`rediss://` builds a TLS client (no connection until the first command), and that first
    command opens with a TLS handshake: a plain server on loopback sees a ClientHello."""
    monkeypatch.setenv("HITL_REDIS_URL", "rediss://:secret@cache.internal:6380/2")
    counters = counters_for(load_settings())
    assert isinstance(counters, RedisCounters) and counters.where == "cache.internal:6380"
    pool = counters.redis.connection_pool
    assert pool.connection_class is SSLConnection and pool.connection_kwargs["db"] == 2
    assert pool.connection_kwargs["socket_timeout"] == pool.connection_kwargs["socket_connect_timeout"] == TIMEOUT
    assert connect("redis://cache:6379").connection_pool.connection_class is not SSLConnection

    async def first_bytes():
        heard = asyncio.get_running_loop().create_future()

        async def listen(reader, writer):
            heard.set_result(await reader.read(3))
            writer.close()

        server = await asyncio.start_server(listen, "127.0.0.1", 0)
        counters = RedisCounters(connect(f"rediss://127.0.0.1:{server.sockets[0].getsockname()[1]}/0", 1.0), 2, 60.0)
        try:
            with pytest.raises(CountersUnavailable):
                await counters.take("203.0.113.7", 1000.0)
            return await heard
        finally:
            server.close()

    assert run(first_bytes())[:2] == b"\x16\x03"  # a TLS handshake record


def test_the_url_chooses_password_and_database(redis_server):
    with pytest.raises(CountersUnavailable):
        run(RedisCounters(connect(redis_server.url(password="not-it")), 1, 60.0).take("203.0.113.7", 1000.0))
    assert run(RedisCounters(connect(redis_server.url(db=2)), 1, 60.0).take("203.0.113.7", 1000.0)) == 0.0
    assert run(RedisCounters(connect(redis_server.url(db=3)), 1, 60.0).take("203.0.113.7", 1000.0)) == 0.0
    assert run(RedisCounters(connect(redis_server.url(db=2)), 1, 60.0).take("203.0.113.7", 1001.0)) > 0


def test_the_scripts_run_again_after_redis_forgets_them(redis_url):
    """Scripts go by their SHA (EVALSHA); a Redis that restarted or flushed its script cache gets them again."""
    counters = RedisCounters(connect(redis_url), 2, 60.0)

    async def scenario():
        first = await counters.take("203.0.113.7", 1000.0)
        await counters.redis.script_flush()
        await counters.add_spend(0.5, DAY)
        return first, await counters.take("203.0.113.7", 1001.0), await counters.take("203.0.113.7", 1002.0), \
            await counters.spent(DAY)

    assert run(scenario()) == (0.0, 0.0, pytest.approx(58.0), pytest.approx(0.5))


def test_a_cancelled_command_does_not_answer_the_next_one(redis_url):
    """A visitor's Cancel can land while a command waits for its reply: that reply must not be read
    as the next command's on the counters' pooled connections."""
    counters = RedisCounters(connect(redis_url), 2, 60.0)

    async def unblocked() -> None:
        """Until the server blocks no client: the BLPOP's reply (nil) is sent, or its connection was dropped."""
        watcher, deadline = connect(redis_url), time.monotonic() + 10
        try:
            while (await watcher.info("clients"))["blocked_clients"]:
                assert time.monotonic() < deadline, "the BLPOP is still blocked"
                await asyncio.sleep(0.05)
        finally:
            await watcher.aclose()

    async def scenario():
        await counters.add_spend(0.25, DAY)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(counters.redis.blpop(["nothing-here"], 0.5), 0.1)
        await unblocked()
        return await counters.spent(DAY), await counters.take("203.0.113.7", 1000.0)

    assert run(scenario()) == (pytest.approx(0.25), 0.0)


@pytest.mark.redis
def test_the_counters_say_at_once_when_redis_is_down_and_carry_on_after_restarts():
    server = RedisServer().start()
    counters = RedisCounters(connect(server.url(), timeout=1.0), 5, 60.0)
    loop = asyncio.new_event_loop()  # one loop throughout, as in the app: its pooled connections go stale

    def take(at: float) -> float:
        return loop.run_until_complete(counters.take("203.0.113.7", at))

    try:
        assert take(1000.0) == 0.0
        server.stop()
        began = time.monotonic()
        with pytest.raises(CountersUnavailable):
            take(1001.0)
        assert time.monotonic() - began < 0.5  # refused, not retried with backoff
        server.start()
        assert take(1002.0) == 0.0
        server.stop()
        server.start()  # the kept connection is now stale: a fresh one takes its place, nobody is refused
        assert take(1003.0) == 0.0
    finally:
        loop.close()
        server.stop()


def test_a_frozen_redis_refuses_everyone_within_the_timeout():
    """Ten visitors behind a Redis that accepts but never answers are each refused within their own
    timeout (1 s), together: not one after another, and not after a retry."""
    async def scenario():
        async def silent(reader, writer):
            await reader.read()  # reads the commands, never replies

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        counters = RedisCounters(connect(f"redis://127.0.0.1:{server.sockets[0].getsockname()[1]}/0", 1.0), 2, 60.0)
        began = time.monotonic()
        try:
            takes = asyncio.gather(*(counters.take("203.0.113.7", 1000.0) for _ in range(10)), return_exceptions=True)
            return await asyncio.wait_for(takes, 3.0), time.monotonic() - began
        finally:
            server.close()

    outcomes, took = run(scenario())
    assert len(outcomes) == 10 and all(isinstance(outcome, CountersUnavailable) for outcome in outcomes)
    assert took < 1.8  # two timeouts would be 2 s: a margin for a busy machine, none for a retry


# -- Redis gone: the server's key waits, visitors' own keys do not --------------------------------
@pytest.mark.redis
def test_unreachable_counters_refuse_and_log_once_without_the_password(caplog):
    port = free_port()
    counters = RedisCounters(connect(RedisServer(port).url(), timeout=0.5), 2, 60.0)
    caplog.set_level(logging.INFO, logger="hitl.serving.shared_counters")

    async def attempts():
        for _ in range(3):
            with pytest.raises(CountersUnavailable, match="cannot reach its usage counters"):
                await counters.take("203.0.113.7", 1000.0)
        with pytest.raises(CountersUnavailable):
            await counters.spent(DAY)
        await counters.add_spend(0.2, DAY)  # the image is made: its lost count is logged, not raised

    run(attempts())
    unreachable = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(unreachable) == 1 and f"127.0.0.1:{port}" in unreachable[0].getMessage()
    assert any("was not counted" in r.getMessage() for r in caplog.records)
    server = RedisServer(port).start()
    try:
        assert run(counters.take("203.0.113.7", 1000.0)) == 0.0
        assert any("reachable again" in r.getMessage() for r in caplog.records)
    finally:
        server.stop()
    assert PASSWORD not in caplog.text


def test_the_app_with_redis_gone_says_so_and_takes_own_keys(launch, fake):
    from gradio_client import Client

    url = launch(**TEST_SETTINGS, base_url=fake.url, redis_url=RedisServer(free_port()).url(), daily_budget_usd=1.0)
    refused = Client(url, verbose=False).predict("on the server's key", api_name="/generate")
    assert refused[MESSAGE] == UNAVAILABLE and fake.attempts == 0
    own = Client(url, verbose=False).predict("on my key", key="sk-own-key-of-a-visitor-0123456789",
                                             api_name="/generate")
    assert own[MESSAGE] == "" and image_prompt(own) == "on my key"


# -- two app processes, one Redis ------------------------------------------------------------------
class AppProcess:
    """The real app in its own Python process (this file run as a script), limits on."""

    def __init__(self, settings: dict, redis_url: str):
        env = {**os.environ, "HITL_REDIS_URL": redis_url,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen([sys.executable, __file__, json.dumps(settings)], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, encoding="utf-8")
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.output.append(line)
            self.lines.put(line)

    def url(self, limit: float = 60.0) -> str:
        try:
            while not (line := self.lines.get(timeout=limit)).startswith("http://"):
                pass
        except queue.Empty:
            raise AssertionError(f"the app process did not start: {''.join(self.output)[-2000:]}") from None
        return line.strip()

    def stop(self) -> None:
        stop(self.process, 10)


def test_a_limit_and_a_budget_hold_across_two_app_processes(redis_url, fake):
    from gradio_client import Client
    from test_costs import reported_cost

    settings = {**TEST_SETTINGS, "base_url": fake.url, "ip_limit": 2, "limit_window": 60, "proxy_hops": 1,
                "daily_budget_usd": reported_cost() * 1.5}
    apps = [AppProcess(settings, redis_url) for _ in range(2)]
    try:
        a, b = (app.url() for app in apps)

        def visitor(url: str, address: str) -> Client:  # behind the load balancer: one trusted hop
            return Client(url, verbose=False, headers={"X-Forwarded-For": address})

        on_a = visitor(a, "203.0.113.7")
        assert on_a.predict("one", api_name="/generate")[MESSAGE] == ""
        assert on_a.predict(api_name="/regenerate")[MESSAGE] == ""  # 2 of 2 for this address; 2 × cost spent
        # (a) The address's limit, reached on A, holds on B, which has not seen it before.
        limited = visitor(b, "203.0.113.7").predict("two", api_name="/generate")[MESSAGE]
        assert limited.startswith("Generation limit reached. Try again in ")
        assert 55 <= int(limited.split()[-2]) <= 60
        # (b) The daily budget, spent through A, refuses on B for another address.
        spent = visitor(b, "198.51.100.9").predict("three", api_name="/generate")[MESSAGE]
        assert spent.startswith("Today's budget for this app's OpenAI key is spent.")
        assert fake.attempts == 2
    finally:
        for app in apps:
            app.stop()


if __name__ == "__main__":  # one app process of the test above: python tests/test_shared_limits.py '<settings>'
    demo = start_app(**json.loads(sys.argv[1]))
    print(demo.local_url, flush=True)
    demo.block_thread()
