"""A fake OpenAI server on 127.0.0.1: the Responses API (JSON and SSE) and the Images API.

Tests point the real SDK at it with OPENAI_BASE_URL / base_url. It draws a deterministic
PNG per request (with Pillow) that carries the prompt in an iTXt chunk, so a test can tell which
prompt an image was made from. Faults are queued with `fail_next(...)` and used one per request.

It is as strict as OpenAI where that matters, with the installed SDK as the spec
(`openai_spec`): a request body that breaks the SDK's request types gets OpenAI's 400
`invalid_request_error` naming the `param` (and is kept in `invalid_requests`);
`previous_response_id` resolves only responses that were stored (`store` defaults to true);
every answer and stream event it sends is checked against the SDK's response models, and
any mismatch is kept in `violations`. The `fake` fixture fails a test that leaves either.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import get_args

from openai.types import ImageEditStreamEvent, ImageGenStreamEvent, ImagesResponse
from openai.types.image_edit_params import ImageEditParamsNonStreaming, ImageEditParamsStreaming
from openai.types.image_generate_params import ImageGenerateParamsNonStreaming, ImageGenerateParamsStreaming
from openai.types.responses import Response, ResponseStreamEvent
from openai.types.responses.response_create_params import (
    ResponseCreateParamsNonStreaming,
    ResponseCreateParamsStreaming,
)
from openai.types.responses.response_error import ResponseError
from openai_spec import problems
from PIL import Image
from PIL.PngImagePlugin import PngInfo

FAULTS = {
    # name: (status, error code, message, extra headers)
    "rate_limit": (429, "rate_limit_exceeded", "Rate limit reached for images per minute.", {"Retry-After": "1"}),
    "quota": (429, "insufficient_quota", "You exceeded your current quota, please check your plan.", {}),
    "server_error": (500, "server_error", "The server had an error while processing your request.", {}),
    "unavailable": (503, None, "The engine is currently overloaded.", {}),
    "moderation": (400, "moderation_blocked", "Your request was rejected by the safety system.", {}),
    "auth": (401, "invalid_api_key", "Incorrect API key provided: {key}. You can find your API key at ...", {}),
    "forbidden": (403, None, "Your organization must be verified to use the model gpt-image-2.", {}),
    "not_found": (404, "model_not_found", "The model `x` does not exist or you do not have access to it.", {}),
    # OpenAI's 400 on `stream` for an organisation not verified to stream the model (langflow-ai/openrag#257);
    # only streamed requests get it: the same call without `stream` is answered.
    "stream_verification": (400, "unsupported_value", "Your organization must be verified to stream this model. "
                            "Please go to: https://platform.openai.com/settings/organization/general and click on "
                            "Verify Organization.", {}),
    "region": (403, "unsupported_country_region_territory", "Country, region, or territory not supported", {}),
    "no_retry": (500, "server_error", "The server had an error while processing your request.",
                 {"x-should-retry": "false"}),
}
# The error body's other fields where OpenAI sends more than `invalid_request_error` and no param.
ERROR_FIELDS = {"stream_verification": {"param": "stream"}, "region": {"type": "request_forbidden"}}
BEHAVIOURS = {"timeout", "drop", "malformed", "stream_cut", "refusal", "stream_error",
              # failures inside a 200 answer, shaped as the SDK types them
              "blocked_prompt",  # the image call failed: moderation_blocked, moderation_stage "input"
              "blocked_picture",  # previews streamed, then the call failed: moderation_stage "output"
              "incomplete_filter", "incomplete_tokens"}  # response.incomplete by reason
# "failed:<code>" answers `response.failed` with that ResponseError.code (any the SDK lists).
FAILED_CODES = get_args(ResponseError.model_fields["code"].annotation)
INCOMPLETE = {"incomplete_filter": "content_filter", "incomplete_tokens": "max_output_tokens"}
# The usage every successful answer reports (tests price it with the app's price table).
TEXT_USAGE = {"input_tokens": 120, "input_tokens_details": {"cache_write_tokens": 0, "cached_tokens": 20},
              "output_tokens": 40, "output_tokens_details": {"reasoning_tokens": 8}, "total_tokens": 160}
# The image model's, shaped as the SDK's models: output split into image and text tokens (ImagesResponse.Usage);
# the image tool's (ToolUsageImageGen) also says how much input came from OpenAI's cache.
IMAGE_USAGE = {"input_tokens": 50, "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
               "output_tokens": 1796, "output_tokens_details": {"image_tokens": 1756, "text_tokens": 40},
               "total_tokens": 1846}
TOOL_IMAGE_USAGE = {**IMAGE_USAGE, "cached_tokens": 20,
                    "cached_tokens_details": {"cached_text_tokens": 20, "cached_image_tokens": 0}}
# The Images API's streamed `*.completed` event reports no output split: its output_tokens are image tokens.
COMPLETED_USAGE = {"input_tokens": 50, "input_tokens_details": {"image_tokens": 0, "text_tokens": 50},
                   "output_tokens": 1756, "total_tokens": 1806}
BLOCKED_CATEGORIES = ["violence"]


def png_for(prompt: str, serial: int, pad_to: int = 0) -> bytes:
    """A 32×32 PNG whose colour comes from the prompt and serial, and which names both in iTXt chunks
    (UTF-8: prompts are any text); padded to `pad_to` bytes when that is larger."""
    colour = tuple(hashlib.sha256(f"{prompt}\x00{serial}".encode()).digest()[:3])
    info = PngInfo()
    info.add_itxt("prompt", prompt)
    info.add_itxt("serial", str(serial))
    png = _encode(colour, info)
    if pad_to > len(png) + 12:  # a filler chunk (12 bytes of framing) makes benchmark images as large as asked
        info.add(b"faKe", bytes(pad_to - len(png) - 12))
        png = _encode(colour, info)
    return png


def _encode(colour: tuple[int, ...], info: PngInfo) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), colour).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def prompt_of(png: str | bytes) -> tuple[str, int]:
    """Read back (prompt, serial) from an image made by `png_for`: its base64 text or its bytes."""
    with Image.open(io.BytesIO(png if isinstance(png, bytes) else base64.b64decode(png))) as image:
        text = image.text
    return text["prompt"], int(text["serial"])


@dataclass
class Recorded:
    path: str
    body: dict
    headers: dict  # names in lower case
    at: float
    serial: int  # the request's number; its response id is f"resp_{serial}"


@dataclass
class FakeOpenAI:
    latency: float = 0.0  # seconds before the image is complete
    latencies: list[float] = field(default_factory=list)  # the next requests' own latencies, in order
    image_bytes: int = 0  # pad images to about this size (0: tiny)
    timeout_sleep: float = 5.0  # how long a "timeout" fault stalls
    done_delay: float = 0.0  # seconds between a stream's last event and its end ([DONE]), as a network may take
    strict: bool = True  # check bodies against the SDK's types (the bench turns it off: it measures the app)
    requests: list[Recorded] = field(default_factory=list)
    _faults: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _serial: int = 0
    disconnects: int = 0  # answers the client hung up on (a cancelled generation)
    handling: int = 0  # requests being answered right now (a handler may still run after its client has it all)
    answered: list[str] = field(default_factory=list)  # the prompts of answers sent to the end
    stored: set[str] = field(default_factory=set)  # ids of stored responses (kept across reset)
    invalid_requests: list[tuple[str, str]] = field(default_factory=list)  # (param, problem) answered 400
    masks: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each mask accepted
    violations: list[str] = field(default_factory=list)  # answers of ours that break the SDK's models

    # -- control ----------------------------------------------------------------
    def fail_next(self, *faults: str) -> None:
        unknown = {f for f in faults if f.partition(":")[2] not in FAILED_CODES} - set(FAULTS) - BEHAVIOURS
        assert not unknown, f"unknown faults {unknown}"
        with self._lock:
            self._faults.extend(faults)

    def take_latency(self) -> float:
        """This request's latency: the next of `latencies` if any are left, else `latency`."""
        with self._lock:
            return self.latencies.pop(0) if self.latencies else self.latency

    def reset(self) -> None:
        with self._lock:
            self.latencies.clear()
            self._faults.clear()
            self.requests.clear()
            self.masks.clear()
            self.invalid_requests.clear()
            self.violations.clear()
            self.disconnects = 0
            self.done_delay = 0.0
            self.answered.clear()

    @property
    def attempts(self) -> int:
        return len(self.requests)

    def start(self) -> str:
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self._server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        return self.url

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- used by the handler ----------------------------------------------------
    def _take(self, path: str, body: dict, headers: dict) -> tuple[str | None, int]:
        with self._lock:
            self._serial += 1
            self.requests.append(Recorded(path, body, headers, time.monotonic(), self._serial))
            return (self._faults.pop(0) if self._faults else None), self._serial

    def image_b64(self, prompt: str, serial: int) -> str:
        return base64.b64encode(png_for(prompt, serial, self.image_bytes)).decode()


