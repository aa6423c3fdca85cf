"""The server's image memory budget (hitl/serving/image_memory.py): the ledger on its own, the runner with it,
and the real app launched with a budget of a few images."""

from __future__ import annotations

import asyncio
import copy
import gc
import io
import json
import os
import time
from dataclasses import replace
from urllib.parse import urljoin

import pytest
from fake_openai import prompt_of
from helpers import Page, cancel_the_next, data_url
from PIL import Image

from hitl.core.history import history, markdown
from hitl.core.runner import Runtime, run_action
from hitl.core.stages import Action, Candidate, Session, Stage, from_shared, to_shared
from hitl.serving.config import load_settings
from hitl.serving.image_memory import (
    FULL,
    PLACEHOLDER,
    RELEASED,
    ImageMemory,
    budget_bytes,
    machine_memory,
    physical_memory,
    pinned,
)
from hitl.web.components import gallery_payload

SIZE = 100  # bytes per image in the ledger's own tests


def image(name: str = "x") -> Candidate:
    return Candidate(name.encode().ljust(SIZE, b"."))


def review(*candidates: Candidate, selected: int = -1) -> Session:
    return Session(stage=Stage.USER_FEEDBACK, candidates=list(candidates), selected=selected % len(candidates))


def released(*candidates: Candidate) -> list[bool]:
    return [c.released for c in candidates]


# -- the ledger ---------------------------------------------------------------------------------
def test_images_are_counted_once_however_many_copies_hold_them():
    memory = ImageMemory(budget=10 * SIZE)
    a, b = image("a"), image("b")
    session = review(a, b)
    memory.settle(session)
    memory.settle(from_shared(to_shared(session), session.busy))  # the next event's copy
    memory.settle(replace(session, error_message="another copy"))
    assert memory.held == 2 * SIZE and len(memory) == 2


def test_the_least_recently_used_unpinned_images_go_first_across_sessions():
    memory = ImageMemory(budget=5 * SIZE)
    a1, a2, a3 = image("a1"), image("a2"), image("a3")
    b1, b2 = image("b1"), image("b2")
    alice = review(a1, a2, a3, selected=2)  # a3 on screen
    memory.settle(alice)
    bob = review(b1, b2, selected=0)  # b1 on screen
    memory.settle(bob)
    alice = replace(alice, selected=0)  # Alice looks at a1 again: now her most recently used
    memory.settle(alice)
    assert memory.admit() == SIZE  # full: room is made for one more
    assert released(a1, a2, a3, b1, b2) == [False, True, False, False, False]  # a2: oldest, not shown
    assert memory.admit() == SIZE
    assert released(a1, a2, a3, b1, b2) == [False, True, True, False, False]  # a3: unpinned since Alice moved
    assert memory.admit() == SIZE
    assert released(b2) == [True]
    assert memory.held == 2 * SIZE and memory.reserved == 3 * SIZE and memory.released == 3


def test_on_screen_and_approved_images_are_never_released_and_admission_refuses_then():
    memory = ImageMemory(budget=3 * SIZE)
    a, b, c = image("a"), image("b"), image("c")
    approved = Session(stage=Stage.FINAL, candidates=[a, b], selected=0, final_result=a)
    memory.settle(approved)
    on_screen = review(c)
    memory.settle(on_screen)
    assert memory.admit() == SIZE and released(a, b, c) == [False, True, False]  # b: neither shown nor approved
    memory.unreserve(SIZE)
    assert memory.admit() == SIZE  # still room for one, with a and c held
    assert memory.admit() is None  # the rest is pinned: refused, nothing released
    assert released(a, c) == [False, False] and memory.refused == 1


def test_several_images_at_once_need_room_for_all_and_both_sides_of_a_comparison_are_pinned():
    memory = ImageMemory(budget=6 * SIZE)
    a, b, c, d = image("a"), image("b"), image("c"), image("d")
    comparing = Session(stage=Stage.USER_FEEDBACK, candidates=[a, b, c, d], selected=3, compared=0)
    memory.settle(comparing)
    assert pinned(comparing) == {a.key, d.key}  # on screen, and beside it
    assert memory.admit(3) == 3 * SIZE and released(a, b, c, d) == [False, True, False, False]
    memory.unreserve(3 * SIZE)
    assert memory.admit(5) is None and released(c) == [False]  # two pinned + five > six: refused, c kept


