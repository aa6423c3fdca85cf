"""Secrets and privacy.

The server's key (and a key a user enters) never appears in an HTTP response, a log line,
the app's stdout/stderr or a message shown to a user, not even in part: the fake's 401
echoes part of the key the way OpenAI does, and every logger runs at DEBUG here.
At the default level (INFO) prompts and images are never logged; run history and analytics
are off by default.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from gradio_client import Client
from helpers import MESSAGE, TEST_KEY, TEST_SETTINGS, free_port, image_b64

from hitl.backends.errors import NoImageError, describe
from hitl.serving.config import load_settings
from hitl.web.ui import build_demo, launch_options

ROOT = Path(__file__).resolve().parent.parent
USER_KEY = "sk-proj-UserOwnKey0987654321zyxwvutsrqponmlkjihTAILpiece"
# The failures whose answers carry upstream text (the 401 quotes the key in part).
LEAKY_FAULTS = ("auth", "forbidden", "not_found", "quota", "moderation", "refusal", "malformed")


def fragments(key: str) -> list[str]:
    """The whole key and pieces distinctive enough to identify it."""
    return [key, key[-8:], key[-12:-4], key[8:20], key[len(key) // 2 - 6: len(key) // 2 + 6],
            key[:8] + "*" * 10 + key[-4:]]  # the form OpenAI (and the fake) use to quote a key


SECRETS = fragments(TEST_KEY) + fragments(USER_KEY)


def assert_no_secret(text: str, where: str) -> None:
    for piece in SECRETS:
        assert piece not in text, f"{piece!r} found in {where}"


def exercise(url: str, fake) -> list:
    """Generate, then hit every fault whose answer carries upstream text; with both keys."""
    results = []
    client = Client(url, verbose=False)
    results.append(client.predict("secret check", api_name="/generate"))
    for fault in LEAKY_FAULTS:
        fake.fail_next(fault)
        results.append(client.predict(api_name="/regenerate"))
    fake.fail_next("server_error", "auth")  # a retry, then a failure
    results.append(client.predict(api_name="/regenerate"))
    own = Client(url, verbose=False)
    fake.fail_next("auth")
    results.append(own.predict("own key", key=USER_KEY, api_name="/generate"))
    results.append(own.predict("own key", key=USER_KEY, api_name="/generate"))
    assert "401" in results[-2][MESSAGE] and results[-1][MESSAGE] == ""
    return results


def raw_http(url: str) -> dict[str, str]:
    """Pages and API documents as sent on the wire, plus a raw call of the REST API."""
    texts = {}
    for path in ("", "config", "gradio_api/info", "gradio_api/openapi.json", "manifest.json"):
        response = httpx.get(f"{url}{path}", timeout=10)
        texts[f"/{path}"] = f"{response.status_code} {response.headers} {response.text}"
    for key in ("", USER_KEY):  # the simple REST API, its event stream read raw
        posted = httpx.post(f"{url}gradio_api/call/generate", timeout=10,
                            json={"data": ["raw call", "auto", "auto", "auto", "png", key]})
        event_id = posted.json()["event_id"]
        stream = httpx.get(f"{url}gradio_api/call/generate/{event_id}", timeout=30)
        texts[f"/call/generate key={bool(key)}"] = posted.text + stream.text
    return texts


# -- in-process: HTTP responses and results ----------------------------------------------------

@pytest.fixture
def all_logs_at_debug():
    """Every logger (openai, httpx2, httpcore2, gradio, uvicorn, hitl, ...) at DEBUG, captured."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            try:
                records.append(f"{record.name} {record.levelname} {record.getMessage()} "
                               f"{self.format(record) if record.exc_info else ''}")
            except Exception as exc:  # a record that cannot be formatted is still worth a look
                records.append(f"{record.name} UNFORMATTABLE {record.msg!r} {record.args!r} {exc}")

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter())
    names = ["", "openai", "httpx2", "httpcore2", "httpx", "httpcore", "gradio", "gradio_client",
             "uvicorn", "uvicorn.error", "uvicorn.access", "hitl", "backoff", "asyncio", "fastapi",
             *logging.root.manager.loggerDict]
    loggers = {name: logging.getLogger(name) for name in names}
    saved = {name: (lg.level, lg.disabled) for name, lg in loggers.items()}
    for lg in loggers.values():
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
        lg.addHandler(handler)  # also catches loggers that do not propagate
    yield records
    for name, lg in loggers.items():
        lg.removeHandler(handler)
        lg.setLevel(saved[name][0])
        lg.disabled = saved[name][1]