# -- masks (inpainting), as OpenAI defines them ---------------------------------------------------------------
# Images API `images.edit(mask=...)`: "fully transparent areas (e.g. where alpha is zero) indicate where `image`
# should be edited ... Must be a valid PNG file, less than 4MB, and have the same dimensions as `image`."
# Responses: the image_generation tool's `input_image_mask` ({image_url | file_id}) applies to an input image.
MASK_LIMIT = 4 * 1024 * 1024


def _picture(data: bytes):
    """(format, size, has_alpha) of image bytes, or None when they are no picture."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.format, image.size, "A" in image.getbands() or "transparency" in image.info
    except Exception:
        return None


def _data_url_bytes(url) -> bytes | None:
    if not isinstance(url, str) or not url.startswith("data:") or ";base64," not in url:
        return None
    try:
        return base64.b64decode(url.split(",", 1)[1], validate=True)
    except ValueError:
        return None


def _input_images(body: dict) -> list[str]:
    return [part.get("image_url") for message in body.get("input") or [] if isinstance(message, dict)
            for part in message.get("content") or [] if isinstance(part, dict) and part.get("type") == "input_image"]


def _mask_and_image(route: str, body: dict):
    """(param, mask bytes, image bytes) of a request that carries a mask, else None."""
    if route == "/images/edits" and "mask" in body:
        mask, image = body["mask"], body.get("image")
        return "mask", mask[:-2] if mask.endswith(b"\r\n") else mask, \
            image[:-2] if isinstance(image, bytes) and image.endswith(b"\r\n") else image
    tools = body.get("tools") or [{}]
    if route == "/responses" and isinstance(tools[0], dict) and "input_image_mask" in tools[0]:
        mask = tools[0]["input_image_mask"] or {}
        images = _input_images(body)
        return ("tools[0].input_image_mask", _data_url_bytes(mask.get("image_url")),
                _data_url_bytes(images[0]) if images else None)
    return None


def mask_problem(route: str, body: dict) -> tuple[str, str] | None:
    """(param, message) when a request's mask breaks OpenAI's rules; accepted masks are counted."""
    found = _mask_and_image(route, body)
    if found is None:
        return None
    param, mask, image = found
    if route == "/responses" and (body.get("tools")[0].get("action") != "edit" or body.get("previous_response_id")):
        return param, "A mask needs action 'edit' and the image to edit as an input_image."
    mask_info, image_info = _picture(mask or b""), _picture(image or b"")
    if image_info is None:
        return param, "A mask needs the image to edit (a valid input image)."
    if mask_info is None or mask_info[0] != "PNG" or not mask_info[2]:
        return param, "Invalid mask: it must be a PNG with an alpha channel."
    if len(mask) >= MASK_LIMIT:
        return param, "Invalid mask: it must be less than 4MB."
    if mask_info[1] != image_info[1]:
        return param, f"Invalid mask: its size {mask_info[1]} differs from the image's {image_info[1]}."
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # listen() backlog: read when the socket opens, so set here


# What each route's body must match: (streaming, non-streaming) request types and the answer models.
ROUTES = {
    "/responses": (ResponseCreateParamsStreaming, ResponseCreateParamsNonStreaming, ResponseStreamEvent, Response),
    "/images/generations": (ImageGenerateParamsStreaming, ImageGenerateParamsNonStreaming, ImageGenStreamEvent,
                            ImagesResponse),
    "/images/edits": (ImageEditParamsStreaming, ImageEditParamsNonStreaming, ImageEditStreamEvent, ImagesResponse),
}


class _Handler(BaseHTTPRequestHandler):
    server_fake: FakeOpenAI
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # keep test output quiet
        pass

    def handle(self):
        try:
            super().handle()
        except ConnectionError:  # the client closed a kept-alive connection
            pass

    def do_POST(self):
        with self.server_fake._lock:
            self.server_fake.handling += 1
        try:
            self.body: dict = {}
            self._answer()
            prompt = _prompt_from_input(self.body["input"]) if "input" in self.body else self.body.get("prompt", "")
            with self.server_fake._lock:
                self.server_fake.answered.append(str(prompt))
        except (BrokenPipeError, ConnectionResetError):  # the client hung up first
            with self.server_fake._lock:
                self.server_fake.disconnects += 1
        finally:  # a kept-alive connection's handler lives on: it must not hold the request (the app's memory
            self.body = {}  # tests measure this process, the fake's threads included)
            with self.server_fake._lock:
                self.server_fake.handling -= 1

    def _answer(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        body = self.body = _parse_body(raw, self.headers.get("content-type", ""))
        fault, serial = self.server_fake._take(self.path, body, {k.lower(): v for k, v in self.headers.items()})
        self.route = next((r for r in ROUTES if self.path.endswith(r)), None)
        if self.route is None:
            return self._json(404, {"error": {"message": "no such route", "type": "invalid_request_error",
                                              "param": None, "code": None}})
        if rejected := self._invalid(body):
            return self._reject(*rejected)
        if (masked := _mask_and_image(self.route, body)) and (mask := _picture(masked[1] or b"")):
            with self.server_fake._lock:
                self.server_fake.masks.append(mask[1])
        if fault == "stream_verification" and not _truthy(body.get("stream")):
            fault = None  # only streaming needs the verification
        if fault in FAULTS:
            return self._error(fault)
        if fault == "drop":
            return self._cut()
        if fault == "timeout":
            time.sleep(self.server_fake.timeout_sleep)
            return self._error("server_error")
        if fault == "malformed":
            return self._send(200, b'{"id": "resp_1", "output": [ {"type": "image_gen', "application/json")
        if self.route == "/responses":
            return self._responses(body, serial, fault)
        return self._images(body, serial)

    # -- OpenAI's rules -------------------------------------------------------------
    def _invalid(self, body: dict) -> tuple[str, str, str] | None:
        """(code, param, message) of the first rule the body breaks, as OpenAI reports it."""
        streaming, plain = ROUTES[self.route][:2]
        found = problems(body, streaming if _truthy(body.get("stream")) else plain) if self.server_fake.strict else []
        if found:
            param, problem = found[0]
            return "invalid_value", param, f"Invalid '{param}': {problem}."
        if self.server_fake.strict and (problem := mask_problem(self.route, body)):
            param, message = problem
            return "invalid_value", param, message
        previous = body.get("previous_response_id")
        if previous is not None and previous not in self.server_fake.stored:
            return ("previous_response_not_found", "previous_response_id",
                    f"Previous response with id '{previous}' not found.")
        return None

    def _reject(self, code: str, param: str, message: str) -> None:
        if code != "previous_response_not_found":
            with self.server_fake._lock:
                self.server_fake.invalid_requests.append((param, message))
        self._json(400, {"error": {"message": message, "type": "invalid_request_error", "param": param,
                                   "code": code}})

    def _conform(self, payload: dict, streamed: bool) -> dict:
        """Record any way our own answer breaks the SDK's model for it."""
        model = ROUTES[self.route][2 if streamed else 3]
        for param, problem in problems(payload, model) if self.server_fake.strict else ():
            with self.server_fake._lock:
                self.server_fake.violations.append(f"{payload.get('type', self.route)} {param}: {problem}")
        return payload

    # -- answers ------------------------------------------------------------------
    def _error(self, fault: str) -> None:
        status, code, message, headers = FAULTS[fault]
        key = self.headers.get("authorization", "").removeprefix("Bearer ")
        message = message.format(key=key[:8] + "*" * 10 + key[-4:])
        payload = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code,
                             **ERROR_FIELDS.get(fault, {})}}
        self._json(status, payload, headers)

    def _responses(self, body: dict, serial: int, fault: str | None) -> None:
        fake = self.server_fake
        latency = fake.take_latency()
        streamed = bool(body.get("stream"))
        prompt = _prompt_from_input(body.get("input"))
        partials = int(body["tools"][0].get("partial_images") or 0) if streamed and body.get("tools") else 0
        if fault in ("refusal", "blocked_prompt") or (fault or "").startswith("failed:"):
            partials = 0  # these fail before any picture is drawn
        if body.get("store", True):
            with fake._lock:
                fake.stored.add(f"resp_{serial}")
        response = _response(body, serial, fault, fake.image_b64(prompt, serial), prompt)
        if not streamed:
            time.sleep(latency)
            return self._json(200, self._conform(response, streamed=False))
        self._start_sse()
        events = _Events(self, response)
        events.send("response.created", response={**response, "status": "in_progress", "output": [],
                                                  "error": None, "incomplete_details": None})
        for index in range(partials):
            time.sleep(latency / (partials + 1))
            events.send("response.image_generation_call.partial_image", item_id=f"ig_{serial}", output_index=0,
                        partial_image_index=index,
                        partial_image_b64=fake.image_b64(f"partial {index}: {prompt}", serial))
            if fault == "stream_cut":
                return self._cut()
        if fault == "stream_cut":
            return self._cut()
        if fault == "stream_error":
            return events.finish("error", code="server_error", message="stream failed", param=None)
        time.sleep(latency / (partials + 1))
        for index, item in enumerate(response["output"]):
            events.send("response.output_item.done", output_index=index, item=item)
        events.finish(f"response.{response['status']}", response=response)

    def _images(self, body: dict, serial: int) -> None:
        fake = self.server_fake
        prompt = str(body.get("prompt", ""))
        image = fake.image_b64(prompt, serial)
        if not _truthy(body.get("stream")):
            time.sleep(fake.latency)
            payload = {"created": int(time.time()), "data": [{"b64_json": image, "revised_prompt": None}],
                       "usage": IMAGE_USAGE}
            return self._json(200, self._conform(payload, streamed=False))
        partials = int(body.get("partial_images") or 0)
        kind = "image_edit" if self.route == "/images/edits" else "image_generation"
        about = {"created_at": 0, "size": "1024x1024", "quality": "low", "background": "opaque", "output_format": "png"}
        self._start_sse()
        for index in range(partials):
            time.sleep(fake.latency / (partials + 1))
            self._event(self._conform({"type": f"{kind}.partial_image", "partial_image_index": index,
                                       "b64_json": fake.image_b64(f"partial {index}: {prompt}", serial), **about},
                                      streamed=True))
        time.sleep(fake.latency / (partials + 1))
        done = {"type": f"{kind}.completed", "b64_json": image, **about, "usage": COMPLETED_USAGE}
        self._finish_sse(self._conform(done, streamed=True))

    # -- plumbing -----------------------------------------------------------------
    def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _send(self, status: int, data: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    # Streams are chunked on a kept-alive connection, as OpenAI's are, so a client's connection
    # pool is used as it is in production (a new TCP connection per call would overstate the cost).
    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _event(self, payload: dict) -> None:
        self._chunk(f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n".encode())

    def _finish_sse(self, payload: dict) -> None:
        self._event(payload)
        time.sleep(self.server_fake.done_delay)
        self._chunk(b"data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _cut(self) -> None:
        """Hang up mid-answer (the client sees a broken stream or no answer at all)."""
        self.close_connection = True
        self.connection.shutdown(2)
        self.connection.close()


class _Events:
    """One Responses stream: numbers its events and checks each against the SDK's models."""

    def __init__(self, handler: _Handler, response: dict):
        self.handler, self.response, self.sequence = handler, response, 0

    def _payload(self, kind: str, fields: dict) -> dict:
        payload = self.handler._conform({"type": kind, "sequence_number": self.sequence, **fields}, streamed=True)
        self.sequence += 1
        return payload

    def send(self, kind: str, **fields) -> None:
        self.handler._event(self._payload(kind, fields))

    def finish(self, kind: str, **fields) -> None:
        self.handler._finish_sse(self._payload(kind, fields))


def _response(body: dict, serial: int, fault: str | None, image_b64: str, prompt: str) -> dict:
    """The finished `Response` for a request: an image, or the failure `fault` asks for."""
    status, error, incomplete = "completed", None, None
    call = {"type": "image_generation_call", "id": f"ig_{serial}", "status": "completed", "result": image_b64,
            "revised_prompt": f"{prompt} (revised)"}
    output = [call]
    if fault == "refusal":
        output = [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": "I can't help with that request.",
                                "annotations": []}]}]
    elif fault in ("blocked_prompt", "blocked_picture"):
        stage = "input" if fault == "blocked_prompt" else "output"
        call.update(status="failed", result=None, error={
            "code": "moderation_blocked", "message": "Your request was rejected by the safety system.",
            "type": "image_generation_user_error", "param": None,
            "moderation_details": {"categories": BLOCKED_CATEGORIES if stage == "output" else [],
                                   "moderation_stage": stage}})
    elif fault in INCOMPLETE:
        status, incomplete, output = "incomplete", {"reason": INCOMPLETE[fault]}, []
    elif (fault or "").startswith("failed:"):
        status, output = "failed", []
        error = {"code": fault.partition(":")[2], "message": "The response failed.", "param": None, "type": None}
    usage = {"usage": TEXT_USAGE, "tool_usage": {"image_gen": TOOL_IMAGE_USAGE, "web_search": {"num_requests": 0}}}
    return {**(usage if status == "completed" else {}),
            "id": f"resp_{serial}", "object": "response", "created_at": int(time.time()), "status": status,
            "model": body.get("model"), "output": output, "tools": body.get("tools", []),
            "tool_choice": body.get("tool_choice", "auto"), "parallel_tool_calls": True, "error": error,
            "incomplete_details": incomplete, "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0,
            "previous_response_id": body.get("previous_response_id")}