def test_a_refused_admission_releases_nothing_it_cannot_use():
    memory = ImageMemory(budget=3 * SIZE)
    kept, spare, big = image("kept"), image("spare"), Candidate(b"B" * 2 * SIZE)
    sessions = [review(spare, kept, selected=1), review(big)]  # alive: a dropped session pins nothing
    for session in sessions:
        memory.settle(session)  # the second takes the ledger over its budget: spare goes at once
    assert released(spare, kept, big) == [True, False, False] and memory.held == 3 * SIZE
    assert memory.admit() is None and not kept.released


def test_images_put_aside_by_start_over_that_undo_would_show_are_pinned():
    a, b = image("a"), image("b")
    aside = Session(stage=Stage.FINAL, candidates=[a, b], selected=1, final_result=b)
    after_start_over = Session(undo={key: getattr(aside, key) for key in (
        "stage", "input_used_by_process", "candidates", "selected", "made", "final_result", "approved_at")})
    assert pinned(after_start_over) == {b.key}
    memory = ImageMemory(budget=SIZE)
    memory.settle(after_start_over)
    assert released(a, b) == [True, False]


def test_a_release_is_seen_by_every_copy_of_the_candidate():
    memory = ImageMemory(budget=SIZE)
    old, new = image("old"), image("new")
    session = review(old)
    copies = [from_shared(to_shared(session), session.busy), copy.deepcopy(session)]
    twin = replace(old, response_id="another copy")
    memory.settle(review(old, new, selected=1))
    assert old.released and twin.released and all(c.candidates[0].released for c in copies)
    assert old.image == b"" and not new.released and new.image.startswith(b"new")


def test_images_nobody_holds_are_forgotten_and_so_are_their_sessions_pins():
    memory = ImageMemory(budget=10 * SIZE)
    gone = review(image("a"), image("b"))
    memory.settle(gone)
    kept = review(image("c"))
    memory.settle(kept)
    assert memory.held == 3 * SIZE
    del gone
    gc.collect()
    assert memory.held == SIZE and len(memory) == 1
    assert list(memory._pins.values()) == [pinned(kept)]  # the dropped session's pins went with it


def test_select_pins_at_once_before_the_event_ends():
    from hitl.core.flows import FLOWS

    memory = ImageMemory(budget=2 * SIZE)
    a, b = image("a"), image("b")
    session = review(a, b, selected=1)
    memory.settle(session)
    shared = to_shared(session, select_index=0, images=memory, owner=session.busy)
    asyncio.run(FLOWS[Action.SELECT]().run_async(shared))  # a on screen; the runner has not settled yet
    assert shared["selected"] == 0
    assert memory.admit() is None and released(a, b) == [False, False]


def test_the_default_budget_is_a_quarter_of_the_memory_the_process_may_use(tmp_path):
    assert budget_bytes(1.5) == 3 << 19
    assert budget_bytes(0) == machine_memory() // 4 > 0
    (tmp_path / "memory.max").write_text("max\n", encoding="utf-8")  # cgroup v2 without a limit: the machine's RAM
    assert machine_memory(tmp_path) == machine_memory(tmp_path / "none")
    (tmp_path / "memory.max").write_text(f"{1 << 30}\n", encoding="utf-8")
    assert machine_memory(tmp_path) == 1 << 30
    (tmp_path / "memory.max").unlink()
    (tmp_path / "memory").mkdir()
    (tmp_path / "memory" / "memory.limit_in_bytes").write_text(f"{2 << 30}\n", encoding="utf-8")  # cgroup v1
    assert machine_memory(tmp_path) == 2 << 30


def test_the_machines_memory_is_read_on_this_platform():
    """Linux, macOS and Windows (CI runs this on all three) each have a way to tell: no guessed 4 GiB."""
    assert physical_memory() is not None and physical_memory() >= 256 << 20


