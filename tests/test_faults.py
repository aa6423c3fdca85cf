"""The fault matrix: every upstream failure, through the real app and the real SDK.

For each fault the app must make the designed number of upstream attempts (retryable
faults up to `max_attempts`, the rest exactly one), finish within the time budget, show a
specific message that replaces any older one, keep the prompt and the last good image,
and let the same session generate again afterwards (never stuck).
docs/fault-matrix.md is the table of what these tests verify.
"""

from __future__ import annotations

import asyncio
import time

import fake_openai
import httpx2
import openai
import pytest
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, REVISED, TEST_SETTINGS, Page, image_b64, image_prompt, urls, wait_until

from hitl.backends import base
from hitl.backends.base import UNSTREAMED
from hitl.backends.errors import is_retryable
from hitl.serving.config import DEFAULT_IMAGE_MODEL, DEFAULT_RESPONSES_MODEL, load_settings

MAX_ATTEMPTS = TEST_SETTINGS["max_attempts"]
# A safety bound, not a performance target: the budget plus slack for a loaded machine.
TIME_BOUND = TEST_SETTINGS["total_timeout"] + 5

BLOCKED = "Your request was rejected by the safety system. Rephrase the prompt and try again."
CONNECTION_LOST = "The connection to OpenAI was lost before the image arrived. Try again."
INTERRUPTED = ("The connection to OpenAI broke while the image was being made. It was not asked for again, "
               "because OpenAI may still bill the one it began; click again to try once more.")
# fault -> (retried?, the message the user sees when it persists)
MATRIX = {
    "rate_limit": (True, "OpenAI is rate limiting this key. Try again in 1 s."),
    "quota": (False, "The OpenAI account has run out of credit (insufficient quota). Add billing or use another key."),
    "server_error": (True, "OpenAI had a server error (500). Try again in a moment."),
    "unavailable": (True, "OpenAI had a server error (503). Try again in a moment."),
    "timeout": (True, "OpenAI did not answer within 1 s. Try again, or choose a lower quality."),
    "drop": (True, CONNECTION_LOST),
    "malformed": (False, "OpenAI sent an answer that could not be read. Try again."),
    "stream_cut": (False, INTERRUPTED),  # after a partial image: OpenAI had begun (and may bill) it
    "stream_error": (True, "OpenAI had a server error. Try again in a moment."),
    "moderation": (False, BLOCKED),
    "auth": (False, "OpenAI rejected the API key (401). Check OPENAI_API_KEY or the key you entered."),
    "forbidden": (False, "OpenAI refused access to the image model (403). The organisation may need to be "
                         "verified on platform.openai.com before it can use image generation."),
    "region": (False, "OpenAI does not serve the country or region this server connects from (403). Run the app "
                      "where OpenAI's API is offered, or set OPENAI_BASE_URL to a gateway there."),
    "no_retry": (False, "OpenAI had a server error (500). Try again in a moment."),  # x-should-retry: false
    "not_found": (False, f"OpenAI does not know the model “{DEFAULT_IMAGE_MODEL}” or “{DEFAULT_RESPONSES_MODEL}” "
                         "(404). Set HITL_IMAGE_MODEL / HITL_RESPONSES_MODEL to models your account can use."),
    "refusal": (False, "The model answered without an image: “I can't help with that request.” "
                       "Try rephrasing the prompt."),
    # Failures inside a 200 answer (streamed events, or the plain JSON response's status).
    "blocked_prompt": (False, "The safety system blocked your prompt. Rephrase it and try again."),
    "blocked_picture": (False, "The safety system blocked the picture that was made (violence). "
                               "Rephrase the prompt and try again."),
    "incomplete_filter": (False, "The safety system stopped the image before it was finished. "
                                 "Rephrase the prompt and try again."),
    "incomplete_tokens": (False, "The model ran out of output budget before the image was finished. Try again."),
    # `response.failed`, one code of each group in ResponseError.code
    "failed:server_error": (True, "OpenAI had a server error. Try again in a moment."),
    "failed:rate_limit_exceeded": (True, "OpenAI is rate limiting this key. Try again in a minute."),
    "failed:vector_store_timeout": (True, "OpenAI timed out on its side. Try again in a moment."),
    "failed:image_content_policy_violation": (False, BLOCKED),
    "failed:bio_policy": (False, BLOCKED),
    "failed:invalid_prompt": (False, "OpenAI could not use this prompt (invalid prompt). Rephrase it and try again."),
    "failed:invalid_image": (False, "OpenAI could not use the image sent for editing (invalid image). "
                                    "Regenerate, or pick another candidate to refine."),
    "failed:data_residency_mismatch": (False, "This key's OpenAI project requires a data-residency region this "
                                              "request does not use. Set OPENAI_BASE_URL to the project's regional "
                                              "endpoint, or use another key."),
}
FAULTS = list(MATRIX)
# Faults the app answers by asking differently: they have tests of their own below.
ANSWERED_OTHERWISE = {"stream_verification"}


