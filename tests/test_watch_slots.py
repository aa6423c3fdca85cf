"""Open tabs watch their session, and each watch is one of Gradio's running events: tabs left open, or
closed without a word, must never leave a click waiting for a slot (hitl/web/events.py, MAX_WATCHES)."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from helpers import Page, Watch, wait_until

from hitl.web import events, gradio_internals

OPTIONS = (1, "auto", "auto", "auto", "png", "", 0)  # count, size, quality, background, format, key, budget


def watching(url: str, token: str = "", address: str | None = None) -> tuple[Page, Watch]:
    page = Page(url, headers={"X-Forwarded-For": address} if address else None)
    page.load(token)
    return page, page.watch()


def test_open_tabs_never_crowd_out_a_click(own_app, fake, monkeypatch):
    """Twice as many open tabs as the old slot count (the generation pool + 16): a new visitor's
    Generate is still served, because watches past MAX_WATCHES end and the slots count them."""
    monkeypatch.setattr(events, "MAX_WATCHES", 4)
    url = own_app(max_concurrent=1).local_url
    tabs = [watching(url) for _ in range(2 * (1 + 16))]
    wait_until(lambda: sum(not w.ended for _, w in tabs) == 4)  # the rest ended at once
    done: list = []
    visitor = Page(url)
    visitor.load()
    threading.Thread(target=lambda: done.append(visitor.click("generate", "served", *OPTIONS)), daemon=True).start()
    wait_until(lambda: done, limit=30)
    assert visitor.result(done[0], "image")["url"]
    for _, watch in tabs:
        watch.close()


def test_one_address_cannot_take_every_watch(own_app, fake, monkeypatch):
    monkeypatch.setattr(events, "WATCHES_PER_ADDRESS", 3)
    url = own_app(proxy_hops=1).local_url
    flood = [watching(url, address="203.0.113.9") for _ in range(4)]
    wait_until(lambda: flood[-1][1].ended)
    bystander, watch = watching(url, address="198.51.100.7")
    clicker = Page(url, headers={"X-Forwarded-For": "198.51.100.7"})
    clicker.load(bystander.token)
    clicker.click("generate", "seen live", *OPTIONS)
    wait_until(lambda: "process_generating" in watch.msgs)  # the bystander's other tab is redrawn live
    assert not any(w.ended for _, w in flood[:3])
    for _, w in [*flood, (bystander, watch)]:
        w.close()


@pytest.mark.timeout(90)
def test_a_closed_tab_gives_its_watch_back(own_app, fake, monkeypatch):
    """A tab that goes without a word (a closed laptop, a dead network): its idle watch pings, Gradio
    notices the tab is gone, and the slot is another tab's again, with nothing changing in between."""
    monkeypatch.setattr(events, "WATCHES_PER_ADDRESS", 1)
    monkeypatch.setattr(events, "WATCH_PING", 0.5)
    url = own_app().local_url
    _, watch = watching(url)
    watch.close()
    wait_until(lambda: watches_live(url), limit=60)


def watches_live(url: str) -> bool:
    """Whether a new tab's watch runs (its pings arrive) rather than being ended at once by the cap."""
    _, watch = watching(url)
    try:
        # A refused watch ends after one step that draws nothing; a running one pings every WATCH_PING.
        wait_until(lambda: watch.msgs.count("process_generating") >= 2 or watch.ended)
        return not watch.ended
    finally:
        watch.close()


class Heartbeat:
    """A tab's heartbeat stream: Gradio sees the tab close when it ends (then the app's unload runs)."""

    def __init__(self, url: str, session_hash: str):
        self._http = httpx.Client(timeout=None)
        self._response = self._http.send(self._http.build_request(
            "GET", f"{url.rstrip('/')}/gradio_api/heartbeat/{session_hash}"), stream=True)

    def close(self) -> None:
        self._response.close()
        self._http.close()


@pytest.mark.timeout(90)
def test_a_closed_watching_tab_leaves_no_state_behind(own_app, fake, monkeypatch):
    """The app releases a closed tab's state before the tab's watch pings again: that ping must not bring
    the state back (each step of an event makes Gradio look the tab's state up), or the state of every
    closed tab would stay, never marked closed, for nobody to release."""
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "0.2")
    monkeypatch.setattr(events, "WATCH_PING", 0.5)
    demo = own_app(closed_session_grace=0)
    before = len(gradio_internals.sessions(demo))
    page, watch = watching(demo.local_url)
    beat = Heartbeat(demo.local_url, page.session_hash)
    wait_until(lambda: "process_generating" in watch.msgs)  # the watch pings: it is running
    beat.close()  # Gradio notices the heartbeat first; the watch's stream it finds gone later
    wait_until(lambda: len(gradio_internals.sessions(demo)) == before)  # released at once (grace 0)
    seen = len(watch.messages)
    wait_until(lambda: watch.ended or len(watch.messages) >= seen + 2)  # ended, or two more pings
    watch.close()
    time.sleep(2 * events.WATCH_PING)
    assert len(gradio_internals.sessions(demo)) == before


def test_a_tab_past_the_caps_keeps_what_its_page_load_drew(own_app, fake, monkeypatch):
    """A watch refused a slot ends at once, after one step that draws nothing: Gradio's page applies the
    values of an event that ends before any step, an empty one for every output, which wiped the picture,
    the gallery and the prompt the page load had just drawn (in a browser: test_browser_jobs.py,
    test_a_tab_that_missed_a_change_approves_the_picture_it_showed)."""
    monkeypatch.setattr(events, "MAX_WATCHES", 0)
    url = own_app().local_url
    first = Page(url)
    first.load()
    first.click("generate", "drawn at page load", *OPTIONS)
    again = Page(url)
    assert again.result(again.load(first.token), "image")["url"]  # the page load draws the session
    watch = again.watch()
    wait_until(lambda: watch.ended)
    watch.close()
    end = watch.messages[watch.msgs.index("process_completed")]["output"]["data"]
    session, *shown = end  # the tab's gr.State first: Gradio keeps it server-side whatever comes here
    assert shown and None not in shown, end  # None: the page would empty that output