def test_what_is_released_says_so_in_the_gallery_and_the_decision_log():
    memory = ImageMemory(budget=SIZE)
    old, new = replace(image("old"), thumb=b"WEBP"), image("new")
    session = review(old, new, selected=1)
    memory.settle(session)
    captions = [item["caption"] for item in gallery_payload(session.candidates, current=1)]
    assert captions == [f"#1 · {RELEASED}", "#2 · on screen"]
    assert [v["released"] for v in history(session)["versions"]] == [True, False]
    assert f"## #1: generate — {RELEASED}" in markdown(session)


# -- the runner ---------------------------------------------------------------------------------
class Sized:
    """A backend whose images are all SIZE bytes, named by prompt and number."""

    def __init__(self):
        self.made = 0

    async def generate(self, request, on_partial):
        self.made += 1
        return Candidate(f"{request.prompt} {self.made}".encode().ljust(SIZE, b"."), prompt=request.prompt)


def run(runtime: Runtime, action: Action, session: Session, **inputs) -> Session:
    async def last():
        async for item in run_action(action, session, runtime, options={}, **inputs):
            final = item
        return final

    return asyncio.run(last())


def test_generations_through_the_runner_release_old_candidates_and_refuse_when_all_is_pinned():
    runtime = Runtime.create(load_settings(api_key=None, session_limit=100, ip_limit=100,
                                           image_memory_mb=3.5 * SIZE / (1 << 20)))
    runtime.service.backend_for = lambda key: backend
    backend = Sized()
    first = run(runtime, Action.GENERATE, Session(), task_input="a kite")
    second = run(runtime, Action.REGENERATE, first)
    third = run(runtime, Action.REGENERATE, second)
    assert released(*third.candidates) == [False, False, False] and runtime.images.reserved == 0
    fourth = run(runtime, Action.REGENERATE, third)
    assert released(*fourth.candidates) == [True, False, False, False]  # the oldest, not on screen
    picked = run(runtime, Action.SELECT, fourth, select_index=0)
    assert picked.selected == 3 and "released to free memory" in picked.error_message
    assert "click Regenerate" in picked.error_message
    other = run(runtime, Action.GENERATE, Session(), task_input="a boat")  # room made: #2 of the kite goes
    assert released(*fourth.candidates) == [True, True, False, False] and not other.error_message
    third_visitor = run(runtime, Action.GENERATE, Session(), task_input="a third visitor")  # #3 goes
    refused = run(runtime, Action.GENERATE, Session(), task_input="a fourth visitor")
    assert refused.error_message == FULL and refused.stage is Stage.INITIAL_INPUT and backend.made == 6
    assert released(fourth.candidates[3], other.candidates[0], third_visitor.candidates[0]) == [False] * 3
    assert runtime.images.reserved == 0 and runtime.images.refused == 1
    assert refused.generations == []  # a refusal costs the visitor none of their generations


def test_a_cancelled_generation_hands_its_room_back():
    class Slow(Sized):
        async def generate(self, request, on_partial):
            await asyncio.sleep(30)

    runtime = Runtime.create(load_settings(api_key=None, image_memory_mb=1))
    runtime.service.backend_for = lambda key: Slow()

    async def cancel_midway():
        items = run_action(Action.GENERATE, Session(), runtime, task_input="a kite", options={})
        await items.__anext__()  # Started: the room is reserved by now
        assert runtime.images.reserved > 0
        await cancel_the_next(items, after=0.05)

    asyncio.run(cancel_midway())
    assert runtime.images.reserved == 0


# -- pictures in flight ----------------------------------------------------------------------------
PICTURE = 30_000  # bytes of the candidate Refine sends


class Noting(Sized):
    """Notes the image memory's reservation while each call runs, then makes its image, fails or hangs."""

    def __init__(self, images: ImageMemory, outcome: str = "done"):
        super().__init__()
        self.images, self.outcome, self.seen = images, outcome, []

    async def generate(self, request, on_partial):
        self.seen.append(self.images.reserved)
        if self.outcome == "failed":
            raise ConnectionError("the upstream went away")
        if self.outcome == "cancelled":
            await asyncio.sleep(30)
        return await super().generate(request, on_partial)


