"""A light load generator: one asyncio process speaking Gradio 6's queue protocol (sse_v3) over httpx.

Per session it does what the browser's JS client does: POST {root}/gradio_api/queue/join with
{"data", "fn_index", "session_hash", "event_data", "trigger_id"}, then reads
GET {root}/gradio_api/queue/data?session_hash=... as server-sent events until the server sends
"close_stream" after "process_completed"; then, as the page's <img> does, it fetches any image the
result links by URL instead of carrying inline. Optionally it holds the session's heartbeat stream
(GET {root}/gradio_api/heartbeat/{session_hash}) open, which is how Gradio learns that a tab closed.

Thousands of these fit in one event loop, where gradio_client needs threads per client.
Everything is bounded: each session has a deadline, and each stream a maximum message count.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import urljoin

import httpx

API = "/gradio_api"
MAX_MESSAGES = 2_000  # per session stream; a generation sends fewer than ten
IMAGE_MARK = b'"data:image/'
PAGE_HEADERS = {"x-gradio-user": "app"}  # what Gradio's own page sends (its client libraries send "api")


@dataclass
class Endpoint:
    """What a queue/join needs for one named event, read from the app's /config."""

    root: str
    fn_index: int
    trigger_id: int | None
    api_name: str
    inputs: list[dict] = field(default_factory=list)  # component configs, in order
    outputs: list[dict] = field(default_factory=list)

    def output_index(self, component_type: str) -> int:
        return next(i for i, c in enumerate(self.outputs) if c.get("type") == component_type)

    def data(self, text: str) -> list:
        """Inputs as the page would send them: each component's default value, the first textbox
        holding `text`, None for gr.State."""
        values, placed = [], False
        for component in self.inputs:
            if component.get("type") == "state":
                values.append(None)
            elif component.get("type") == "textbox" and not placed:
                values.append(text)
                placed = True
            else:
                values.append(component.get("props", {}).get("value"))
        return values


def endpoint(root: str, name: str, timeout: float = 30.0) -> Endpoint:
    """The event the page runs when the component with elem_id `name` is clicked, else the
    endpoint with api_name `name` (the bare app's button has no elem_id)."""
    root = root.rstrip("/")
    config = httpx.get(f"{root}/config", timeout=timeout).raise_for_status().json()
    if config.get("protocol") != "sse_v3":
        raise RuntimeError(f"unexpected Gradio protocol {config.get('protocol')!r}; this client speaks sse_v3")
    components = {c["id"]: c for c in config["components"]}
    clicked = [c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == name]
    deps = config["dependencies"]
    chosen = [d for d in deps if any(t == [i, "click"] for t in d.get("targets") or [] for i in clicked)]
    chosen = chosen or [d for d in deps if d.get("api_name") == name]
    if not chosen:
        raise KeyError(f"no event for {name!r} at {root}")
    dep = chosen[0]
    targets = [t for t in dep.get("targets") or [] if t[0] in clicked] or dep.get("targets") or []
    return Endpoint(root, dep["id"], targets[0][0] if targets else None, name,
                    [components[i] for i in dep["inputs"]], [components[i] for i in dep["outputs"]])


@dataclass
class SessionResult:
    ok: bool = False
    error: str = ""
    t_start: float = 0.0  # perf_counter just before queue/join
    t_first_image: float | None = None  # first process_generating that carries an image
    t_done: float | None = None  # process_completed received and the images it links fetched
    bytes_received: int = 0  # queue/join answer + every byte of this session's SSE stream + linked images
    messages: int = 0
    final: dict | None = None  # the process_completed message, when analyze=True
    # distinct image URL (data: or linked) -> (mime type, decoded size), in order of arrival (analyze=True)
    images: dict[str, tuple[str, int]] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return (self.t_done or float("nan")) - self.t_start

    @property
    def first_image(self) -> float:
        return (self.t_first_image or float("nan")) - self.t_start


def new_client(max_connections: int | None = None) -> httpx.AsyncClient:
    # No keep-alive: uvicorn closes a connection idle for 5 s, and when both event loops are busy
    # (N = 256 on 2 cores) a reused connection can be closed just as a request goes out on it
    # ("Server disconnected without sending a response"); browsers retry those, httpx does not.
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=0)
    # Read timeout: a queued event may wait silently; Gradio sends a heartbeat every 15 s.
    return httpx.AsyncClient(limits=limits, timeout=httpx.Timeout(60.0, connect=30.0))


