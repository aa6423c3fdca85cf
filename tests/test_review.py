"""Send for review, in the core: capability tokens kept as digests, revocation, expiry, the reviewer's two
actions through the stage machine and the decision log saying who decided (hitl/core/review.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace

import pytest

from hitl.core.continuity import SessionVault
from hitl.core.history import history, markdown
from hitl.core.jobs import Home
from hitl.core.nodes import MAX_COMMENT
from hitl.core.review import INVALID, MINUTES, MOVED, NOT_NOW, WAIT, ReviewDesk, Reviewer, review
from hitl.core.runner import Runtime, run_action
from hitl.core.stages import REVIEWER, Action, Candidate, Session, Stage, allowed
from hitl.serving.config import load_settings


def reviewing(n: int = 3) -> Session:
    candidates = [Candidate(b"\x89PNG-%d" % i, prompt="a fox", cost=0.04) for i in range(n)]
    return Session(stage=Stage.USER_FEEDBACK, input_used_by_process="a fox", candidates=candidates,
                   selected=n - 1, made=n)


@pytest.fixture
def runtime() -> Runtime:
    return Runtime.create(load_settings(api_key=None))


def act_with(runtime: Runtime):
    return lambda action, session, **inputs: run_action(action, session, runtime, **inputs)


def test_a_token_is_unguessable_kept_only_as_a_digest_and_opens_its_own_home_alone():
    desk, now = ReviewDesk(ttl=1800), time.monotonic()
    home, other = Home(reviewing(), now), Home(reviewing(), now)
    token, theirs = desk.issue(home, 60, now), desk.issue(other, 60, now)
    assert len(token) == 43 and token != theirs
    assert desk.find(token, now) is home and desk.find(theirs, now) is other
    assert token not in repr(vars(home.review)) and token not in list(desk._homes)  # a digest, never the token
    for guess in ("", None, 42, token[:-1] + ("A" if token[-1] != "A" else "B"), "x" * 43, token * 100):
        assert desk.find(guess, now) is None


def test_revoking_or_sending_a_new_link_stops_the_old_one_at_once():
    desk, now = ReviewDesk(ttl=1800), time.monotonic()
    home = Home(reviewing(), now)
    first = desk.issue(home, 60, now)
    version = home.version
    second = desk.issue(home, 60, now)
    assert desk.find(first, now) is None and desk.find(second, now) is home
    assert home.version > version, "the home's pages are told"
    reviewer = Reviewer.open(desk, second, now)
    assert reviewer is not None and reviewer.session is home.session
    assert desk.revoke(home) and not desk.revoke(home)
    assert desk.find(second, now) is None and reviewer.session is None


def test_a_link_expires_after_the_time_picked_or_with_its_session():
    desk, now = ReviewDesk(ttl=1800), time.monotonic()
    home = Home(reviewing(), now)
    token = desk.issue(home, 15, now)
    assert desk.find(token, now + 15 * 60 - 1) is home
    assert desk.find(token, now + 15 * 60) is None
    token = desk.issue(home, 10**9, now)  # not one of the choices: the default, never longer than a day
    assert max(MINUTES) <= 24 * 60 and desk.find(token, now + 24 * 3600) is None
    token = desk.issue(home, 1440, now)
    assert desk.find(token, now + 1801) is None, "the session's time to live ended first"


def test_a_session_the_vault_lets_go_takes_its_link_with_it():
    vault, desk, now = SessionVault(ttl=1800), ReviewDesk(ttl=1800), time.monotonic()
    _, home = vault.open(None, "tab", reviewing(), now)
    token = desk.issue(home, 60, now)
    vault.open(None, "later", Session(), now + 1801)  # the first session expired meanwhile
    assert desk.find(token, now + 1801) is None and home.review is None


def test_the_stage_machine_lets_a_reviewer_act_only_in_review():
    for action in (Action.REVIEW_APPROVE, Action.REQUEST_CHANGES):
        assert allowed(Stage.USER_FEEDBACK, action)
        assert not allowed(Stage.INITIAL_INPUT, action) and not allowed(Stage.FINAL, action)


def test_the_reviewer_approves_the_candidate_they_saw_and_the_log_says_so(runtime):
    async def main():
        now = time.monotonic()
        home = Home(reviewing(), now)
        reviewer = Reviewer.open(runtime.desk, runtime.desk.issue(home, 60, now))
        seen = home.session.candidates[0]
        assert await review(reviewer, act_with(runtime), Action.REVIEW_APPROVE, seen.key) == ""
        after = home.session
        assert after.stage is Stage.FINAL and after.final_result is seen and after.approved_by_reviewer
        assert after.decisions[-1]["by"] == REVIEWER and after.decisions[-1]["number"] == 1
        assert "#1 approved by reviewer" in markdown(after)
        assert await review(reviewer, act_with(runtime), Action.REVIEW_APPROVE, seen.key) == NOT_NOW

    asyncio.run(main())


def test_an_owners_approval_is_not_the_reviewers(runtime):
    async def main():
        session = reviewing()
        async for after in run_action(Action.APPROVE, session, runtime):
            pass
        assert after.stage is Stage.FINAL and not after.approved_by_reviewer
        assert after.decisions[-1]["by"] == "you"

    asyncio.run(main())


def test_a_request_for_changes_is_cleaned_bounded_and_kept_with_its_candidate(runtime):
    async def main():
        now = time.monotonic()
        home = Home(reviewing(), now)
        reviewer = Reviewer.open(runtime.desk, runtime.desk.issue(home, 60, now))
        act, key = act_with(runtime), home.session.candidates[1].key
        said = await review(reviewer, act, Action.REQUEST_CHANGES, key, "x" * (MAX_COMMENT + 1))
        assert "limit is 1,000" in said and not home.session.requests
        assert "empty" in await review(reviewer, act, Action.REQUEST_CHANGES, key, " \u202e ")
        assert await review(reviewer, act, Action.REQUEST_CHANGES, key, "Warmer light\u202e, **please**") == ""
        after = home.session
        assert after.stage is Stage.USER_FEEDBACK
        assert after.requests[-1] == {"key": key, "number": 2, "comment": "Warmer light, **please**",
                                      "at": after.requests[-1]["at"]}
        logged = history(after)["decisions"][-1]
        assert logged["decision"] == "changes requested" and logged["by"] == REVIEWER and "key" not in logged
        assert "Warmer light, \\*\\*please\\*\\*" in markdown(after)

    asyncio.run(main())


def test_the_reviewer_acts_only_on_what_is_still_there_and_never_mid_generation(runtime):
    async def main():
        now = time.monotonic()
        home = Home(reviewing(), now)
        desk = runtime.desk
        reviewer = Reviewer.open(desk, desk.issue(home, 60, now))
        act = act_with(runtime)
        assert await review(reviewer, act, Action.REVIEW_APPROVE, "gone-away-key") == MOVED
        home.session.busy.action = Action.REGENERATE
        assert await review(reviewer, act, Action.REVIEW_APPROVE, home.session.candidates[0].key) == WAIT
        home.session.busy.release()
        home.set(replace(home.session), now)
        desk.revoke(home)
        assert await review(reviewer, act, Action.REVIEW_APPROVE, home.session.candidates[0].key) == INVALID
        assert home.session.stage is Stage.USER_FEEDBACK and not home.session.decisions
        with pytest.raises(ValueError):
            await review(reviewer, act, Action.REGENERATE, home.session.candidates[0].key)

    asyncio.run(main())


def test_start_over_puts_the_requests_aside_with_the_work(runtime):
    async def main():
        session = replace(reviewing(), requests=[{"key": "k", "number": 1, "comment": "c", "at": "t"}])
        async for after in run_action(Action.START_OVER, session, runtime):
            pass
        assert after.requests == [] and after.undo["requests"] == session.requests

    asyncio.run(main())
