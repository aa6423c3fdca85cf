"""Small helpers for reading what the app returns, through gradio_client or the page's own protocol."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import socket
import subprocess
import threading
import time
import uuid

import httpx
import pytest
from fake_openai import prompt_of
from PIL import Image

TEST_KEY = "sk-test-1234567890abcdefghijklmnopqrstuvwxyzSECRET"
# Fast, generous defaults for tests; individual tests override what they examine.
TEST_SETTINGS = dict(api_key=TEST_KEY, request_timeout=1.0, total_timeout=8.0, max_attempts=3,
                     partial_images=2, ip_limit=100_000, session_limit=100_000, call_rate=1e6, call_burst=10**6)

# The named endpoints return (image, revised_prompt, candidates, message).
IMAGE, REVISED, CANDIDATES, MESSAGE = range(4)


async def cancel_the_next(items, after: float) -> None:
    """Wait for the next item of a running action and cancel that wait `after` seconds in, as the
    page's Cancel cancels an event mid-generation."""
    task = asyncio.ensure_future(items.__anext__())
    await asyncio.sleep(after)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def wait_until(condition, limit: float = 15.0) -> None:
    """For conditions outside a page (the fake server's counters): poll with a deadline."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LAUNCH_ATTEMPTS = 3
# What a launch on a busy machine may run into, and a new launch on a new port gets past: Gradio's start-up
# check (five HEAD requests to the app, or to its Node server with SSR, a connection refused ending them at
# once) gives up with this ValueError; or the free port was taken by another process before Gradio bound it.
RETRIED_LAUNCH = ("When localhost is not accessible", "Cannot find empty port")


def start_app(launch: dict | None = None, **overrides):
    """The real app, launched on a free loopback port as app.py launches it (plus `launch`);
    returns its Blocks. Launched again, up to LAUNCH_ATTEMPTS times, when the launch fails for a reason
    in RETRIED_LAUNCH."""
    from hitl.serving.config import load_settings
    from hitl.web.ui import build_demo, launch_options

    settings = load_settings(**overrides)
    for attempt in range(1, LAUNCH_ATTEMPTS + 1):
        demo = build_demo(settings)
        try:
            demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", server_port=free_port(),
                        quiet=True, **launch_options(settings), **(launch or {}))
        except (ValueError, OSError) as exc:
            shut_down(demo)
            if attempt == LAUNCH_ATTEMPTS or not any(reason in str(exc) for reason in RETRIED_LAUNCH):
                raise
            continue
        return demo
    raise AssertionError("unreachable")


def shut_down(demo) -> None:
    """A launch that failed halfway: its server, and its Node server if it started one."""
    demo.close(verbose=False)
    node = getattr(demo, "node_process", None)
    if node is not None and node.poll() is None:
        node.terminate()
        try:
            node.wait(10)
        except subprocess.TimeoutExpired:
            node.kill()


def image_b64(result) -> str | None:
    """The base64 payload of the image output (a data: URL in an ImageData dict), or None."""
    image = result[IMAGE]
    if not image or not isinstance(image, dict) or not image.get("url"):
        return None
    assert image["url"].startswith("data:image/"), image["url"][:40]
    return image["url"].split(",", 1)[1]


def image_prompt(result) -> str:
    """The prompt the fake server drew the returned image for."""
    b64 = image_b64(result)
    assert b64, f"no image in result; message: {result[MESSAGE]!r}"
    return prompt_of(b64)[0]


def image_serial(result) -> int:
    return prompt_of(image_b64(result))[1]


def decode(result) -> bytes:
    return base64.b64decode(image_b64(result))


class Page:
    """One browser tab, speaking Gradio's queue protocol as the page does (sse_v3), so the
    page's own private events can be checked without a browser: every message is kept."""

    def __init__(self, url: str, headers: dict | None = None):
        self.root = url.rstrip("/")
        self.http = httpx.Client(timeout=30, headers=headers)  # headers: as a proxy would add (X-Forwarded-For)
        self.session_hash = uuid.uuid4().hex[:12]
        config = self.http.get(f"{self.root}/config").json()
        self.config = config
        self.ids = {c["props"]["elem_id"]: c["id"] for c in config["components"] if c.get("props", {}).get("elem_id")}

    def click(self, elem_id: str, *values, **named) -> list[dict]:
        """Click a button; returns the event's messages up to and including process_completed. `named`:
        values by the input's elem_id (what the page's script fills in: `seen`)."""
        return self.fire(elem_id, "click", *values, **named)

    def fire(self, elem_id: str, event: str, *values, **named) -> list[dict]:
        """Trigger `event` ("click", "change", ...) of a component, as the page does on it."""
        target = self.ids[elem_id]
        fn_index, dep = self._dependency(target, event)
        return self._run(fn_index, dep, values, named, target)

    def send(self, elem_id: str, *values, **named) -> None:
        """Click while this tab's watch is open: its stream (`Watch`) brings the event's messages too, as
        the browser's one stream per tab does; a second reader would take half of them."""
        target = self.ids[elem_id]
        self._join(*self._dependency(target, "click"), values, named, target)

    def _dependency(self, target: int, event: str) -> tuple[int, dict]:
        return next((i, dep) for i, dep in enumerate(self.config["dependencies"])
                    if [target, event] in [list(t) for t in dep["targets"]])

    def load(self, token: str = "") -> list[dict]:
        """What the page does on load: resume the session its browser token names (a tab that loaded with
        another's token shares its session, as two tabs of one browser do); `token` then holds it."""
        fn_index, dep = next((i, dep) for i, dep in enumerate(self.config["dependencies"])
                             if dep.get("api_name") == "page_resume")
        messages = self._run(fn_index, dep, [token], {}, None)
        self.token = messages[-1]["output"]["data"][0]  # page_resume's first output
        return messages

    def watch(self) -> Watch:
        """What the page does once loaded: watch the session (page_watch), its messages read in the
        background until `close()`, as an open tab does until it goes."""
        fn_index, dep = next((i, dep) for i, dep in enumerate(self.config["dependencies"])
                             if dep.get("api_name") == "page_watch")
        self._join(fn_index, dep, [], {}, None)
        return Watch(self)

    def leave_after(self, seconds: float, elem_id: str, *values) -> bool:
        """Click, then close the connection `seconds` after the click started on the server, as a
        reload or a closed tab does; True if the click had not completed by then. (A click still
        queued when its tab goes is dropped by Gradio: the app never had it, so the clock starts at
        `process_starts`.)"""
        target = self.ids[elem_id]
        self._join(*self._dependency(target, "click"), values, {}, target)
        started, completed = threading.Event(), threading.Event()
        with httpx.Client(timeout=None) as http, http.stream(
                "GET", f"{self.root}/gradio_api/queue/data", params={"session_hash": self.session_hash}) as stream:
            def read() -> None:
                with contextlib.suppress(httpx.HTTPError, httpx.StreamError, RuntimeError):  # closed on leaving
                    for line in stream.iter_lines():
                        if '"process_starts"' in line:
                            started.set()
                        if '"process_completed"' in line:
                            completed.set()
            threading.Thread(target=read, daemon=True).start()
            assert started.wait(60), "the click never started"
            time.sleep(seconds)
            return not completed.is_set()

    def _join(self, fn_index: int, dep: dict, values, named: dict, target) -> None:
        self.outputs = dep["outputs"]
        data = [*values, *[None] * (len(dep["inputs"]) - len(values))]  # browser states and gr.State: unset
        for elem_id, value in named.items():
            data[dep["inputs"].index(self.ids[elem_id])] = value
        body = {"data": data, "fn_index": fn_index, "session_hash": self.session_hash,
                "event_data": None, "trigger_id": target}
        self.http.post(f"{self.root}/gradio_api/queue/join", json=body,
                       headers={"x-gradio-user": "app"}).raise_for_status()

    def _run(self, fn_index: int, dep: dict, values, named: dict, target) -> list[dict]:
        self._join(fn_index, dep, values, named, target)
        messages = []
        with self.http.stream("GET", f"{self.root}/gradio_api/queue/data",
                              params={"session_hash": self.session_hash}) as stream:
            for line in stream.iter_lines():
                if line.startswith("data:"):
                    messages.append(json.loads(line[5:]))
                    if messages[-1]["msg"] == "process_completed":
                        return messages
        raise AssertionError(f"no process_completed: {[m['msg'] for m in messages]}")

    def result(self, messages: list[dict], elem_id: str):
        """What the last click's result message holds for the component with `elem_id`."""
        return messages[-1]["output"]["data"][self.outputs.index(self.ids[elem_id])]