def picture_runtime(budget: int, outcome: str = "done") -> tuple[Runtime, Noting]:
    runtime = Runtime.create(load_settings(api_key=None, session_limit=100, ip_limit=100,
                                           image_memory_mb=budget / (1 << 20)))
    backend = Noting(runtime.images, outcome)
    runtime.service.backend_for = lambda key: backend
    return runtime, backend


def noise_png(side: int) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@pytest.mark.parametrize("outcome", ["done", "failed", "cancelled"])
def test_a_picture_in_flight_counts_against_the_budget_until_its_calls_end(outcome):
    runtime, backend = picture_runtime(budget=1 << 20, outcome=outcome)
    on_screen = Candidate(b"p" * PICTURE)
    session = review(on_screen)
    runtime.images.settle(session)
    inputs = dict(feedback="darker", count=2, options={})

    async def refine():
        items = run_action(Action.REFINE, session, runtime, **inputs)
        if outcome == "cancelled":
            await items.__anext__()  # Started: the calls are under way
            await asyncio.sleep(0.05)
            await cancel_the_next(items, after=0.05)
            return None
        return [item async for item in items][-1]

    after = asyncio.run(refine())
    # Each of the two calls holds the picture as a data URL and again inside its request body.
    in_flight = 2 * 2 * len(on_screen.data_url)
    assert len(backend.seen) == 2 and all(seen >= in_flight for seen in backend.seen)
    assert runtime.images.reserved == 0  # handed back however the calls ended
    if outcome == "done":
        assert len(after.candidates) == 3 and not after.error_message
    if outcome == "failed":
        assert after.candidates == [on_screen] and after.error_message


def test_a_picture_of_ones_own_counts_decoded_and_sent_while_its_call_runs():
    runtime, backend = picture_runtime(budget=1 << 20)
    elsewhere = review(image("elsewhere"))  # so room for a new image is SIZE bytes, not the 2 MiB of an empty ledger
    runtime.images.settle(elsewhere)
    picture = noise_png(96)
    made = run(runtime, Action.GENERATE, Session(), task_input="a kite", upload_input=data_url(picture))
    assert made.candidates[0].image == picture and not made.error_message
    assert backend.seen[0] >= len(picture) + 2 * len(data_url(picture))  # decoded, base64, in the body
    assert runtime.images.reserved == 0


