"""The tests' own launcher holds up on a busy machine (issue 25, item 4): a launch that Gradio's start-up
check could not reach in time is made again, on a new port, and the failed one leaves nothing running."""

from __future__ import annotations

import httpx
import pytest
from gradio import networking
from helpers import LAUNCH_ATTEMPTS, TEST_SETTINGS, start_app


def test_a_launch_gradio_could_not_reach_in_time_is_made_again(monkeypatch, fake_server):
    checked: list[str] = []
    reach = networking.url_ok

    def slow_once(url: str) -> bool:  # as on a busy machine: the first launch's check gives up
        checked.append(url)
        return len(checked) > 1 and reach(url)

    monkeypatch.setattr(networking, "url_ok", slow_once)
    demo = start_app(**TEST_SETTINGS, base_url=fake_server.url)
    try:
        assert len(checked) == 2 and checked[0] != demo.local_url
        assert httpx.get(f"{demo.local_url}config", timeout=30).status_code == 200
        with pytest.raises(httpx.TransportError):  # the first launch is gone
            httpx.get(f"{checked[0]}config", timeout=5)
    finally:
        demo.close()


def test_a_launch_that_keeps_failing_says_why(monkeypatch, fake_server):
    checked: list[str] = []
    monkeypatch.setattr(networking, "url_ok", lambda url: checked.append(url) and False)
    with pytest.raises(ValueError, match="localhost is not accessible"):
        start_app(**TEST_SETTINGS, base_url=fake_server.url)
    assert len(checked) == LAUNCH_ATTEMPTS > 1
    for url in checked:  # none of them left running
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}config", timeout=5)
