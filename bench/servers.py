"""The benchmark's server processes: the fake OpenAI server, the real app, and the bare Gradio floor.

Each runs in its own process (so none steals another's GIL) started with multiprocessing's
"spawn" method. A process reports its URLs through a pipe, then serves until the parent says
"stop", the parent dies, or a hard deadline passes. Everything listens on 127.0.0.1 only.

The app process also runs a small debug HTTP server (in this wrapper only, never in hitl/)
that reports RSS, Gradio's per-session stores and tracemalloc, for the memory measurement.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import socket
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

ROOT = Path(__file__).resolve().parent.parent
HARD_DEADLINE = 3 * 3600  # seconds; no server process outlives this
BENCH_KEY = "sk-bench-0000000000000000000000000000000000000000BENCH"
BIG = 16 * 1024  # strings at least this long count as image payloads in the memory report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve_until_stopped(conn, on_message=None) -> None:
    """Block until "stop", a dead parent, or the hard deadline; answer other messages."""
    parent = os.getppid()
    deadline = time.monotonic() + HARD_DEADLINE
    while time.monotonic() < deadline and os.getppid() == parent:
        try:
            if not conn.poll(1.0):
                continue
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message == "stop":
            return
        conn.send(on_message(message) if on_message else None)


# -- the fake OpenAI server ---------------------------------------------------------------------

def fake_main(conn, latency: float, image_bytes: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from fake_openai import FakeOpenAI

    # Not strict: checking every body against the SDK's types is the tests' job, and its CPU would be
    # counted against the app (the fake shares the machine's 2 cores; the bare floor never calls it).
    fake = FakeOpenAI(latency=latency, image_bytes=image_bytes, strict=False)
    url = fake.start()
    # A deep accept backlog, whatever the fake's version: with socketserver's default of 5 a burst
    # of connections waits on SYN retransmits (1 s, 3 s...) and the app sees APIConnectionError,
    # which is the fake's limit, not the app's. Linux applies a second listen() to the live socket.
    fake._server.socket.listen(4096)
    conn.send({"url": url, "pid": os.getpid()})

    def configure(message: dict) -> dict:
        for key in ("latency", "image_bytes"):
            if key in message:
                setattr(fake, key, message[key])
        fake.reset()  # drops recorded requests, so the fake's memory stays flat
        return {"latency": fake.latency, "image_bytes": fake.image_bytes}

    _serve_until_stopped(conn, configure)
    fake.stop()


# -- the app and the bare floor app ------------------------------------------------------------

def _prepare_env() -> None:
    os.environ.setdefault("GRADIO_TEMP_DIR", tempfile.mkdtemp(prefix="hitl-bench-gradio-"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.pop("OPENAI_API_KEY", None)
    os.environ.pop("OPENAI_BASE_URL", None)


def bare_demo(latency: float):
    """The floor: a Gradio app whose handler only awaits the same latency."""
    import asyncio

    import gradio as gr

    with gr.Blocks(analytics_enabled=False) as demo:
        prompt = gr.Textbox(label="Prompt")
        out = gr.Textbox(label="Out")
        button = gr.Button("Go")

        async def handler(text: str) -> str:
            await asyncio.sleep(latency)
            return "done: " + text[:20]

        button.click(handler, prompt, out, api_name="generate", concurrency_limit=None)
    demo.queue(default_concurrency_limit=None)
    return demo


def app_main(conn, kind: str, settings: dict, launch: dict, latency: float, trace_memory: bool = False,
             ui_module: str = "hitl.web.ui") -> None:
    """kind "hitl": the real app via hitl.web.ui.build_demo; kind "bare": the floor app.
    Extra environment (GRADIO_ANALYTICS_CACHE_FREQUENCY, MALLOC_*) is set by the parent at spawn."""
    _prepare_env()
    sys.path.insert(0, str(ROOT))
    if trace_memory:
        import tracemalloc
        tracemalloc.start(4)
    import logging
    logging.basicConfig(level=logging.WARNING)
    _time_analytics()

    import importlib

    from hitl.serving.config import load_settings
    from hitl.serving.memory import freeze_startup, return_freed_images_to_the_os

    return_freed_images_to_the_os()  # as app.py does
    ui = importlib.import_module(ui_module)  # hitl.web.ui, or a candidate change to compare (--ui-module)
    app_settings = load_settings(**settings)
    # Both apps launch with the app's own options (max_threads included), so they queue alike.
    options = {**ui.launch_options(app_settings), **launch}
    demo = ui.build_demo(app_settings) if kind == "hitl" else bare_demo(latency)
    demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=_free_port(), quiet=True,
                **options)
    # Launching leaves a few unreachable asyncio loops behind whose __del__ complains ("Invalid file
    # descriptor: -1") when a collection finds them; collect them now, quietly, not mid-measurement.
    hook, sys.unraisablehook = sys.unraisablehook, lambda unraisable: None
    try:
        gc.collect()
    finally:
        sys.unraisablehook = hook
    if kind == "hitl":
        freeze_startup()  # as app.py does once it is up (the bare floor is a Gradio app as it comes)
    debug = _start_debug_server(demo)
    conn.send({"url": demo.local_url.rstrip("/"), "debug": debug, "pid": os.getpid()})
    _serve_until_stopped(conn)
    demo.close()


ANALYTICS = {"calls": 0, "seconds": 0.0, "rebuilt": 0}
_ANALYTICS_ORIGINAL = None


def _time_analytics() -> None:
    """Time Gradio's per-event analytics summary (a pandas DataFrame of up to 10,000 events, rebuilt
    every GRADIO_ANALYTICS_CACHE_FREQUENCY events), in this wrapper only, so the report can say
    what it costs. The wrapped method behaves exactly as before."""
    from gradio.queueing import Queue

    global _ANALYTICS_ORIGINAL
    original = _ANALYTICS_ORIGINAL = Queue.compute_analytics_summary

    def timed(self, records):
        before = self.event_count_at_last_cache
        start = time.perf_counter()
        try:
            return original(self, records)
        finally:
            ANALYTICS["seconds"] += time.perf_counter() - start
            ANALYTICS["calls"] += 1
            ANALYTICS["rebuilt"] += self.event_count_at_last_cache != before

    Queue.compute_analytics_summary = timed


# -- debug endpoint (bench wrapper only) --------------------------------------------------------

def rss_kib(pid: int | str = "self") -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="utf-8").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return -1


def _big_strings(obj, seen: set[int], depth: int = 0) -> int:
    """Bytes of long str/bytes reachable from obj through containers, dataclasses and objects."""
    if id(obj) in seen or depth > 12:
        return 0
    if isinstance(obj, (str, bytes)):
        if len(obj) >= BIG:
            seen.add(id(obj))
            return len(obj)
        return 0
    if isinstance(obj, (int, float, bool, type(None))):
        return 0
    seen.add(id(obj))
    if isinstance(obj, dict):
        return sum(_big_strings(v, seen, depth + 1) for v in list(obj.values()))
    if isinstance(obj, (list, tuple, set, frozenset)):
        return sum(_big_strings(v, seen, depth + 1) for v in list(obj))
    if dataclasses.is_dataclass(obj) or hasattr(obj, "__dict__"):
        return sum(_big_strings(v, seen, depth + 1) for v in list(vars(obj).values()))
    return 0


def _stats(demo, collect: bool) -> dict:
    if collect:
        gc.collect()
    from hitl.web import gradio_internals

    sessions = gradio_internals.sessions(demo)  # the bench also reads deeper internals, for diagnosis only
    seen: set[int] = set()
    state_bytes = sum(_big_strings(s.state_data, seen) for s in sessions)
    config_bytes = sum(_big_strings(s.config_values, seen) for s in sessions)
    # Components a session replaced with its own copy (every gr.Column(visible=...) update does that).
    copies = sum(1 for s in sessions for k, v in list(s.blocks_config.blocks.items()) if demo.blocks.get(k) is not v)
    queue = demo._queue
    app = demo.server_app
    out = {
        "rss_kib": rss_kib(),
        "sessions": len(sessions),
        "closed_sessions": sum(bool(s.is_closed) for s in sessions),
        # Seconds Gradio keeps a closed session's gr.State (its default is 3600; an unload handler may lower it).
        "closed_ttl": sorted({getattr(s, "STATE_TTL_WHEN_CLOSED", None) for s in sessions if s.is_closed}),
        "sessions_with_state": sum(bool(s.state_data) for s in sessions),
        "image_bytes_in_state_data": state_bytes,
        "image_bytes_in_config_values": config_bytes,
        "session_component_copies": copies,
        "image_bytes_in_pending_diff_streams": _big_strings(dict(demo.pending_diff_streams), seen),
        "app_iterators": len(app.iterators) if app else 0,
        "queue_event_analytics": len(queue.event_analytics),
        "queue_pending_sessions": len(queue.pending_messages_per_session),
        "queue_events": len(queue.event_ids_to_events),
        "gc_objects": len(gc.get_objects()) if collect else None,
        "analytics": dict(ANALYTICS),
    }
    import tracemalloc
    if tracemalloc.is_tracing():
        current, peak = tracemalloc.get_traced_memory()
        out["traced_current"], out["traced_peak"] = current, peak
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        top = []
        for stat in snapshot.statistics("traceback")[:6]:
            frames = [f"{Path(f.filename).name}:{f.lineno}" for f in stat.traceback]
            top.append({"kib": stat.size // 1024, "count": stat.count, "where": " <- ".join(frames)})
        out["traced_top"] = top
    return out


def _expire_closed(demo) -> int:
    """Pretend the time Gradio keeps a closed session's gr.State (STATE_TTL_WHEN_CLOSED: an hour by
    default, or what the app's unload handler set) has passed. Gradio's own once-a-second cleanup
    task then deletes it, exactly as it would once that time is up."""
    from hitl.web import gradio_internals

    count = 0
    for session in gradio_internals.sessions(demo):
        if session.is_closed:
            session.STATE_TTL_WHEN_CLOSED = 0
            count += 1
    return count


def _analytics_rebuild_ms(demo, events: int, repeat: int = 5) -> float:
    """One rebuild of Gradio's analytics summary with `events` recorded events (its cap is 10,000),
    as happens after every event with the default GRADIO_ANALYTICS_CACHE_FREQUENCY=1 once events
    trickle in one at a time. Run on a copy of the queue, so the app's own numbers are untouched."""
    import copy
    import uuid

    queue = copy.copy(demo._queue)
    records = [{"time": time.time(), "status": "success", "process_time": 2.0 + (i % 7) / 10,
                "function": "generate", "session_hash": uuid.uuid4().hex[:12]} for i in range(events)]
    timings = []
    for _ in range(repeat):
        queue.events_recorded, queue.event_count_at_last_cache = 10**9, 0
        start = time.perf_counter()
        _ANALYTICS_ORIGINAL(queue, records)
        timings.append(time.perf_counter() - start)
    return 1000 * sorted(timings)[len(timings) // 2]


def _server_loop():
    """The event loop Gradio's server runs on (in uvicorn's thread)."""
    import asyncio
    for obj in gc.get_objects():
        if isinstance(obj, asyncio.AbstractEventLoop) and obj.is_running():
            return obj
    return None


def _on_loop(fn, timeout: float = 60.0):
    """Run fn on the server's event loop and wait for it: gc.collect() there finalizes async
    generators in their own thread, and Gradio's session store is only touched from there."""
    loop = _server_loop()
    if loop is None:
        return fn()
    done, box = threading.Event(), {}

    def run():
        try:
            box["value"] = fn()
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            box["error"] = exc
        finally:
            done.set()

    loop.call_soon_threadsafe(run)
    if not done.wait(timeout):
        raise TimeoutError("the server loop did not run the debug call")
    if "error" in box:
        raise box["error"]
    return box["value"]


def _start_debug_server(demo) -> str:
    from hitl.serving.memory import trim

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            if url.path == "/stats":
                collect = query.get("gc", ["1"])[0] == "1"
                body = _on_loop(lambda: _stats(demo, collect=collect))
            elif url.path == "/expire":
                body = {"expired": _on_loop(lambda: _expire_closed(demo))}
            elif url.path == "/analytics_cost":
                events = int(query.get("events", ["10000"])[0])
                body = {"events": events, "ms": _analytics_rebuild_ms(demo, events)}
            elif url.path == "/trim":
                before = rss_kib()
                body = {"trimmed": trim(), "rss_before_kib": before, "rss_kib": rss_kib()}
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"
