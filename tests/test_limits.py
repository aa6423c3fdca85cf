"""Abuse limits: per-session and per-client-address sliding windows, and the queue's size."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import replace

import httpx
import pytest
from gradio_client import Client
from gradio_client.utils import QueueError
from helpers import MESSAGE, TEST_SETTINGS, Page, image_b64, image_prompt

from hitl.core.nodes import STOP, CheckLimits
from hitl.serving.config import load_settings
from hitl.serving.limits import Buckets, window_wait
from hitl.serving.shared_counters import MemoryCounters
from hitl.web.edge import CallRate
from hitl.web.ui import launch_options

LIMIT_MESSAGE = re.compile(r"^Generation limit reached\. Try again in (\d+) s\.$")


def wait_in(message: str) -> int:
    match = LIMIT_MESSAGE.match(message)
    assert match, f"not a limit message: {message!r}"
    return int(match.group(1))


@pytest.fixture
def launch_limited(launch, fake_server):
    """A fresh app (its own per-address counters) with the given limits."""
    def _launch(**limits) -> str:
        return launch(**{**TEST_SETTINGS, **limits}, base_url=fake_server.url)
    return _launch


def test_session_limit(launch_limited, fake):
    url = launch_limited(session_limit=2, limit_window=60)
    client = Client(url, verbose=False)
    first = client.predict("limited one", api_name="/generate")
    second = client.predict(api_name="/regenerate")
    refused = client.predict(api_name="/regenerate")
    assert 55 <= wait_in(refused[MESSAGE]) <= 60
    assert fake.attempts == 2  # the refused one never reached OpenAI
    assert image_b64(refused) == image_b64(second) != image_b64(first)  # nothing lost
    # Refine counts against the same window.
    assert LIMIT_MESSAGE.match(client.predict("brighter", api_name="/refine")[MESSAGE])
    # Another session has its own window.
    other = Client(url, verbose=False).predict("limited two", api_name="/generate")
    assert other[MESSAGE] == "" and image_prompt(other) == "limited two"
    assert fake.attempts == 3


def test_session_window_slides(launch_limited, fake):
    url = launch_limited(session_limit=1, limit_window=1.5)
    client = Client(url, verbose=False)
    assert client.predict("slide", api_name="/generate")[MESSAGE] == ""
    counted_at = fake.requests[0].at  # same clock as the app's, just after it counted the generation
    refused = client.predict(api_name="/regenerate")
    assert 1 <= wait_in(refused[MESSAGE]) <= 2
    time.sleep(max(0.0, counted_at + 1.55 - time.monotonic()))
    again = client.predict(api_name="/regenerate")
    assert again[MESSAGE] == "" and image_prompt(again) == "slide"
    assert fake.attempts == 2


def test_client_address_limit_behind_the_proxy(launch_limited, fake):
    """HITL_PROXY_HOPS=1: the address the proxy puts in X-Forwarded-For is the client."""
    url = launch_limited(ip_limit=2, session_limit=1, proxy_hops=1, limit_window=60)

    def session(forwarded: str) -> Client:
        return Client(url, verbose=False, headers={"X-Forwarded-For": forwarded})

    a = session("203.0.113.7")
    assert a.predict("address one", api_name="/generate")[MESSAGE] == ""
    # A session-limit refusal does not use up the address's budget.
    assert LIMIT_MESSAGE.match(a.predict(api_name="/regenerate")[MESSAGE])
    assert session("203.0.113.7").predict("address two", api_name="/generate")[MESSAGE] == ""
    refused = session("203.0.113.7").predict("address three", api_name="/generate")
    assert 55 <= wait_in(refused[MESSAGE]) <= 60
    assert image_b64(refused) is None
    # Another address is not affected.
    other = session("198.51.100.9").predict("address four", api_name="/generate")
    assert other[MESSAGE] == "" and image_prompt(other) == "address four"
    assert fake.attempts == 3


def test_a_forged_forwarded_entry_does_not_dodge_the_address_limit(launch_limited, fake):
    """A proxy appends the address it saw to whatever X-Forwarded-For the client sent, so only
    the last entry (one trusted hop) is trustworthy; the first one is the client's to invent."""
    url = launch_limited(ip_limit=1, proxy_hops=1, limit_window=60)
    real = "203.0.113.50"
    first = Client(url, verbose=False, headers={"X-Forwarded-For": real})
    assert first.predict("forged one", api_name="/generate")[MESSAGE] == ""
    for forged in ("1.1.1.1", "2.2.2.2"):  # what the client sent, then what the proxy added
        session = Client(url, verbose=False, headers={"X-Forwarded-For": f"{forged}, {real}"})
        refused = session.predict(f"forged {forged}", api_name="/generate")
        assert LIMIT_MESSAGE.match(refused[MESSAGE]), f"{forged} dodged the limit of {real}"
    assert fake.attempts == 1


