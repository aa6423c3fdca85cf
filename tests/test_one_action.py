"""One state-changing action per session at a time: two calls on one session at once.

While an image is being made, Approve, Start Over, Select, Remix and another Generate are refused with
a message and change nothing; Cancel is the one way out. An approved image never changes.
"""

from __future__ import annotations

from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, image_b64, image_prompt, wait_until

from hitl.core.runner import BUSY


def test_approve_during_a_regenerate_is_refused_and_the_approval_is_what_was_on_screen(slow_app_url, fake):
    client = Client(slow_app_url, verbose=False)
    shown = client.predict("a fox", api_name="/generate")
    fake.latency = 8.0  # room for six refused calls on a busy machine while it runs
    running = client.submit(api_name="/regenerate")
    wait_until(lambda: fake.attempts == 2)
    refused = client.predict(api_name="/approve")
    assert refused[MESSAGE] == BUSY
    for endpoint in ("/start_over", "/regenerate"):
        assert client.predict(api_name=endpoint)[MESSAGE] == BUSY
    assert client.predict("a fox at dusk", api_name="/remix")[MESSAGE] == BUSY
    assert client.predict(0, api_name="/select")[MESSAGE] == BUSY
    assert client.predict(0, api_name="/compare")[MESSAGE] == BUSY
    assert client.predict(0, api_name="/approve")[MESSAGE] == BUSY  # approving by index waits its turn too
    assert not running.done(), "the refusals above were not all made while the regenerate ran"
    regenerated = running.result(timeout=30)
    assert regenerated[MESSAGE] == "" and len(regenerated[CANDIDATES]) == 2
    assert fake.attempts == 2, "the refused Regenerate and Remix made no upstream call"

    approved = client.predict(api_name="/approve")
    assert approved[MESSAGE] == "" and image_b64(approved) == image_b64(regenerated)
    assert image_b64(approved) != image_b64(shown)
    fake.latency = 0.0
    assert client.predict(api_name="/regenerate")[MESSAGE].startswith("This image is already approved")
    assert client.predict("a fox at dusk", api_name="/remix")[MESSAGE].startswith("This image is already approved")
    assert image_b64(client.predict(api_name="/approve")) is None  # refused: no image, the approval stands


def test_a_second_generate_on_the_same_session_is_refused_without_a_paid_call(client, fake):
    fake.latency = 1.0
    first = client.submit("one", api_name="/generate")
    wait_until(lambda: fake.attempts == 1)
    second = client.predict("two", api_name="/generate")
    assert second[MESSAGE] == BUSY and image_b64(second) is None
    assert image_prompt(first.result(timeout=30)) == "one"
    assert fake.attempts == 1


def test_cancel_is_the_way_out_and_frees_the_session_at_once(client, fake):
    client.predict("a kite", api_name="/generate")
    fake.latency = 4.0
    running = client.submit(api_name="/regenerate")
    wait_until(lambda: fake.attempts == 2)
    running.cancel()
    wait_until(lambda: fake.disconnects == 1)
    approved = client.predict(api_name="/approve")
    assert approved[MESSAGE] == "" and image_prompt(approved) == "a kite"


def test_other_sessions_are_not_held_up(client, fake, app_url):
    fake.latency = 1.0
    running = client.submit("mine", api_name="/generate")
    wait_until(lambda: fake.attempts == 1)
    other = Client(app_url, verbose=False).predict("theirs", api_name="/generate")
    assert other[MESSAGE] == "" and image_prompt(other) == "theirs"
    assert image_prompt(running.result(timeout=30)) == "mine"