def _strings(obj, found: list[str]) -> None:
    if isinstance(obj, str):
        if obj.startswith("data:image/"):
            found.append(obj)
    elif isinstance(obj, dict):
        for value in obj.values():
            _strings(value, found)
    elif isinstance(obj, list):
        for value in obj:
            _strings(value, found)


def _linked(obj, found: list[str]) -> None:
    """URLs of the files (images) a message links rather than carries: what a page then fetches."""
    if isinstance(obj, dict):
        url = obj.get("url")
        if (obj.get("meta") or {}).get("_type") == "gradio.FileData" and isinstance(url, str) \
                and not url.startswith("data:"):
            found.append(url)
        for value in obj.values():
            _linked(value, found)
    elif isinstance(obj, list):
        for value in obj:
            _linked(value, found)


def _decoded_size(data_url: str) -> int:
    return len(base64.b64decode(data_url.split(",", 1)[1]))


async def _fetch_linked(client: httpx.AsyncClient, ep: Endpoint, message: dict, result: SessionResult) -> bool:
    found: list[str] = []
    _linked(message.get("output"), found)
    for url in dict.fromkeys(found):
        response = await client.get(urljoin(ep.root + "/", url))
        result.bytes_received += len(response.content) + sum(len(k) + len(v) + 4 for k, v in response.headers.raw)
        if response.status_code != 200:
            result.error = f"image {response.status_code}: {url}"
            return False
        result.images.setdefault(url, (response.headers.get("content-type", ""), len(response.content)))
    return True


class _SessionRun:
    """One run_session while it runs. The step it is in lives here so that a timeout or HTTP error,
    raised from any step, can say where it happened ("join", "stream" or "image")."""

    def __init__(self, client: httpx.AsyncClient, ep: Endpoint, analyze: bool):
        self.client, self.ep, self.analyze = client, ep, analyze
        self.result = SessionResult()
        self.stage = "join"
        self.generating: list[bytes] = []  # raw process_generating lines, kept only when analyzing

    async def join(self, data: list, session_hash: str, headers: dict | None = None) -> bool:
        """POST queue/join as the page does (`headers`: what a proxy would add, X-Forwarded-For); False (with
        the error noted) if the server refuses."""
        join = await self.client.post(f"{self.ep.root}{API}/queue/join", json={
            "data": data, "fn_index": self.ep.fn_index, "session_hash": session_hash,
            "event_data": None, "trigger_id": self.ep.trigger_id}, headers={**PAGE_HEADERS, **(headers or {})})
        self.result.bytes_received += len(join.content)
        if join.status_code != 200:
            self.result.error = f"join {join.status_code}: {join.text[:200]}"
            return False
        return True

    async def read_stream(self, session_hash: str) -> None:
        """Reads the session's SSE stream, message by message, until the session is over."""
        self.stage = "stream"
        result = self.result
        async with self.client.stream("GET", f"{self.ep.root}{API}/queue/data",
                                      params={"session_hash": session_hash}) as stream:
            # Linear in the message size: a 1 MiB image is a 1.4 MB line arriving in many chunks, and
            # rescanning the whole buffer per chunk (as gradio_client does) costs tens of ms per message.
            buffer, scan = bytearray(), 0
            async for chunk in stream.aiter_raw():
                result.bytes_received += len(chunk)
                buffer += chunk
                while (end := buffer.find(b"\n\n", scan)) >= 0:
                    line = bytes(buffer[:end])
                    del buffer[:end + 2]
                    scan = 0
                    if await self.handle(line):
                        return
                # The separator may straddle chunks: resume one byte back, not from the start.
                scan = max(0, len(buffer) - 1)
        if result.t_done is None:
            result.error = result.error or "stream ended before process_completed"

    async def handle(self, line: bytes) -> bool:
        """One SSE event; True when the session is over (closed, failed, or past MAX_MESSAGES)."""
        if not line.startswith(b"data:"):
            return False
        result = self.result
        result.messages += 1
        if result.messages > MAX_MESSAGES:
            result.error = "too many messages"
            return True
        head = line[:64]  # the "msg" field comes first; no need to parse a megabyte to route it
        if b'"process_generating"' in head:
            self.preview(line)
        elif b'"process_completed"' in head:
            await self.complete(json.loads(line[5:]))
        elif b'"close_stream"' in head:
            return True
        elif b'"unexpected_error"' in head:
            result.error = line[:300].decode("utf-8", "replace")
            return True
        return False

    def preview(self, line: bytes) -> None:
        """A process_generating message: the first one carrying an image times the first preview."""
        if self.result.t_first_image is None and IMAGE_MARK in line:
            self.result.t_first_image = time.perf_counter()
        if self.analyze:
            self.generating.append(line)  # parsed after the run, not on the clock

    async def complete(self, message: dict) -> None:
        """process_completed: note the outcome, fetch the images it links (as the page's <img> would),
        and only then stop the clock."""
        result = self.result
        result.ok = bool(message.get("success"))
        if not result.ok:
            result.error = json.dumps(message.get("output"))[:200]
        if self.analyze:
            result.final = message
            for raw in self.generating:
                _note_images(result, json.loads(raw[5:]))
            _note_images(result, message)
        self.stage = "image"
        result.ok = result.ok and await _fetch_linked(self.client, self.ep, message, result)
        result.t_done = time.perf_counter()