def test_a_picture_the_budget_cannot_hold_in_flight_is_refused_before_it_is_decoded_or_sent(monkeypatch):
    # Room for the image on screen and a new one, not for the picture sent as well.
    runtime, backend = picture_runtime(budget=3 * PICTURE)
    session = review(Candidate(b"p" * PICTURE))
    runtime.images.settle(session)
    room = runtime.images.admit()
    assert room is not None  # a new image alone fits
    runtime.images.unreserve(room)
    refused = run(runtime, Action.REFINE, session, feedback="darker")
    assert refused.error_message == FULL and refused.candidates == session.candidates
    assert backend.made == 0 and refused.generations == []  # never sent, and no generation spent

    decoded = []
    monkeypatch.setattr("hitl.core.nodes.check_upload", lambda url: decoded.append(url))
    upload = data_url(noise_png(96))  # the same size as the one on screen: a new image would fit
    runtime, backend = picture_runtime(budget=3 * (len(upload) * 3 // 4))
    pinned_elsewhere = review(Candidate(b"q" * (len(upload) * 3 // 4)))
    runtime.images.settle(pinned_elsewhere)
    own = run(runtime, Action.GENERATE, Session(), task_input="a kite", upload_input=upload)
    assert own.error_message == FULL and decoded == [] and backend.made == 0
    assert runtime.images.reserved == 0 and runtime.images.refused == 1


def test_a_caller_past_its_limit_releases_nobodys_images_however_big_its_picture():
    runtime, backend = picture_runtime(budget=int(4.5 * PICTURE))
    runtime.settings = replace(runtime.settings, session_limit=1)
    theirs = Candidate(b"o" * PICTURE)  # another visitor's, off screen: the first to go when room is made
    elsewhere = review(theirs, image("on screen"), selected=1)
    runtime.images.settle(elsewhere)
    mine = review(Candidate(b"p" * PICTURE))
    runtime.images.settle(mine)
    spent = run(runtime, Action.REFINE, replace(mine, generations=[time.monotonic()]), feedback="darker")
    assert spent.error_message.startswith("Generation limit reached") and backend.made == 0
    assert not theirs.released and runtime.images.reserved == 0 and runtime.images.released == 0
    allowed = run(runtime, Action.REFINE, mine, feedback="darker")  # within its limit: room is made
    assert not allowed.error_message and theirs.released and backend.made == 1


# -- the real app ---------------------------------------------------------------------------------
OPTIONS = ("auto", "auto", "auto", "png", "", 0)
IMAGE = 20_000  # bytes per image from the fake, padded


@pytest.fixture
def big_images(fake):
    fake.image_bytes = IMAGE
    yield fake
    fake.image_bytes = 0


def pick(page: Page, index: int) -> list[dict]:
    """Click a gallery tile: the page's select event, through the queue as the browser sends it."""
    gallery = page.ids["gallery"]
    fn_index, dep = next((i, dep) for i, dep in enumerate(page.config["dependencies"])
                         if [gallery, "select"] in [list(t) for t in dep["targets"]])
    page.outputs = dep["outputs"]
    body = {"data": [None] * len(dep["inputs"]), "fn_index": fn_index, "session_hash": page.session_hash,
            "event_data": {"index": index, "value": None, "selected": True}, "trigger_id": gallery}
    page.http.post(f"{page.root}/gradio_api/queue/join", json=body, headers={"x-gradio-user": "app"})
    with page.http.stream("GET", f"{page.root}/gradio_api/queue/data",
                          params={"session_hash": page.session_hash}) as stream:
        messages = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    return [m for m in messages if m["msg"] != "close_stream"]


def value(page: Page, messages: list[dict], elem_id: str):
    """A component's value in an event's result, sent as a plain value or as an update."""
    got = page.result(messages, elem_id)
    return got.get("value") if isinstance(got, dict) and got.get("__type__") == "update" else got


def fetch(page: Page, url: str):
    return page.http.get(urljoin(page.root + "/", url))


def test_the_app_keeps_its_images_within_a_small_budget(own_app, big_images):
    # Room for 4.5 of the fake's images; its partial previews stream past and are never held.
    url = own_app(image_memory_mb=4.5 * IMAGE / (1 << 20)).local_url
    alice, bob, carol, dave, eve = (Page(url) for _ in range(5))
    alice.click("generate", "alice", 1, *OPTIONS)
    alice.click("regenerate", 1, *OPTIONS)
    alice.click("regenerate", 1, *OPTIONS)
    approved = bob.result(bob.click("generate", "bob", 1, *OPTIONS), "image")["url"]
    bob.click("approve")
    carol.click("generate", "carol", 1, *OPTIONS)  # room made: alice's #1 goes
    latest = alice.click("regenerate", 1, *OPTIONS)  # and her #2
    tiles = value(alice, latest, "gallery")
    assert [tile["caption"].endswith(RELEASED) for tile in tiles] == [True, True, False, False]
    on_screen = alice.result(latest, "image")["url"]
    assert on_screen == tiles[3]["image"]["url"]
    gone = fetch(alice, tiles[0]["image"]["url"])
    assert gone.status_code == 410 and gone.content == PLACEHOLDER  # the tile still shows something
    assert gone.headers["content-type"] == "image/svg+xml"

    refused = pick(alice, 1)
    assert "released to free memory" in value(alice, refused, "status") and "Regenerate" in value(
        alice, refused, "status")
    assert fetch(alice, tiles[2]["image"]["url"]).status_code == 200  # alice's #3: still held
    dave.click("generate", "dave", 1, *OPTIONS)  # room made: alice's #3 goes, the last one not shown
    assert fetch(alice, tiles[2]["image"]["url"]).status_code == 410
    full = eve.click("generate", "eve", 1, *OPTIONS)  # four pinned images: no room for a fifth
    assert value(eve, full, "status") == FULL
    for page, link, who in ((alice, on_screen, "alice"), (bob, approved, "bob")):
        kept = fetch(page, link)  # the image on screen and the approved one: whole
        assert kept.status_code == 200 and len(kept.content) == IMAGE and prompt_of(kept.content)[0] == who
