"""Many sessions at once: each sees only its own images, previews and messages."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from fake_openai import prompt_of
from gradio_client import Client
from helpers import CANDIDATES, IMAGE, MESSAGE, REVISED, TEST_KEY, image_b64, image_prompt

SESSIONS = 32


def _run_all(fn, count=SESSIONS):
    """Run fn(i) in `count` threads that start together; return results by index."""
    barrier = threading.Barrier(count, timeout=60)

    def start(i):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(start, range(count)))


def test_32_sessions_at_once_each_get_their_own_images(app_url, fake):
    fake.latency = 0.5  # every upstream request is still open while the others arrive
    with ThreadPoolExecutor(8) as pool:
        clients = list(pool.map(lambda _: Client(app_url, verbose=False), range(SESSIONS)))
    prompts = [f"session {i:02d}: a {word} lantern" for i, word in
               enumerate(("red", "blue", "green", "amber") * (SESSIONS // 4))]

    def generate(i):
        job = clients[i].submit(prompts[i], api_name="/generate")
        final = job.result(timeout=60)
        return final, job.outputs()

    firsts = _run_all(generate)
    assert fake.attempts == SESSIONS
    starts = sorted(r.at for r in fake.requests)
    # One after another would take 32 x 0.5 s: half of that is a generous bound for "at once".
    assert starts[-1] - starts[0] < fake.latency * SESSIONS / 2, "the sessions were served one after another"
    for i, (final, outputs) in enumerate(firsts):
        assert final[MESSAGE] == ""
        assert image_prompt(final) == prompts[i]
        assert final[REVISED] == f"{prompts[i]} (revised)"
        assert len(final[CANDIDATES]) == 1
        for update in outputs[:-1]:  # streamed previews are this session's too
            image = update[IMAGE]
            if isinstance(image, dict) and image.get("url", "").startswith("data:"):
                drawn_for = prompt_of(image["url"].split(",", 1)[1])[0]
                assert drawn_for.endswith(f": {prompts[i]}") or drawn_for == prompts[i], (i, drawn_for)

    # A second round at once (regenerate with a fault mixed in for some) stays paired too.
    fake.reset()
    fake.fail_next("moderation", "moderation", "moderation")
    seconds = _run_all(lambda i: clients[i].predict(api_name="/regenerate"))
    failed = [i for i, r in enumerate(seconds) if r[MESSAGE]]
    assert len(failed) == 3
    for i, result in enumerate(seconds):
        if i in failed:
            assert "safety system" in result[MESSAGE]
            assert image_b64(result) == image_b64(firsts[i][0])  # its own last good image
            assert len(result[CANDIDATES]) == 1
        else:
            assert result[MESSAGE] == ""
            assert image_prompt(result) == prompts[i]
            assert len(result[CANDIDATES]) == 2


def test_a_session_key_is_used_only_by_its_own_session(app_url, fake):
    """A user's own key (Advanced) never leaks into another session's requests."""
    own_keys = {i: f"sk-user{i}-{'k' * 30}{i:02d}" for i in (0, 2)}
    clients = [Client(app_url, verbose=False) for _ in range(4)]
    _run_all(lambda i: clients[i].predict(f"key session {i}", key=own_keys.get(i, ""),
                                          api_name="/generate"), count=4)
    assert fake.attempts == 4
    for request in fake.requests:
        i = int(request.body["input"].rsplit(" ", 1)[1])
        expected = own_keys.get(i, TEST_KEY)
        assert request.headers.get("authorization") == f"Bearer {expected}", i
