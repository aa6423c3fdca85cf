"""Bounded resources: images kept per session, and session state released when a session
ends (idle past its time to live, or its browser disconnects)."""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urljoin

import httpx
from fake_openai import prompt_of
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, Page, image_prompt, image_serial

from hitl.core.stages import Session
from hitl.web import gradio_internals


def held(demo) -> dict:
    """What the app's sessions hold in Gradio's state store right now."""
    entries = gradio_internals.sessions(demo)
    sessions = [v for entry in entries for v in list(entry.state_data.values()) if isinstance(v, Session)]
    image_bytes = sum(len(c.image) + len(c.thumb) for s in sessions
                      for c in [*s.candidates, *([s.final_result] if s.final_result else [])])
    return {"gradio_session_entries": len(entries), "sessions": len(sessions), "image_bytes": image_bytes}


def wait_for(condition, timeout: float, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return condition()


def test_candidates_per_session_are_capped(own_app, fake):
    demo = own_app(max_candidates=3)
    client = Client(demo.local_url, verbose=False)
    results = [client.predict("capped", api_name="/generate")]
    results += [client.predict(api_name="/regenerate") for _ in range(5)]
    assert [len(r[CANDIDATES]) for r in results] == [1, 2, 3, 3, 3, 3]
    assert all(image_prompt(r) == "capped" for r in results)
    (session,) = [s for s in [v for e in gradio_internals.sessions(demo)
                              for v in e.state_data.values()] if isinstance(s, Session)]
    assert len(session.candidates) == 3 and session.made == 6
    newest = [image_serial(r) for r in results[-3:]]
    assert [prompt_of(c.image)[1] for c in session.candidates] == newest
    assert session.selected == 2  # the newest is on screen


def test_idle_session_state_expires_after_its_time_to_live(own_app, fake):
    demo = own_app(session_ttl=1)
    client = Client(demo.local_url, verbose=False)
    client.predict("short lived", api_name="/generate")
    assert held(demo)["sessions"] == 1
    assert wait_for(lambda: held(demo)["sessions"] == 0, timeout=6), held(demo)
    # The same browser tab is not stuck: it is told to start again, and can.
    stale = client.predict(api_name="/regenerate")
    assert "no image to review" in stale[MESSAGE]
    assert image_prompt(client.predict("short lived", api_name="/generate")) == "short lived"


def test_session_state_is_released_when_the_browser_disconnects(own_app, fake, monkeypatch):
    """Open and close many sessions: what sessions hold must return to the baseline.

    A closed tab is noticed through Gradio's heartbeat stream (every 15 s by default; 0.2 s here).
    Gradio then only marks the session closed and keeps its state for an hour; the app must
    release it itself (a `demo.unload` hook)."""
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")
    demo = own_app(closed_session_grace=1)  # the app keeps a closed tab this long, in case it returns
    monkeypatch.setattr(fake, "image_bytes", 50_000)  # sessions that hold something worth freeing
    baseline = held(demo)

    def use_and_keep(i):
        client = Client(demo.local_url, verbose=False)
        client.predict(f"disconnecting {i}", api_name="/generate")
        client.predict(api_name="/regenerate")
        return client

    with ThreadPoolExecutor(6) as pool:
        clients = list(pool.map(use_and_keep, range(12)))
    busy = held(demo)
    assert busy["sessions"] == 12 and busy["image_bytes"] >= 12 * 2 * 50_000
    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(lambda c: c.close(), clients))  # the heartbeat stream closes, like a tab
    assert wait_for(lambda: all(gradio_internals.is_closed(demo, c.session_hash) or
                                not any(True for _ in gradio_internals.session_values(demo, c.session_hash))
                                for c in clients), timeout=5), "Gradio saw no disconnect"
    wait_for(lambda: held(demo) == baseline, timeout=5)
    assert held(demo) == baseline, f"still held after every session disconnected: {held(demo)}"


def test_a_flood_of_new_sessions_from_one_address_evicts_its_own_not_anothers(own_app, fake):
    """One address opening more sessions than it may keep loses its own oldest, in the vault and in
    Gradio's state store alike; another address's session keeps its image, its reload and its Approve.
    The stores are made small (20 sessions) so that 30 page loads would fill them without the per-address cap."""
    cap, flood = 5, 30
    demo = own_app(proxy_hops=1, max_sessions=20, sessions_per_address=cap)
    victim = Page(demo.local_url, headers={"X-Forwarded-For": "198.51.100.7"})
    victim.load()
    image = victim.result(victim.click("generate", "still mine", 1, "auto", "auto", "auto", "png", "", 0), "image")
    flooder = Page(demo.local_url, headers={"X-Forwarded-For": "203.0.113.9"})
    tokens = []
    for _ in range(flood):
        flooder.session_hash = uuid.uuid4().hex[:12]  # a new tab, with no token: a new session each time
        flooder.load()
        tokens.append(flooder.token)
    assert len(gradio_internals.sessions(demo)) <= cap + 2  # the flooder's newest and the victim's
    assert victim.http.get(urljoin(victim.root + "/", image["url"])).status_code == 200
    reloaded = Page(demo.local_url, headers={"X-Forwarded-For": "198.51.100.7"})
    assert reloaded.result(reloaded.load(victim.token), "image")["url"] == image["url"]
    approved = victim.click("approve")
    assert "hitl-download" in victim.result(approved, "download")  # approved: the final stage's links
    assert not victim.result(approved, "status")["value"]  # no "There is no image to review yet"
    again = Page(demo.local_url, headers={"X-Forwarded-For": "203.0.113.9"})
    again.load(tokens[0])
    assert again.token != tokens[0]  # the flooder's oldest session is what went
    again.load(tokens[-1])
    assert again.token == tokens[-1]


def test_a_flood_of_raw_api_calls_from_one_address_evicts_its_own_gradio_state(own_app, fake):
    """Each raw REST call gets a new Gradio session; past the address's cap its own oldest are let go, so
    another address's page keeps its state (its image URL is served from it)."""
    demo = own_app(proxy_hops=1, max_sessions=20, sessions_per_address=5)
    victim = Page(demo.local_url, headers={"X-Forwarded-For": "198.51.100.7"})
    victim.load()
    image = victim.result(victim.click("generate", "still mine", 1, "auto", "auto", "auto", "png", "", 0), "image")
    flooder = httpx.Client(base_url=demo.local_url, timeout=30, headers={"X-Forwarded-For": "203.0.113.9"})
    for _ in range(30):
        event = flooder.post("gradio_api/call/history", json={"data": []}).json()["event_id"]
        assert "event: complete" in flooder.get(f"gradio_api/call/history/{event}").text
    assert len(gradio_internals.sessions(demo)) <= 5 + 2  # the flooder's newest and the victim's
    assert victim.http.get(urljoin(victim.root + "/", image["url"])).status_code == 200