def expected_attempts(fault: str) -> int:
    return MAX_ATTEMPTS if MATRIX[fault][0] else 1


def timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


def gaps(fake) -> list[float]:
    times = [r.at for r in fake.requests]
    return [b - a for a, b in zip(times, times[1:])]


def test_the_matrix_covers_every_fault_the_fake_can_inject():
    named = {fault for fault in MATRIX if not fault.startswith("failed:")}
    assert named | ANSWERED_OTHERWISE == set(fake_openai.FAULTS) | fake_openai.BEHAVIOURS
    assert {fault.partition(":")[2] for fault in set(MATRIX) - named} <= set(fake_openai.FAILED_CODES)


@pytest.mark.parametrize("fault", FAULTS)
def test_persistent_fault_in_review(client, fake, fault):
    """The fault keeps happening: bounded attempts, a specific current message, nothing lost."""
    prompt = f"keep this prompt ({fault})"
    good = client.predict(prompt, api_name="/generate")
    assert image_prompt(good) == prompt
    # An older, different failure first, so the test sees the message being replaced.
    stale = "moderation" if fault != "moderation" else "quota"
    fake.fail_next(stale)
    assert client.predict(api_name="/regenerate")[MESSAGE] == MATRIX[stale][1]

    fake.reset()
    fake.fail_next(*[fault] * (MAX_ATTEMPTS + 1))  # more than enough for every attempt
    failed, elapsed = timed(lambda: client.predict(api_name="/regenerate"))

    assert fake.attempts == expected_attempts(fault)
    assert elapsed < TIME_BOUND
    assert failed[MESSAGE] == MATRIX[fault][1]
    assert image_b64(failed) == image_b64(good), "the last good image must stay on screen"
    assert failed[REVISED] == good[REVISED]
    assert len(failed[CANDIDATES]) == 1
    if fault == "rate_limit":  # Retry-After: 1 is honoured before every new attempt
        assert all(gap >= 1.0 for gap in gaps(fake)), gaps(fake)

    # The same session carries on, with the same prompt, and the message is gone.
    fake.reset()
    again = client.predict(api_name="/regenerate")
    assert fake.attempts == 1
    assert image_prompt(again) == prompt
    assert again[MESSAGE] == ""
    assert len(again[CANDIDATES]) == 2


@pytest.mark.parametrize("fault", FAULTS)
def test_single_fault_on_first_generate(client, fake, fault):
    """One fault, then the server is healthy: retryable faults recover by themselves."""
    prompt = f"first try ({fault})"
    fake.fail_next(fault)
    result, elapsed = timed(lambda: client.predict(prompt, api_name="/generate"))
    assert elapsed < TIME_BOUND
    if MATRIX[fault][0]:
        assert fake.attempts == 2
        assert image_prompt(result) == prompt
        assert result[MESSAGE] == ""
        if fault == "rate_limit":
            assert gaps(fake)[0] >= 1.0, "Retry-After: 1 was not honoured"
        return
    assert fake.attempts == 1
    assert image_b64(result) is None
    assert result[MESSAGE] == MATRIX[fault][1]
    # Still on the prompt stage: the same prompt goes through now.
    fake.reset()
    ok = client.predict(prompt, api_name="/generate")
    assert fake.attempts == 1
    assert image_prompt(ok) == prompt and ok[MESSAGE] == ""


@pytest.mark.parametrize("style", ["app_url", "images_api_url"])
def test_a_stream_is_read_to_its_end_not_hung_up_on_once_the_image_is_in(request, fake, style):
    """The stream's end ([DONE], the closing chunk) comes a moment after its last event: the app reads it
    rather than closing the connection once it has the image (a hang-up OpenAI sees, and a connection the
    pool cannot reuse)."""
    fake.done_delay = 0.3
    client = Client(request.getfixturevalue(style), verbose=False)
    assert client.predict("read to its end", api_name="/generate")[MESSAGE] == ""
    wait_until(lambda: fake.handling == 0)
    assert fake.answered == ["read to its end"] and fake.disconnects == 0


def test_reading_a_stream_to_its_end_is_bounded(monkeypatch):
    """A server that keeps the stream open once the image is in is hung up on after AFTER_THE_END s, rather
    than holding the call until its timeout."""
    async def left_open():
        await asyncio.sleep(3600)
        yield None

    monkeypatch.setattr(base, "AFTER_THE_END", 0.1)
    asyncio.run(asyncio.wait_for(base._read_to_the_end(left_open()), 5))