def test_key_is_in_no_response_log_or_output(app_url, fake, all_logs_at_debug, capfd):
    results = exercise(app_url, fake)
    messages = [r[MESSAGE] for r in results]
    assert any("401" in m for m in messages) and any("without an image" in m for m in messages)
    fake.fail_next("auth")
    texts = raw_http(app_url)
    assert fake.requests[-1].headers["authorization"] == f"Bearer {USER_KEY}"  # it was really used
    out, err = capfd.readouterr()

    for result in results:
        assert_no_secret(json.dumps(result), "an API result")
    for where, text in texts.items():
        assert_no_secret(text, where)
    assert any(line.startswith("openai") for line in all_logs_at_debug)  # the SDK did log
    assert any(line.startswith("httpcore2") for line in all_logs_at_debug)  # and its transport
    assert any("generation failed: AuthenticationError" in line for line in all_logs_at_debug)
    assert_no_secret("\n".join(all_logs_at_debug), "a log record")
    assert_no_secret(out, "stdout")
    assert_no_secret(err, "stderr")


# -- the real entry point in its own process ---------------------------------------------------

APP_RUNS = {
    "default": {},  # as on a Space: INFO, no analytics variable
}


@pytest.fixture(scope="module")
def app_processes(fake_server, tmp_path_factory):
    """`python app.py` once per entry of APP_RUNS, started together; output goes to files."""
    processes, runs = [], {}
    try:
        for name, overrides in APP_RUNS.items():
            port, folder = free_port(), tmp_path_factory.mktemp(f"app-{name}")
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("HITL_", "OPENAI_", "GRADIO_ANALYTICS"))}
            env.update(OPENAI_API_KEY=TEST_KEY, OPENAI_BASE_URL=fake_server.url, HITL_REQUEST_TIMEOUT="1",
                       HITL_TOTAL_TIMEOUT="8", GRADIO_TEMP_DIR=str(folder / "gradio"), PYTHONUNBUFFERED="1",
                       **overrides)
            output = folder / "output.txt"
            with output.open("wb") as sink:
                process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=ROOT, env=env,
                                           stdout=sink, stderr=subprocess.STDOUT)
            processes.append(process)
            runs[name] = (process, f"http://127.0.0.1:{port}/", output)
        deadline = time.monotonic() + 90
        for process, url, output in runs.values():
            while True:
                assert process.poll() is None, output.read_text(encoding="utf-8")
                try:
                    if httpx.get(f"{url}config", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "app.py did not start"
                time.sleep(0.2)
        yield {name: (url, output) for name, (_, url, output) in runs.items()}
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def read_output(output: Path) -> str:
    time.sleep(0.3)  # let the last lines reach the file
    return output.read_text(encoding="utf-8", errors="replace")


def test_app_output_has_no_prompt_image_or_key(app_processes, fake):
    """`python app.py` as a Space runs it (INFO, no analytics variable set): a full flow, with
    failures (a 401 quoting the key among them), leaves no prompt, feedback, revised prompt,
    image data or key in its stdout/stderr, and no key in any answer."""
    url, output = app_processes["default"]
    config = httpx.get(f"{url}config", timeout=10).json()
    assert config["run_history"] is False
    assert config["analytics_enabled"] is False
    prompt, feedback = "Zanzibar-quokka-marmalade lighthouse", "Kerfuffle-umbrella in the rain"
    client = Client(url, verbose=False)
    first = client.predict(prompt, api_name="/generate")
    client.predict(api_name="/regenerate")
    refined = client.predict(feedback, api_name="/refine")
    fake.fail_next("refusal")
    refused = client.predict(feedback, api_name="/refine")
    fake.fail_next("server_error", "moderation")
    client.predict(api_name="/regenerate")
    client.predict(api_name="/approve")
    assert "without an image" in refused[MESSAGE]
    fake.fail_next("auth")
    own = Client(url, verbose=False).predict("Zanzibar own key", key=USER_KEY, api_name="/generate")
    assert "401" in own[MESSAGE]
    fake.fail_next("auth")
    for where, text in raw_http(url).items():
        assert_no_secret(text, where)
    printed = read_output(output)
    assert "generation failed" in printed  # the app's own INFO/WARNING lines are there
    for secret in ("Zanzibar", "quokka", "marmalade", "Kerfuffle", "umbrella", "(revised)", "can't help",
                   "iVBORw0KGgo", image_b64(first)[100:140], image_b64(refined)[100:140],
                   *SECRETS):
        assert secret not in printed, f"{secret!r} in app.py output"


# -- privacy settings and message scrubbing ----------------------------------------------------

def test_run_history_and_analytics_are_off_by_default(monkeypatch):
    monkeypatch.delenv("GRADIO_ANALYTICS_ENABLED", raising=False)
    settings = load_settings(**TEST_SETTINGS)
    assert launch_options(settings)["run_history"] is False
    demo = build_demo(settings)
    assert demo.analytics_enabled is False


def test_messages_never_quote_a_key():
    """Whatever the SDK's error text says, the user sees our sentence; model text is scrubbed."""
    gateway_key = "gw_live_ABCDEFGHIJKLMNOP1234567890"  # not shaped like an OpenAI key
    settings = load_settings(**{**TEST_SETTINGS, "api_key": gateway_key})
    request = httpx.Request("POST", "http://127.0.0.1/v1/responses")
    body = {"error": {"message": f"Incorrect API key provided: {gateway_key}", "code": "invalid_api_key"}}
    error = openai.AuthenticationError(body["error"]["message"],
                                       response=httpx.Response(401, request=request), body=body)
    for exc in (error, NoImageError(f"I saw the key {gateway_key} and {TEST_KEY} in your request")):
        message = describe(exc, settings)
        assert gateway_key not in message and TEST_KEY not in message
        assert TEST_KEY[-8:] not in message


@pytest.mark.parametrize("key", [USER_KEY[:20] + "\r\n" + USER_KEY[20:], "sk-проект-" + USER_KEY[8:],
                                 USER_KEY[:20] + "\ud800" + USER_KEY[20:], USER_KEY[:20] + " " + USER_KEY[20:]],
                         ids=["crlf", "non-ascii", "lone-surrogate", "space"])
def test_a_malformed_own_key_is_refused_at_once_without_a_call(app_url, fake, key):
    """A key no OpenAI key could look like gets a clear message: no upstream call, no retry, no key in it.
    Sent raw (JSON escapes carry a lone surrogate, which gradio_client cannot encode)."""
    body = json.dumps({"data": ["a kite", "auto", "auto", "auto", "png", key]})  # ASCII, with \u escapes
    posted = httpx.post(f"{app_url}gradio_api/call/generate", content=body, timeout=10,
                        headers={"content-type": "application/json"})
    answer = httpx.get(f"{app_url}gradio_api/call/generate/{posted.json()['event_id']}", timeout=30).text
    event, data = answer.strip().splitlines()[-2:]
    assert event == "event: complete", answer
    message = json.loads(data.removeprefix("data: "))[-1]  # the raw answer: the state's null first
    assert message.startswith("That API key contains characters an OpenAI key never has"), message
    assert fake.attempts == 0 and not any(part in answer for part in fragments(USER_KEY))
