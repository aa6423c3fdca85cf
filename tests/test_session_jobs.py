"""Tabs of one session over Gradio's own protocol (issue 22): an action acts on what its tab showed, a
job outlives the event that asked for it, and the session's other tab draws it (the browser side of
the same: test_browser_jobs.py)."""

from __future__ import annotations

import json
import threading

from helpers import Page, wait_until

from hitl.core.nodes import STALE

OPTIONS = (1, "auto", "auto", "auto", "png", "", 0)  # count, size, quality, background, format, key, budget


def shown(page: Page, messages: list[dict]) -> str:
    """The URL of the picture a click's result puts on screen."""
    image = page.result(messages, "image")
    return (image.get("value") or {} if image.get("__type__") == "update" else image)["url"]


def said(page: Page, messages: list[dict]) -> str:
    status = page.result(messages, "status")
    return status.get("value") if isinstance(status, dict) else status


def seen(stage: str, screen: str | None = None) -> dict:
    """What the page's script hands an action: the stage and picture its tab had on screen."""
    return {"seen-data": json.dumps({"stage": stage, "screen": screen})}


def test_approve_acts_on_the_picture_its_tab_showed_or_refuses(app_url, fake):
    one, two = Page(app_url), Page(app_url)
    one.load()
    first = shown(one, one.click("generate", "the first of two", *OPTIONS))
    assert shown(two, two.load(one.token)) == first  # a second tab of the same browser: it shows #1
    newest = shown(one, one.click("regenerate", *OPTIONS))
    assert newest != first
    # Tab 2 had #1 on screen when its user pressed Approve: #1 is approved, not the newer #2.
    approved = two.click("approve", **seen("user_feedback", first))
    assert said(two, approved) in ("", None)
    assert f'href="{first}"' in two.result(approved, "download")  # the Download link is #1's
    assert fake.attempts == 2
    # Tab 1 took it back and started over; tab 2 still showed review: refused, and told why.
    one.click("reopen", **seen("final", first))
    one.click("start-over")
    refused = two.click("approve", **seen("user_feedback", first))
    assert refused[-1]["success"], refused[-1].get("output")
    assert said(two, refused) == STALE
    assert not approved_in(one.token, app_url)  # still where tab 1 left it: nothing approved


def test_refine_edits_the_picture_its_tab_showed(app_url, fake):
    """Tab 2 still showed #1 when its user refined: #1 is edited and sent upstream, not the newer #2."""
    one, two = Page(app_url), Page(app_url)
    one.load()
    first = shown(one, one.click("generate", "refine what was seen", *OPTIONS))
    two.load(one.token)
    one.click("regenerate", *OPTIONS)
    refined = two.click("refine", "make it night", *OPTIONS[1:], **seen("user_feedback", first))
    assert said(two, refined) in ("", None)
    gallery = two.result(refined, "gallery")
    tiles = gallery.get("value") if isinstance(gallery, dict) else gallery
    assert tiles[-1]["caption"].startswith("#3 · refine of #1"), [tile["caption"] for tile in tiles]


def test_approve_left_while_comparing_approves_the_one_on_screen_never_the_one_beside(app_url, fake):
    """The page sends both pictures it showed with either Approve while two are side by side: Approve (or
    Approve left) is for the one on screen, Approve right for the one beside it."""
    for pressed, side in (("approve-left", "screen"), ("approve", "screen"), ("approve-right", "beside")):
        page = Page(app_url)
        page.load()
        on_screen = shown(page, page.click("generate", f"which side: {pressed}", 2, *OPTIONS[1:]))
        beside = page.result(page.click("compare"), "beside")
        beside = (beside.get("value") or {} if beside.get("__type__") == "update" else beside)["url"]
        assert beside != on_screen
        showing = json.dumps({"stage": "user_feedback", "screen": on_screen, "beside": beside})
        approved = page.click(pressed, **{"seen-data": showing})
        assert said(page, approved) in ("", None)
        expected = on_screen if side == "screen" else beside
        assert f'href="{expected}"' in page.result(approved, "download"), pressed


def approved_in(token: str, app_url: str) -> bool:
    """Whether a fresh page of the session shows the final stage (a download link)."""
    page = Page(app_url)
    return bool(page.result(page.load(token), "download"))


def test_a_candidate_gone_from_the_session_is_never_swapped_for_another(app_url, fake):
    one, two = Page(app_url), Page(app_url)
    one.load()
    first = shown(one, one.click("generate", "kept or not", *OPTIONS))
    two.load(one.token)
    one.click("discard")  # tab 1 threw the candidates away and made a new one
    one.click("generate", "something else", *OPTIONS)
    refused = two.click("approve", **seen("user_feedback", first))
    assert said(two, refused) == STALE
    assert not approved_in(one.token, app_url)


def test_a_job_runs_on_when_the_tab_that_asked_for_it_goes(app_url, fake):
    """The asking event's connection closes 0.3 s into a 2 s image: OpenAI is not hung up on, and the
    image lands in the session, where the next page load of the same browser finds it."""
    one = Page(app_url)
    one.load()
    fake.latency = 2.0
    assert one.leave_after(0.3, "generate", "outlives its tab", *OPTIONS), "the tab left after its image came"
    wait_until(lambda: "outlives its tab" in fake.answered, limit=15)
    assert fake.attempts == 1 and fake.disconnects == 0
    reloaded = Page(app_url)
    messages = reloaded.load(one.token)
    assert reloaded.result(messages, "prompt") == "outlives its tab"
    url = reloaded.result(messages, "image")["url"]
    assert reloaded.http.get(f"{reloaded.root}/{url}").status_code == 200


def test_cancel_from_another_tab_stops_the_job_and_another_session_cannot(slow_app_url, fake):
    """Cancel works from any tab of the session, not only the one that asked; a tab of another session
    cancels nothing of it."""
    one, two, stranger = Page(slow_app_url), Page(slow_app_url), Page(slow_app_url)
    one.load()
    two.load(one.token)  # a second tab of the same browser
    stranger.load()  # another browser: a session of its own
    fake.latency = 6.0
    asked = threading.Thread(target=one.click, args=("generate", "stopped from the other tab", *OPTIONS), daemon=True)
    asked.start()
    wait_until(lambda: any("stopped from the other tab" in str(r.body) for r in fake.requests))
    stranger.click("cancel")
    two.click("cancel")
    asked.join(4)  # long before the image would have come
    assert not asked.is_alive(), "the job ran on after the second tab's Cancel"
    wait_until(lambda: fake.disconnects == 1)  # hung up on, before its end
    assert "stopped from the other tab" not in fake.answered
    again = Page(slow_app_url)
    assert not again.result(again.load(one.token), "download")  # nothing was made or approved

    fake.latency = 1.0
    made: list = []
    asked = threading.Thread(target=lambda: made.append(one.click("generate", "not theirs to stop", *OPTIONS)),
                             daemon=True)
    asked.start()
    wait_until(lambda: any("not theirs to stop" in str(r.body) for r in fake.requests))
    stranger.click("cancel")  # another session's Cancel: the job runs to its end
    asked.join(30)
    assert made and said(one, made[0]) in ("", None)
    assert "gradio_api/hitl/image/" in json.dumps(one.result(made[0], "image"))  # its image came