@pytest.mark.parametrize("style", ["app_url", "images_api_url"])
def test_streaming_that_needs_verification_is_asked_once_without_streaming(request, fake, style):
    """OpenAI's 400 on `stream` (organisation not verified to stream the model): one more call, not
    streamed; the image comes without previews, and the page says why, naming verification."""
    page = Page(request.getfixturevalue(style))
    streamed = page.click("generate", "verified?", 1, "auto", "auto", "auto", "png", "", 0)
    assert urls(streamed), "a normal generation streams previews inline"
    before = page.result(streamed, "image")["url"]
    fake.reset()
    fake.fail_next("stream_verification", "stream_verification")  # every streamed call would get it
    messages = page.click("regenerate", 1, "auto", "auto", "auto", "png", "", 0)
    first, second = (r.body for r in fake.requests)
    assert fake_openai._truthy(first.get("stream")) and not fake_openai._truthy(second.get("stream"))
    assert "partial_images" not in str(second)
    assert page.result(messages, "image")["url"] != before  # a new image came
    assert urls(messages) == []  # no preview
    shown = page.result(messages, "status")
    assert (shown["value"] if isinstance(shown, dict) else shown) == UNSTREAMED
    assert "verified organisations" in UNSTREAMED


def test_a_stream_cut_after_a_partial_image_is_not_asked_again(app_url, fake):
    """The image had begun on OpenAI's side (a preview arrived): a second call could bill twice."""
    page = Page(app_url)
    fake.fail_next("stream_cut", "stream_cut")
    messages = page.click("generate", "cut short", 1, "auto", "auto", "auto", "png", "", 0)
    assert urls(messages), "the cut came after a preview had arrived"
    assert fake.attempts == 1
    shown = page.result(messages, "status")
    assert (shown["value"] if isinstance(shown, dict) else shown) == INTERRUPTED


def test_the_servers_x_should_retry_header_is_obeyed():
    """As the SDK's `_should_retry` does: `false` stops a 500's retries, `true` retries a 400."""
    request = httpx2.Request("POST", "https://api.openai.com/v1/responses")

    def error(kind, status, should_retry=None):
        headers = {"x-should-retry": should_retry} if should_retry else {}
        return kind("x", response=httpx2.Response(status, headers=headers, request=request), body=None)

    assert is_retryable(error(openai.InternalServerError, 500))
    assert not is_retryable(error(openai.InternalServerError, 500, "false"))
    assert not is_retryable(error(openai.BadRequestError, 400))
    assert is_retryable(error(openai.BadRequestError, 400, "true"))


def test_the_typed_prompt_is_never_written_back_to_its_tab(app_url, fake):
    """The typed prompt survives any failure: a generation, failed or not, never overwrites the box of
    the tab that clicked (its user may be typing already); other tabs and a reload get it from the session."""
    page = Page(app_url)
    page.load()
    for faults in (["moderation"], []):
        fake.reset()
        fake.fail_next(*faults)
        messages = page.click("generate", "typed in this tab", 1, "auto", "auto", "auto", "png", "", 0)
        assert fake.attempts == 1
        index = page.outputs.index(page.ids["prompt"])
        written = [m["output"]["data"][index] for m in messages if m.get("output", {}).get("data")]
        assert written and all(value in ({"__type__": "update"}, []) for value in written), written
    other = Page(app_url)
    messages = other.load(page.token)
    assert other.result(messages, "prompt") == "typed in this tab"


def test_refine_failure_keeps_image_and_feedback_path_recovers(client, fake):
    good = client.predict("a red kite", api_name="/generate")
    fake.fail_next(*["server_error"] * MAX_ATTEMPTS)
    failed = client.predict("make it blue", api_name="/refine")
    assert fake.attempts == 1 + MAX_ATTEMPTS
    assert failed[MESSAGE] == MATRIX["server_error"][1]
    assert image_b64(failed) == image_b64(good)
    fake.reset()
    refined = client.predict("make it blue", api_name="/refine")
    assert refined[MESSAGE] == "" and image_b64(refined) != image_b64(good)
    assert fake.requests[0].body["input"][0]["content"][1]["image_url"].endswith(image_b64(good))