class Watch:
    """A tab's open watch: the messages its stream brought so far (`msgs`), when each arrived
    (`arrived`, time.monotonic()), and `close()` to go."""

    def __init__(self, page: Page):
        self.messages: list[dict] = []
        self.arrived: list[float] = []
        self._http = httpx.Client(timeout=None)
        self._response = self._http.send(self._http.build_request(
            "GET", f"{page.root}/gradio_api/queue/data", params={"session_hash": page.session_hash}), stream=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._response.iter_lines():
                if line.startswith("data:"):
                    at = time.monotonic()  # before parsing: a 1 MiB preview takes milliseconds to parse
                    self.messages.append(json.loads(line[5:]))
                    self.arrived.append(at)
        except httpx.HTTPError:  # closed
            pass

    @property
    def msgs(self) -> list[str]:
        return [m["msg"] for m in self.messages]

    @property
    def ended(self) -> bool:
        return "process_completed" in self.msgs

    def close(self) -> None:
        self._response.close()
        self._http.close()


def urls(messages: list[dict], prefix: str = "data:image/") -> list[str]:
    """Every string starting with `prefix` in the messages (inline images by default), in order,
    repeats included."""
    found: list[str] = []

    def walk(value):
        if isinstance(value, str) and value.startswith(prefix):
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for message in messages:
        walk(message.get("output"))
    return found


def data_url(data: bytes, mime: str = "image/png") -> str:
    """A picture as the page and API callers send it: a base64 `data:` URL."""
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def mask_png(size: tuple[int, int], box: tuple[int, int, int, int] | None) -> bytes:
    """OpenAI's mask: an opaque PNG of `size`, with `box` fully transparent (alpha 0): where to change."""
    mask = Image.new("RGBA", size, (0, 0, 0, 255))
    if box:
        mask.paste((0, 0, 0, 0), box)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    return buffer.getvalue()
