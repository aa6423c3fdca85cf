"""What a generation leaves in memory once it has ended (hitl/backends/clients.py): no request body, and few
SDK clients. Against the fake OpenAI on loopback, through the real SDK and its HTTP stack."""

from __future__ import annotations

import asyncio
import gc
import io
import os
import tracemalloc

import pytest
from PIL import Image

from hitl.backends import ImageService
from hitl.backends import clients as clients_module
from hitl.backends.base import ImageRequest
from hitl.core.stages import Candidate
from hitl.serving.config import load_settings

ROUNDS, CALLS = 4, 2  # a new own key each round, and two images per round as a click with count 2


def noise_png(side: int) -> bytes:
    """A picture that does not compress: its PNG is about side² × 3 bytes (4.1 MiB at 1200)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@pytest.mark.parametrize("api_style", ["responses", "images"])
@pytest.mark.parametrize("fault", [None, "server_error", "stream_cut"])
def test_no_request_body_outlives_its_generation_and_own_key_clients_go(fake, api_style, fault):
    """The SDK's streamed answers sit in reference cycles until a full garbage collection, each holding its
    request and so the whole body (the picture as base64: 5.5 MB here). With the collector off, as between
    its full passes, only reference counting frees anything: what the rounds leave must be less than one body.
    Then, collected, nothing of them is left, and the clients of keys no longer used were closed."""
    picture = Candidate(noise_png(1200), "image/png", "a street")
    body = len(picture.image) * 4 // 3
    settings = load_settings(api_key=None, base_url=fake.url, api_style=api_style, partial_images=2,
                             request_timeout=5, total_timeout=20, max_attempts=2)

    async def rounds(service: ImageService) -> tuple[int, int, list]:
        async def one_round(i: int) -> None:
            if fault:
                fake.fail_next(fault)
            backend = service.backend_for(f"sk-own-{i:04d}-{'k' * 30}")
            request = ImageRequest(f"round {i}", previous=picture, feedback="a door")
            await asyncio.gather(*(backend.generate(request, lambda _: None) for _ in range(CALLS)),
                                 return_exceptions=True)
            while fake.handling:  # the fake (threads of this process) still holding a request: not the app's
                await asyncio.sleep(0.01)
            fake.reset()  # the fake keeps each request it was sent: not the app's memory

        await one_round(-1)  # warm: imports, first connection, the SDK's caches
        clients = [lease.client for lease in service.clients._own.values()]
        gc.collect()
        baseline = tracemalloc.get_traced_memory()[0]
        gc.disable()
        try:
            for i in range(ROUNDS):
                await one_round(i)
                clients.extend(lease.client for lease in service.clients._own.values())
            left = tracemalloc.get_traced_memory()[0] - baseline
        finally:
            gc.enable()
        gc.collect()
        for _ in range(3):
            await asyncio.sleep(0)  # the SDK's streams close their generators on the loop once collected
        return left, tracemalloc.get_traced_memory()[0] - baseline, clients

    service = ImageService(settings)
    tracemalloc.start()
    try:
        left, collected, clients = asyncio.run(rounds(service))
    finally:
        tracemalloc.stop()
    assert left < body, f"{left / body:.1f} request bodies alive after {ROUNDS * CALLS} calls ended"
    assert collected < body / 4
    assert len(service.clients) <= clients_module.OWN_KEYS


def test_own_key_clients_are_few_closed_when_idle_or_pushed_out_but_never_mid_call(monkeypatch):
    now = [0.0]
    monkeypatch.setattr(clients_module, "OWN_KEYS", 2)
    service = ImageService(load_settings(api_key="sk-server-" + "s" * 30, base_url="http://127.0.0.1:9/v1"))
    service.clients.clock = lambda: now[0]
    server = service.clients.server

    async def scenario():
        busy = service.backend_for("sk-own-busy-" + "b" * 30)
        busy.lease.calls += 1  # a call under way on it, as `generate` counts one
        leases = [service.backend_for(f"sk-own-{i}-" + "k" * 30).lease for i in range(3)]
        await asyncio.sleep(0)
        assert len(service.clients) == 2 and all(len(d) == 64 for d in service.clients._own)  # by hash, not key
        assert leases[0].client.is_closed() and busy.lease.dropped and not busy.lease.client.is_closed()
        service.clients.done(busy.lease)  # its call ends: now it goes
        await asyncio.sleep(0)
        assert busy.lease.client.is_closed()
        now[0] += clients_module.IDLE + 1
        fresh = service.backend_for("sk-own-fresh-" + "f" * 30)
        await asyncio.sleep(0)
        assert [lease.client.is_closed() for lease in leases] == [True, True, True]  # idle too long
        assert list(service.clients._own.values()) == [fresh.lease]
        assert service.backend_for(None).client is server and not server.is_closed()  # the server's: for good

    asyncio.run(scenario())