def test_retry_after_longer_than_the_budget_gives_up_at_once(client, fake, monkeypatch):
    status, code, text, _ = fake_openai.FAULTS["rate_limit"]
    monkeypatch.setitem(fake_openai.FAULTS, "rate_limit", (status, code, text, {"Retry-After": "30"}))
    fake.fail_next(*["rate_limit"] * MAX_ATTEMPTS)
    result, elapsed = timed(lambda: client.predict("patience", api_name="/generate"))
    assert fake.attempts == 1
    assert elapsed < 5  # it did not sleep 30 s, nor the whole budget
    assert result[MESSAGE] == "OpenAI is rate limiting this key. Try again in 30 s."


@pytest.fixture(scope="module")
def tight_budget_url(launch, fake_server):
    """Many attempts allowed, little time: the time budget is what stops the retries."""
    return launch(**{**TEST_SETTINGS, "total_timeout": 2.0, "max_attempts": 10}, base_url=fake_server.url)


def test_retry_after_that_would_overrun_the_budget_is_not_shortened(tight_budget_url, fake):
    """Retry-After: 1 twice does not fit in 2 s: stop with the rate-limit message instead of
    retrying early (backoff cuts waits to the remaining time) or timing out in the wait."""
    client = Client(tight_budget_url, verbose=False)
    fake.fail_next(*["rate_limit"] * 10)
    result, elapsed = timed(lambda: client.predict("budget", api_name="/generate"))
    assert all(gap >= 1.0 for gap in gaps(fake)), f"an attempt came before Retry-After: {gaps(fake)}"
    assert fake.attempts in (1, 2)  # 2 unless the first answer was very slow
    assert result[MESSAGE] == "OpenAI is rate limiting this key. Try again in 1 s."
    assert elapsed < 2.0 + 5


def test_total_timeout_bounds_slow_attempts(tight_budget_url, fake):
    client = Client(tight_budget_url, verbose=False)
    fake.fail_next(*["timeout"] * 10)
    result, elapsed = timed(lambda: client.predict("slow", api_name="/generate"))
    assert elapsed < 2.0 + 5
    assert 1 <= fake.attempts <= 3  # 1 s per attempt: the 2 s budget allows no more
    assert result[MESSAGE] == "The image was not ready within 2 s. Try again, or choose a lower quality."
    fake.reset()
    assert image_prompt(client.predict("slow", api_name="/generate")) == "slow"


@pytest.fixture(scope="module")
def plain_json_url(launch, fake_server):
    """The Responses API without streaming (partial_images=0)."""
    return launch(**{**TEST_SETTINGS, "partial_images": 0}, base_url=fake_server.url)


@pytest.fixture(scope="module")
def images_api_url(launch, fake_server):
    """The Images API, for gateways without the Responses API."""
    return launch(**{**TEST_SETTINGS, "api_style": "images"}, base_url=fake_server.url)


@pytest.mark.parametrize(("style", "fault"), [
    ("plain_json_url", "malformed"), ("plain_json_url", "drop"), ("plain_json_url", "quota"),
    ("images_api_url", "malformed"), ("images_api_url", "server_error"), ("images_api_url", "auth"),
])
def test_other_api_paths(request, fake, style, fault):
    """The same decisions and messages without streaming and through the Images API."""
    client = Client(request.getfixturevalue(style), verbose=False)
    good = client.predict(f"other path {fault}", api_name="/generate")
    fake.reset()
    fake.fail_next(*[fault] * (MAX_ATTEMPTS + 1))
    failed, elapsed = timed(lambda: client.predict(api_name="/regenerate"))
    assert fake.attempts == expected_attempts(fault)
    assert elapsed < TIME_BOUND
    assert failed[MESSAGE] == MATRIX[fault][1]
    assert image_b64(failed) == image_b64(good)
    fake.reset()
    again = client.predict(api_name="/regenerate")
    assert again[MESSAGE] == "" and image_prompt(again) == f"other path {fault}"


def test_no_image_in_a_plain_json_answer(plain_json_url, fake):
    client = Client(plain_json_url, verbose=False)
    fake.fail_next("refusal", "refusal")
    result = client.predict("refuse me", api_name="/generate")
    assert fake.attempts == 1
    assert result[MESSAGE] == MATRIX["refusal"][1]
    assert image_b64(result) is None


def test_time_budget_defaults_are_bounded_and_configurable(monkeypatch):
    for name in ("HITL_REQUEST_TIMEOUT", "HITL_TOTAL_TIMEOUT", "HITL_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings()
    assert 0 < defaults.request_timeout <= defaults.total_timeout <= 600
    assert 1 <= defaults.max_attempts <= 5
    monkeypatch.setenv("HITL_TOTAL_TIMEOUT", "42")
    monkeypatch.setenv("HITL_MAX_ATTEMPTS", "2")
    assert (load_settings().total_timeout, load_settings().max_attempts) == (42, 2)
