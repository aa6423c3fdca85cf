"""Issue 24, how it is shown: a bystander's generation while one address floods the app.

The app trusts one proxy hop, as on a Space, so every request names its caller in X-Forwarded-For
(as tests/test_limits.py does). The per-address limit is 1: the flooder spends its one generation
first, and each bystander sample comes from an address of its own. Then, interleaved, a bystander
generates once on the idle app and once while the flooder's process sends the page's Generate,
`workers` calls at a time, each in a new session: every other call starts from a big picture (a
4096×4096 PNG), the rest carry a giant prompt. All of them should be refused (the address's limit,
the prompt's length). The flooder runs in a process of its own, so its work never delays the
bystander's clock in this one; it does share the machine's cores with the app, as a real attacker's
machine would not.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import statistics
import threading
import time
import uuid
from collections import Counter

import httpx

from bench import loadgen

FLOODER = "203.0.113.66"  # documentation addresses (RFC 5737)
BYSTANDER = "198.51.100.{}"
PICTURE_SIDE = 4096
GIANT_PROMPT = 2 << 20  # characters: the 2 MiB prompts, 65 × the app's limit
RAMP = 1.0  # s of flooding before the bystander clicks, so the queue is under load when it joins
MARK = "SESSION-HASH-HERE"
REFUSALS = {b"Generation limit reached": "refused: the address's limit",
            b"characters long; the limit is": "refused: the prompt's length"}
SEEN = 256 << 10  # bytes of a flood call's stream kept to read its outcome (a refusal's are a few KB)


def settings() -> dict:
    """The app's settings for this phase: limits on, one trusted proxy hop, the app's own session caps."""
    from hitl.serving.config import load_settings

    defaults = load_settings(api_key=None)
    return {"proxy_hops": 1, "ip_limit": 1, "session_limit": defaults.session_limit,
            "sessions_per_address": defaults.sessions_per_address, "call_rate": defaults.call_rate,
            "call_burst": defaults.call_burst}


def address(i: int) -> dict:
    """The header a trusted proxy adds for bystander number `i` (each has its own address)."""
    return {"x-forwarded-for": BYSTANDER.format(1 + i % 250)}


# -- the flooder's process -----------------------------------------------------------------------

def picture_url(side: int = PICTURE_SIDE) -> str:
    """A 4096×4096 PNG that compresses well (the issue's was 75 KB), as a data URL."""
    from PIL import Image, ImageDraw

    picture = Image.new("RGB", (side, side), (40, 90, 160))
    draw = ImageDraw.Draw(picture)
    for x in range(0, side, 64):
        draw.line([(x, 0), (side - x, side)], fill=(230, 200, 60), width=3)
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def bodies(fn_index: int, trigger_id: int | None, data: list, prompt_at: int, upload_at: int,
           picture: str) -> list[bytes]:
    """The flood's two queue/join bodies, encoded once (a real attacker pays for encoding elsewhere):
    `picture` to start from, and a giant prompt. MARK stands where each call's session hash goes."""
    with_picture, with_prompt = list(data), list(data)
    with_picture[upload_at] = picture
    with_prompt[prompt_at] = ("a giant prompt " * (GIANT_PROMPT // 15 + 1))[:GIANT_PROMPT]
    return [json.dumps({"data": d, "fn_index": fn_index, "session_hash": MARK, "event_data": None,
                        "trigger_id": trigger_id}).encode() for d in (with_picture, with_prompt)]


class Flood:
    """`workers` loops sending flood calls while `on` is set, at most `max_calls` in all; `pause` stops
    new calls and waits until those under way have ended."""

    def __init__(self, root: str, templates: list[bytes], workers: int, max_calls: int):
        self.root, self.workers, self.max_calls = root, workers, max_calls
        self.templates = [body.split(MARK.encode()) for body in templates]
        self.on = asyncio.Event()
        self.calls = self.under_way = 0
        self.outcomes: Counter[str] = Counter()

    async def run(self) -> None:
        async with loadgen.new_client() as client:
            await asyncio.gather(*(self._worker(client) for _ in range(self.workers)))

    async def pause(self) -> dict:
        self.on.clear()
        deadline = time.monotonic() + 60
        while self.under_way and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return {"calls": self.calls, "under_way": self.under_way, "outcomes": dict(self.outcomes)}

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while self.calls < self.max_calls:
            await self.on.wait()
            self.calls += 1
            self.under_way += 1
            prefix, suffix = self.templates[self.calls % 2]
            session_hash = uuid.uuid4().hex[:12]
            try:
                outcome = await self._call(client, prefix + session_hash.encode() + suffix, session_hash)
            except httpx.HTTPError as exc:
                outcome = f"error: {type(exc).__name__}"
            finally:
                self.under_way -= 1
            self.outcomes[outcome] += 1

    async def _call(self, client: httpx.AsyncClient, body: bytes, session_hash: str) -> str:
        """One flood call, as the page sends Generate; its outcome, read from the stream's first bytes."""
        join = await client.post(f"{self.root}{loadgen.API}/queue/join", content=body, headers={
            **loadgen.PAGE_HEADERS, "content-type": "application/json", "x-forwarded-for": FLOODER})
        if join.status_code != 200:
            return f"join answered {join.status_code}"
        seen = bytearray()
        async with client.stream("GET", f"{self.root}{loadgen.API}/queue/data",
                                 params={"session_hash": session_hash}) as stream:
            async for chunk in stream.aiter_raw():
                seen += chunk[:SEEN - len(seen)]
                if b"close_stream" in chunk:
                    break
        refusal = next((what for mark, what in REFUSALS.items() if mark in seen), None)
        return refusal or ("not refused" if b'"process_completed"' in seen else "no answer")


def flood_main(conn, root: str, fn_index: int, trigger_id: int | None, data: list, prompt_at: int, upload_at: int,
               workers: int, max_calls: int) -> None:
    """The flooder's process: its loop runs in a thread; the pipe says "flood", "pause" or "stop"."""
    from bench.servers import _serve_until_stopped

    picture = picture_url()
    loop = asyncio.new_event_loop()
    flood = Flood(root, bodies(fn_index, trigger_id, data, prompt_at, upload_at, picture), workers, max_calls)
    threading.Thread(target=loop.run_until_complete, args=(flood.run(),), daemon=True).start()
    conn.send({"pid": os.getpid(), "picture_bytes": len(picture) * 3 // 4})

    def command(message: str) -> dict:
        if message == "flood":
            loop.call_soon_threadsafe(flood.on.set)
            return {"calls": flood.calls}
        return asyncio.run_coroutine_threadsafe(flood.pause(), loop).result(90)

    _serve_until_stopped(conn, command)


# -- the bystander, in the benchmark's process ----------------------------------------------------

def flood_kwargs(ep: loadgen.Endpoint, workers: int, max_calls: int) -> dict:
    """What the flooder's process needs to send the page's Generate as the browser does."""
    elem_ids = [c.get("props", {}).get("elem_id") for c in ep.inputs]
    data = ep.data("a flood")
    return dict(root=ep.root, fn_index=ep.fn_index, trigger_id=ep.trigger_id, data=data,
                prompt_at=data.index("a flood"), upload_at=elem_ids.index("upload-data"), workers=workers,
                max_calls=max_calls)


async def bystander(client: httpx.AsyncClient, ep: loadgen.Endpoint, i: int, timeout: float,
                    app_cpu) -> tuple[loadgen.SessionResult, float]:
    """One bystander generation from an address of its own; with the app's CPU seconds meanwhile."""
    before = app_cpu()
    result = await loadgen.run_session(client, ep, ep.data(f"a bystander's kite {i}"), timeout=timeout,
                                       headers=address(i))
    return result, app_cpu() - before


async def flooded(client: httpx.AsyncClient, ep: loadgen.Endpoint, flooder, i: int, timeout: float, app_cpu,
                  out: dict) -> tuple[loadgen.SessionResult, float]:
    """A bystander generation under the flood, which begins RAMP s before it and pauses once it is done;
    the flood's seconds and the app's CPU seconds meanwhile add up in `out`."""
    cpu, start = app_cpu(), time.monotonic()
    await asyncio.to_thread(flooder.ask, "flood")
    await asyncio.sleep(RAMP)
    measured = await bystander(client, ep, i, timeout, app_cpu)
    out["flooder"] = await asyncio.to_thread(flooder.ask, "pause", 90)
    out["flood_seconds"] += time.monotonic() - start
    out["flood_app_cpu"] += app_cpu() - cpu
    return measured


async def measure(ep: loadgen.Endpoint, flooder, app_cpu, *, samples: int, timeout: float) -> dict:
    """Bystander generations on the idle app and under the flood, interleaved (which goes first alternates)."""
    out: dict = {"idle": [], "flood": [], "idle_cpu": [], "flood_cpu": [], "errors": [], "flood_seconds": 0.0,
                 "flood_app_cpu": 0.0}
    async with loadgen.new_client() as client:
        spent = await loadgen.run_session(client, ep, ep.data("the flooder's one generation"), timeout=timeout,
                                          headers={"x-forwarded-for": FLOODER})
        out["flooder_spent_its_limit"] = spent.ok
        await bystander(client, ep, 0, timeout, app_cpu)  # warm-up
        for i in range(samples):
            for flooding in ((False, True) if i % 2 == 0 else (True, False)):
                who = 1 + 2 * i + flooding
                result, cpu = await (flooded(client, ep, flooder, who, timeout, app_cpu, out) if flooding
                                     else bystander(client, ep, who, timeout, app_cpu))
                key = "flood" if flooding else "idle"
                if not result.ok:
                    out["errors"].append(f"{key}: {result.error}")
                    continue
                out[key].append(result.total)
                out[f"{key}_cpu"].append(cpu / result.total)
    return out


def summary(raw: dict) -> dict:
    """The p50s and their ratio, and what the flood was and met."""
    def p50(values: list[float]) -> float:
        return statistics.median(values) if values else float("nan")

    flooder = raw.get("flooder", {"calls": 0, "outcomes": {}, "under_way": 0})
    idle, flood = p50(raw["idle"]), p50(raw["flood"])
    # The app's CPU while flooding, less what it spends at the idle bystander's pace, per flood call.
    extra = raw["flood_app_cpu"] - p50(raw["idle_cpu"]) * raw["flood_seconds"]
    return {"samples": min(len(raw["idle"]), len(raw["flood"])), "idle_p50": idle, "flood_p50": flood,
            "ratio": flood / idle, "idle_max": max(raw["idle"], default=float("nan")),
            "flood_max": max(raw["flood"], default=float("nan")),
            "idle_cpu": p50(raw["idle_cpu"]), "flood_cpu": p50(raw["flood_cpu"]),
            "calls": flooder["calls"], "rate": flooder["calls"] / raw["flood_seconds"] if raw["flood_seconds"] else 0,
            "cpu_ms_per_call": 1000 * extra / flooder["calls"] if flooder["calls"] else float("nan"),
            "outcomes": flooder["outcomes"], "errors": raw["errors"],
            "flooder_spent_its_limit": raw["flooder_spent_its_limit"]}