def test_a_forged_forwarded_line_of_its_own_does_not_dodge_the_address_limit(launch_limited, fake):
    """The client's own X-Forwarded-For line comes before the one the proxy adds: the lines are one list,
    so the proxy's entry is still the last (reading the first line alone would take the forged one)."""
    url = launch_limited(ip_limit=1, proxy_hops=1, limit_window=60)
    real = "203.0.113.60"

    def generate(*lines: str) -> str:
        page = Page(url)
        page.http.headers = httpx.Headers([("X-Forwarded-For", line) for line in lines])
        messages = page.click("generate", f"lines {lines}", 1, "auto", "auto", "auto", "png", "", 0)
        return page.result(messages, "status")

    assert not LIMIT_MESSAGE.match(str(generate(real)))
    for forged in ("1.1.1.1", "2.2.2.2, 3.3.3.3"):
        refused = generate(forged, real)
        assert LIMIT_MESSAGE.match(refused.get("value", "")), f"{forged} dodged the limit of {real}: {refused}"
    assert fake.attempts == 1


def test_forwarded_header_is_ignored_unless_trusted(launch_limited, fake, monkeypatch):
    """Without the proxy setting a client cannot dodge the limit by inventing addresses.
    (uvicorn itself honours X-Forwarded-For from loopback peers, FORWARDED_ALLOW_IPS's default;
    emptying it makes this app instance see its clients as a directly exposed server would.)"""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "")
    url = launch_limited(ip_limit=2, proxy_hops=0, limit_window=60)
    for i, forwarded in enumerate(("192.0.2.1", "192.0.2.2")):
        client = Client(url, verbose=False, headers={"X-Forwarded-For": forwarded})
        assert client.predict(f"spoof {i}", api_name="/generate")[MESSAGE] == ""
    refused = Client(url, verbose=False, headers={"X-Forwarded-For": "192.0.2.3"}).predict(
        "spoof 3", api_name="/generate")
    assert LIMIT_MESSAGE.match(refused[MESSAGE])
    assert fake.attempts == 2


def test_queue_has_a_maximum_size(launch_limited, fake):
    url = launch_limited(queue_size=1, max_concurrent=1)
    clients = [Client(url, verbose=False) for _ in range(4)]
    fake.latency = 1.0
    outcomes: dict[int, object] = {}
    barrier = threading.Barrier(len(clients))

    def run(i):
        barrier.wait()
        try:
            outcomes[i] = clients[i].predict(f"queued {i}", api_name="/generate")
        except QueueError as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    rejected = [i for i, o in outcomes.items() if isinstance(o, QueueError)]
    served = [i for i, o in outcomes.items() if not isinstance(o, QueueError)]
    assert len(outcomes) == 4
    assert rejected and all("Queue is full" in str(outcomes[i]) for i in rejected)
    assert served  # one running, one waiting: the rest are turned away
    for i in served:
        assert image_prompt(outcomes[i]) == f"queued {i}"
    assert fake.attempts == len(served)
    # A rejected session is not stuck once the queue has room.
    fake.latency = 0.0
    retry = clients[rejected[0]].predict(f"queued {rejected[0]}", api_name="/generate")
    assert image_prompt(retry) == f"queued {rejected[0]}"


# -- the window arithmetic and the message, without the app ------------------------------------

def run_check_limits(generations: list[float], now: float, *, limit=2, window=10.0,
                     counters: MemoryCounters | None = None) -> dict:
    shared = {"settings": load_settings(session_limit=limit, ip_limit=1000, limit_window=window),
              "generations": generations, "counters": counters or MemoryCounters(1000, window),
              "client_ip": "198.51.100.1", "now": now, "wall_now": now, "error_message": ""}
    shared["action"] = asyncio.run(CheckLimits().run_async(shared))
    return shared


def test_limit_message_never_says_zero_seconds():
    """0.4 s left must read "1 s", not "Try again in 0 s" (which invites an instant retry that fails)."""
    shared = run_check_limits([0.0, 5.0], now=9.6)
    assert shared["action"] == STOP
    assert wait_in(shared["error_message"]) == 1


def test_limit_message_rounds_up():
    shared = run_check_limits([0.0, 5.0], now=1.2)  # 8.8 s left
    assert wait_in(shared["error_message"]) == 9


def test_check_limits_records_only_allowed_generations():
    counters = MemoryCounters(1000, 10.0)
    allowed = run_check_limits([0.0], now=1.0, counters=counters)
    assert allowed["action"] is None and allowed["generations"] == [0.0, 1.0]
    refused = run_check_limits([0.0, 1.0], now=2.0, counters=counters)
    assert refused["action"] == STOP and refused["generations"] == [0.0, 1.0]
    assert counters._times["198.51.100.1"] == [1.0]  # the address counted the allowed one only


def test_window_wait():
    assert window_wait([], 2, 10, 100.0) == ([], 0.0)
    assert window_wait([80.0, 95.0], 2, 10, 100.0) == ([95.0], 0.0)  # 80 slid out
    recent, wait = window_wait([92.0, 95.0], 2, 10, 100.0)
    assert recent == [92.0, 95.0] and wait == pytest.approx(2.0)
    recent, wait = window_wait([91.0, 92.0, 95.0], 2, 10, 100.0)
    assert wait == pytest.approx(2.0)  # the second newest decides


