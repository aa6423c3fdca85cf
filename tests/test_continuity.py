"""The session vault on its own: tokens, expiry, bounds, tabs (the browser side: test_browser.py)."""

from __future__ import annotations

import asyncio

from hitl.core.continuity import MAX_TABS, ByAddress, SessionVault
from hitl.core.stages import Action, Session, Stage


def test_a_reload_with_the_token_gets_the_same_session_back():
    vault = SessionVault(ttl=60)
    first = Session()
    token, home = vault.open(None, "tab-1", first, now=0)
    assert home.session is first and len(token) >= 40
    later = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="kept")
    vault.keep("tab-1", later, now=10)
    again, restored = vault.open(token, "tab-2", Session(), now=20)  # the reloaded page is a new tab
    assert again == token and restored is home and restored.session is later


def test_a_wrong_or_expired_token_gets_a_fresh_session_never_someone_elses():
    vault = SessionVault(ttl=60)
    token, _ = vault.open(None, "tab-1", Session(stage=Stage.FINAL), now=0)
    fresh = Session()
    for wrong in ("", "not-a-token", token[:-1] + ("A" if token[-1] != "A" else "B"), None, 42):
        other, home = vault.open(wrong, "tab-x", fresh, now=1)
        assert home.session is fresh and other != token
    expired_token, home = vault.open(token, "tab-2", fresh, now=200)  # past its time to live
    assert home.session is fresh and expired_token != token


def test_using_a_session_keeps_it_alive_and_the_vault_is_bounded():
    vault = SessionVault(ttl=60, max_sessions=3)
    token, _ = vault.open(None, "tab-1", Session(input_used_by_process="busy"), now=0)
    for minute in range(1, 5):
        vault.keep("tab-1", Session(input_used_by_process="busy"), now=minute * 50)
    assert vault.open(token, "tab-2", Session(), now=230)[1].session.input_used_by_process == "busy"
    for n in range(5):
        vault.open(None, f"other-{n}", Session(), now=231)
    assert len(vault) == 3


def test_tabs_of_one_token_share_the_latest_session():
    vault = SessionVault(ttl=60)
    token, _ = vault.open(None, "tab-1", Session(), now=0)
    vault.open(token, "tab-2", Session(), now=1)
    newer = Session(stage=Stage.USER_FEEDBACK)
    vault.keep("tab-1", newer, now=2)
    assert vault.home("tab-2").session is newer  # the other tab starts from where tab 1 left it
    assert vault.home("api-client") is None  # no token (gradio_client): its own state
    for n in range(MAX_TABS + 2):
        vault.open(token, f"reload-{n}", Session(), now=3)
    assert vault.home("tab-1") is None  # the oldest tabs are forgotten, not kept forever


def test_a_job_runs_on_without_a_tab_and_ends_with_its_session():
    async def scenario():
        vault = SessionVault(ttl=60)
        _, home = vault.open(None, "tab-1", Session(), now=0)

        async def forever(stop):
            yield await asyncio.sleep(3600)

        job = home.start(Action.GENERATE, 1, forever)
        await asyncio.sleep(0.05)
        assert home.job is job and not job.task.done()  # nobody watches, it runs on
        vault.open(None, "someone-else", Session(), now=61)  # the session's time to live has passed
        await asyncio.sleep(0.05)
        assert job.task.done() and home.job is None

    asyncio.run(scenario())


def test_an_address_past_its_cap_loses_its_own_least_recently_used_session():
    released = []
    vault = SessionVault(ttl=60, max_sessions=100, per_address=3, on_evict=released.extend)
    theirs, _ = vault.open(None, "their-tab", Session(stage=Stage.FINAL), now=0, address="198.51.100.7")
    mine = [vault.open(None, f"tab-{n}", Session(), now=1, address="203.0.113.9")[0] for n in range(3)]
    vault.keep("tab-0", Session(), now=2)  # used again: now the most recently used of the three
    for n in range(3, 5):
        vault.open(None, f"tab-{n}", Session(), now=3, address="203.0.113.9")
    assert released == ["tab-1", "tab-2"] and vault.home("tab-0") is not None
    assert vault.open(theirs, "their-reload", Session(), now=4, address="198.51.100.7")[0] == theirs
    assert vault.open(mine[1], "tab-x", Session(), now=4, address="203.0.113.9")[0] != mine[1]
    assert len(vault) == 4  # 3 of the flooder's, 1 of theirs


def test_by_address_lets_go_of_the_addresss_own_oldest_then_everyones():
    used = ByAddress(per_address=2, most=3)
    assert used.use("a1", "A") == [] and used.use("a2", "A") == [] and used.use("b1", "B") == []
    assert used.use("a3", "A") == ["a1"]  # A's own oldest, not B's
    assert used.use("a2", "B") == []  # used again from another address: now counted there
    assert used.use("c1", "C") == ["b1"]  # four in all: everyone's least recently used goes
    assert used.oldest() == "a3" and len(used) == 3


def test_a_click_before_the_page_load_carrying_a_kept_token_acts_in_that_session():
    """A reloaded page's quick Enter carries the browser's token: its work goes to the session the page
    load then opens, not to a home of its own that the page load would leave behind."""
    vault = SessionVault(ttl=60)
    token, kept = vault.open("", "tab-1", Session(), now=0)
    assert vault.untold("tab-2", Session(), now=1, token=token) is kept
    assert vault.open(token, "tab-2", Session(), now=2)[1] is kept and len(vault) == 1
    stranger = vault.untold("tab-3", Session(), now=3, token="made-up")  # a token not kept: a home of its own
    assert stranger is not kept and vault.open("made-up", "tab-3", Session(), now=4)[1] is stranger


def test_a_click_before_the_page_load_arrives_keeps_its_work_in_the_tabs_session():
    """A quick Enter on a slow connection reaches the server before the page's load event: the home it
    made (and the job on it) is the one the page load then opens, under a token of its own."""
    vault = SessionVault(ttl=60)
    early = vault.untold("tab-1", Session(), now=0)
    early.set(Session(stage=Stage.USER_FEEDBACK, input_used_by_process="typed fast"), now=1)
    token, home = vault.open("", "tab-1", Session(), now=2)
    assert home is early and len(vault) == 1
    assert vault.open(token, "tab-2", Session(), now=3)[1] is early  # a reload finds it by that token
    other, fresh = vault.open("", "tab-1", Session(), now=4)  # adopted once: a told home is never taken again
    assert fresh is not early and other != token