def _truthy(value) -> bool:
    return value in (True, "true", "True", "1")


def _parse_body(raw: bytes, content_type: str) -> dict:
    if "multipart/form-data" in content_type:
        boundary = content_type.split("boundary=")[-1].encode()
        fields = {}
        for part in raw.split(b"--" + boundary):
            head, _, value = part.partition(b"\r\n\r\n")
            if b'name="' in head:
                name = head.split(b'name="')[1].split(b'"')[0].decode()
                fields[name] = _form_value(name, value.rstrip(b"\r\n")) if b"filename" not in head else value
        return fields
    try:
        return json.loads(raw or b"{}")
    except ValueError:
        return {}


_FORM_NUMBERS = {"n", "partial_images", "output_compression"}


def _form_value(name: str, raw: bytes):
    """A multipart field as the JSON value it stands for (the SDK sends numbers and flags as text)."""
    text = raw.decode("utf-8", "replace")
    if name == "stream":
        return text == "true"
    return int(text) if name in _FORM_NUMBERS and text.isdigit() else text


def _prompt_from_input(value) -> str:
    """The text of a Responses `input`: a string, or the input_text parts of messages."""
    if isinstance(value, str):
        return value
    texts = []
    for message in value or []:
        for part in message.get("content", []) if isinstance(message, dict) else []:
            if isinstance(part, dict) and part.get("type") == "input_text":
                texts.append(part.get("text", ""))
    return " ".join(texts)