async def run_session(client: httpx.AsyncClient, ep: Endpoint, data: list, *, timeout: float,
                      analyze: bool = False, session_hash: str | None = None,
                      headers: dict | None = None) -> SessionResult:
    """One event in one (new or given) session; returns timings and byte counts, never raises."""
    run = _SessionRun(client, ep, analyze)
    session_hash = session_hash or uuid.uuid4().hex[:12]
    run.result.t_start = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            if await run.join(data, session_hash, headers):
                await run.read_stream(session_hash)
    except TimeoutError:
        run.result.error = f"{run.stage}: timeout after {timeout:.0f} s"
    except httpx.HTTPError as exc:
        run.result.error = f"{run.stage}: {type(exc).__name__}: {exc}"[:200]
    return run.result


def _note_images(result: SessionResult, message: dict) -> None:
    found: list[str] = []
    _strings(message.get("output"), found)
    for url in found:
        if url not in result.images:
            result.images[url] = (url[5:url.index(";")], _decoded_size(url))


async def run_many(ep: Endpoint, make_data, n: int, *, timeout: float, analyze: bool = False,
                   client: httpx.AsyncClient | None = None) -> tuple[float, list[SessionResult]]:
    """n new sessions joining at once; returns (wall seconds until the last completes, results)."""
    own = client is None
    client = client or new_client()
    try:
        start = time.perf_counter()
        results = await asyncio.gather(*(run_session(client, ep, make_data(i), timeout=timeout, analyze=analyze)
                                         for i in range(n)))
        wall = time.perf_counter() - start
    finally:
        if own:
            await client.aclose()
    return wall, list(results)


class Heartbeats:
    """Holds each session's /heartbeat stream open, like an open browser tab; close() is closing the tabs."""

    def __init__(self, client: httpx.AsyncClient, root: str):
        self.client, self.root = client, root.rstrip("/")
        self.tasks: dict[str, asyncio.Task] = {}
        self.connected: dict[str, asyncio.Event] = {}

    def open(self, session_hash: str) -> None:
        self.connected[session_hash] = asyncio.Event()
        self.tasks[session_hash] = asyncio.create_task(self._hold(session_hash))

    async def _hold(self, session_hash: str) -> None:
        deadline = time.monotonic() + 3600  # bounded even if nobody closes it
        async with self.client.stream("GET", f"{self.root}{API}/heartbeat/{session_hash}",
                                      timeout=httpx.Timeout(60.0, read=None)) as stream:
            async for _ in stream.aiter_raw():
                self.connected[session_hash].set()
                if time.monotonic() > deadline:
                    return

    async def wait_connected(self, timeout: float) -> int:
        try:
            async with asyncio.timeout(timeout):
                await asyncio.gather(*(event.wait() for event in self.connected.values()))
        except TimeoutError:
            pass
        return sum(event.is_set() for event in self.connected.values())

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        self.tasks.clear()