def test_zero_limit_allows_nothing_instead_of_crashing():
    recent, wait = window_wait([], 0, 10, 100.0)
    assert recent == [] and wait == 10


def test_address_counters_in_memory_are_bounded():
    counters = MemoryCounters(limit=1, window=60, max_clients=3)
    for i in range(5):
        assert asyncio.run(counters.take(f"10.0.0.{i}", 0.0)) == 0.0
    assert len(counters._times) == 3
    assert asyncio.run(counters.take("10.0.0.4", 1.0)) == pytest.approx(59.0)  # the newest are kept


@pytest.mark.parametrize("pool", [1, 64, 500])
def test_gradio_can_run_the_whole_generation_pool_at_once(pool):
    """Gradio runs at most `max_threads` events at once (40 unless told), whatever the
    concurrency limits say; every entry point launches with these options."""
    options = launch_options(load_settings(api_key=None, max_concurrent=pool))
    assert options["max_threads"] > pool
    assert options["run_history"] is False


# -- limits that fit who pays ---------------------------------------------------------------------
def test_the_owner_on_their_own_machine_has_no_generation_limits(launch_limited, fake):
    url = launch_limited(session_limit=1, ip_limit=1, limited=False)
    client = Client(url, verbose=False)
    results = [client.predict("mine", api_name="/generate")] + [client.predict(api_name="/regenerate")
                                                                 for _ in range(3)]
    assert [r[MESSAGE] for r in results] == [""] * 4 and fake.attempts == 4


def test_a_visitors_own_key_does_not_count_against_the_servers_limits(launch_limited, fake):
    url = launch_limited(session_limit=1, ip_limit=1)
    client = Client(url, verbose=False)
    own = "sk-own-key-of-a-visitor-0123456789"
    for _ in range(3):
        assert client.predict("on my key", key=own, api_name="/generate")[MESSAGE] == ""
        client.predict(api_name="/start_over")
    assert client.predict("on the server's key", api_name="/generate")[MESSAGE] == ""  # the window is untouched
    assert LIMIT_MESSAGE.match(client.predict(api_name="/regenerate")[MESSAGE])  # and now it counts


@pytest.mark.parametrize(("argv", "spaces", "limited"), [
    (["--host", "127.0.0.1"], False, False),
    (["--host", "localhost"], False, False),
    (["--host", "127.0.0.1", "--share"], False, True),
    (["--host", "0.0.0.0"], False, True),
    (["--host", "192.0.2.10"], False, True),
    (["--host", "127.0.0.1"], True, True),
])
def test_limits_stand_wherever_there_are_visitors(monkeypatch, argv, spaces, limited):
    import app

    monkeypatch.setattr(app, "ON_SPACES", spaces)
    assert app.settings_for(app.parse_args(argv)).limited is limited


def test_an_address_gets_its_burst_then_its_rate():
    buckets = Buckets(rate=2.0, burst=3)
    assert [buckets.take("a", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("a", 0.0) == pytest.approx(0.5)  # a token every half second
    assert buckets.take("b", 0.0) == 0.0  # another address has its own bucket
    assert buckets.take("a", 0.5) == 0.0
    assert buckets.take("a", 0.5) == pytest.approx(0.5)


def test_address_buckets_are_bounded_and_forget_the_idle():
    buckets = Buckets(rate=1.0, burst=2, keep=3)
    for i in range(5):
        buckets.take(f"10.0.0.{i}", 0.0)
    assert list(buckets.levels) == ["10.0.0.2", "10.0.0.3", "10.0.0.4"]  # the least recently seen went first
    buckets.take("10.0.0.9", 10.0)  # 10 s later every other bucket would be full again: forgotten
    assert list(buckets.levels) == ["10.0.0.9"]


def test_an_address_past_the_call_rate_is_refused_at_the_edge_and_others_are_not(launch_limited, fake):
    """Calls past the burst get 429 with Retry-After before Gradio reads them (no event runs, nothing
    is generated); a bystander behind the same proxy is untouched."""
    url = launch_limited(proxy_hops=1, call_rate=0.5, call_burst=3)
    flooder, bystander = {"X-Forwarded-For": "203.0.113.70"}, {"X-Forwarded-For": "203.0.113.71"}
    join = url + "gradio_api/queue/join"
    answers = [httpx.post(join, json={"data": [], "fn_index": 0, "session_hash": f"f{i}"}, headers=flooder)
               for i in range(6)]
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 3 and all(int(a.headers["retry-after"]) >= 1 for a in refused), answers
    assert "Too many requests" in refused[0].text
    assert Client(url, verbose=False, headers=bystander).predict("still on time", api_name="/generate")[MESSAGE] == ""
    assert fake.attempts == 1


def test_the_owner_on_their_own_machine_has_no_call_rate():
    assert launch_options(replace(load_settings(api_key=None), limited=False))["app_kwargs"]["middleware"][0].cls \
        is not CallRate
    assert launch_options(load_settings(api_key=None))["app_kwargs"]["middleware"][0].cls is CallRate
