"""Send for review over Gradio's own protocol (issue 27): the owner sends a link, the reviewer's page
watches the session live and approves or asks for changes, the owner's page shows the verdict; and the
security of the link: guessed, revoked, another session's, never in a log line or the API's description."""

from __future__ import annotations

import json
import logging

import httpx
from gradio_client import Client
from helpers import Page, Watch, wait_until

from hitl.core.review import INVALID
from hitl.web import events as page_events

OPTIONS = (1, "auto", "auto", "auto", "png", "", 0)  # count, size, quality, background, format, key, budget


class Reviewer(Page):
    """A reviewer's tab: the review page's load hands over the URL's fragment (the token)."""

    def open(self, token: str) -> list[dict]:
        return self.run_named("review_open", [token])

    def run_named(self, api_name: str, values) -> list[dict]:
        fn_index, dep = next((i, dep) for i, dep in enumerate(self.config["dependencies"])
                             if dep.get("api_name") == api_name)
        return self._run(fn_index, dep, values, {}, None)

    def watch_review(self) -> Watch:
        fn_index, dep = next((i, dep) for i, dep in enumerate(self.config["dependencies"])
                             if dep.get("api_name") == "review_watch")
        self._join(fn_index, dep, [], {}, None)
        return Watch(self)


def value(page: Page, messages: list[dict], elem_id: str):
    out = page.result(messages, elem_id)
    return out.get("value") if isinstance(out, dict) and out.get("__type__") == "update" else out


def send_for_review(owner: Page) -> str:
    messages = owner.click("send-review-link", 60)
    link = value(owner, messages, "review-link")
    assert link.startswith("review#"), link
    return link.split("#", 1)[1]


def owner_in_review(app_url: str, prompt: str = "a fox for the art director") -> Page:
    owner = Page(app_url)
    owner.load()
    owner.click("generate", prompt, *OPTIONS)
    return owner


def streamed(watch: Watch, text: str) -> bool:
    """Whether a watch's stream has sent `text` so far (in full outputs or in diffs alike)."""
    return text in json.dumps(list(watch.messages), ensure_ascii=False)


def test_the_reviewer_watches_live_approves_and_the_owner_sees_it(app_url, fake):
    owner = owner_in_review(app_url)
    token = send_for_review(owner)
    other_tab = Page(app_url)  # the owner's second tab, watching (one stream per tab in this helper)
    other_tab.load(owner.token)
    owner_watch = other_tab.watch()
    reviewer = Reviewer(app_url)
    opened = reviewer.open(token)
    assert len(value(reviewer, opened, "review-gallery")) == 1
    watch = reviewer.watch_review()
    owner.click("regenerate", *OPTIONS)  # made after the link was opened: it arrives on the reviewer's page
    wait_until(lambda: streamed(watch, "#2 · regenerate of #1"))  # with its lineage and cost
    watch.close()
    reviewer = Reviewer(app_url)  # the page reloaded: a click on a tab whose stream just closed races Gradio's
    reviewer.open(token)  # clean-up of that tab's queue (its stream then ends in a 404)
    approved = reviewer.click("review-approve")
    assert "Approved by you" in value(reviewer, approved, "review-message")
    wait_until(lambda: streamed(owner_watch, "Approved by the reviewer"))
    assert "Approved by the reviewer" in json.dumps(Page(app_url).load(owner.token), ensure_ascii=False)
    owner_watch.close()
    log = httpx.get(f"{app_url.rstrip('/')}/gradio_api/info").text
    assert token not in log


def test_a_request_for_changes_reaches_the_owner_and_goes_into_refine(app_url, fake):
    owner = owner_in_review(app_url)
    reviewer = Reviewer(app_url)
    reviewer.open(send_for_review(owner))
    asked = reviewer.click("review-ask", None, "Warmer <b>light</b>, please")
    assert value(reviewer, asked, "review-message").startswith("Sent")
    shown = owner.click("use-request")
    assert value(owner, shown, "feedback") == "Warmer <b>light</b>, please"
    verdict = value(owner, shown, "review-verdict")
    assert "Warmer &lt;b&gt;light&lt;/b&gt;, please" in verdict and "<b>" not in verdict


def test_a_wrong_links_page_still_says_so_once_its_watch_has_ended(app_url, fake):
    """Nothing to watch: the watch ends at once, after one step that draws nothing. A streaming event that
    ends before any step has the page empty every output, "This review link is not valid." among them."""
    page = Reviewer(app_url)
    assert value(page, page.open("A" * 43), "review-message") == INVALID
    watch = page.watch_review()
    wait_until(lambda: watch.ended)
    watch.close()
    end = watch.messages[watch.msgs.index("process_completed")]["output"]["data"]
    assert end[page.outputs.index(page.ids["review-message"])] is not None, end  # None: emptied on the page


def test_a_revoked_link_stops_at_once_and_a_guess_or_another_sessions_token_opens_nothing(app_url, fake):
    owner, other = owner_in_review(app_url), owner_in_review(app_url, "someone else's fox")
    token, theirs = send_for_review(owner), send_for_review(other)
    reviewer = Reviewer(app_url)
    reviewer.open(token)
    watch = reviewer.watch_review()
    owner.click("revoke-review")
    wait_until(lambda: streamed(watch, INVALID) and watch.ended)
    watch.close()
    for wrong in (token, token[:-2] + "xx", "", "A" * 43):
        page = Reviewer(app_url)
        messages = page.open(wrong)
        assert value(page, messages, "review-message") == INVALID and not value(page, messages, "review-gallery")
    refused = reviewer.click("review-approve")
    assert value(reviewer, refused, "review-message") == INVALID
    client = Client(app_url, verbose=False)
    assert client.predict(token, "any", api_name="/review_approve") == INVALID
    view = client.predict(theirs, api_name="/review_view")  # another session's link shows that session alone
    assert len(view["candidates"]) == 1 and view["stage"] == "user_feedback"
    assert client.predict(theirs, view["candidates"][0]["key"], api_name="/review_approve") == ""
    assert "Approved" not in json.dumps(owner.click("revoke-review"))  # theirs was approved, not this one


def test_the_api_owner_and_reviewer_and_the_token_in_no_log_line(app_url, fake, caplog):
    caplog.set_level(logging.DEBUG)
    owner = Client(app_url, verbose=False)
    owner.predict("a fox by script", api_name="/generate")
    link = owner.predict(60, False, api_name="/review_link")
    token = link.split("#", 1)[1]
    reviewer = Client(app_url, verbose=False)
    view = reviewer.predict(token, api_name="/review_view")
    key = view["candidates"][0]["key"]
    assert reviewer.predict(token, key, "Make it night", api_name="/review_request_changes") == ""
    assert reviewer.predict(token, key, api_name="/review_approve") == ""
    decisions = owner.predict(api_name="/history")["decisions"]
    assert [(d["decision"], d["by"]) for d in decisions] == [("changes requested", "reviewer"),
                                                             ("approved", "reviewer")]
    assert owner.predict(60, True, api_name="/review_link") == ""
    assert reviewer.predict(token, api_name="/review_view") == {"error": INVALID}
    assert not [r for r in caplog.records if token in r.getMessage()]
    info = httpx.get(f"{app_url.rstrip('/')}/gradio_api/info").text + json.dumps(Page(app_url).config)
    assert token not in info


def test_the_reviewer_page_has_no_control_that_spends_money(app_url):
    """Every control on the review page, and every event it triggers: approve, ask for changes, look."""
    config = Page(app_url).config
    on_page = [c for c in config["components"] if str(c.get("props", {}).get("elem_id") or "").startswith("review-")]
    ids = {c["id"] for c in on_page}
    names = {dep.get("api_name") for dep in config["dependencies"] if any(t[0] in ids for t in dep["targets"])}
    assert names == {"review_pick", "review_page_approve", "review_page_ask"}, names
    assert not [c for c in on_page if c.get("props", {}).get("type") == "password"]  # no key field
    labels = {c["props"].get("value") for c in on_page if c["type"] == "button"}
    assert labels == {"Approve this", "Ask for changes"}, labels


def test_the_reviewers_answer_stays_when_the_session_moves_on(app_url, fake):
    """The watch redraws the reviewer's page whenever the session moves (the reviewer's own request moves it
    too): "Sent" stays until there is something newer to say."""
    owner = owner_in_review(app_url)
    owner.click("regenerate", *OPTIONS)
    reviewer = Reviewer(app_url)
    reviewer.open(send_for_review(owner))
    asked = reviewer.click("review-ask", None, "Less fog")
    assert value(reviewer, asked, "review-message").startswith("Sent")
    watch = reviewer.watch_review()
    owner.click("compare")  # the owner looks at two side by side: the reviewer's page is redrawn
    wait_until(lambda: streamed(watch, "#2 · regenerate of #1") and streamed(watch, "Sent: the owner sees"))
    watch.close()


def test_a_reviewer_waits_for_an_api_owners_generation_and_watches_it(app_url, fake):
    """An owner scripting the API shares the session with the reviewer as a page does: while its Regenerate
    runs the reviewer's Approve is refused (it would be overwritten), and the reviewer's page sees it run."""
    owner = Client(app_url, verbose=False)
    owner.predict("a fox by script", api_name="/generate")
    token = owner.predict(60, False, api_name="/review_link").split("#", 1)[1]
    reviewer = Client(app_url, verbose=False)
    key = reviewer.predict(token, api_name="/review_view")["candidates"][0]["key"]
    fake.latency = 2.0
    more = owner.submit(api_name="/regenerate")
    wait_until(lambda: fake.handling > 0, limit=10)
    view = reviewer.predict(token, api_name="/review_view")
    assert view["making"], view  # the reviewer sees that an image is being made
    assert reviewer.predict(token, key, api_name="/review_approve") != ""  # refused: an image is being made
    more.result()
    decisions = owner.predict(api_name="/history")["decisions"]
    assert not [d for d in decisions if d["decision"] == "approved"]
    assert len(reviewer.predict(token, api_name="/review_view")["candidates"]) == 2


def test_a_link_revoked_before_the_reviewers_watch_began_shows_as_not_valid(app_url, fake, monkeypatch):
    """On a busy server the review page's watch may start after the owner revoked: it draws the page as it
    is then, rather than wait for the next change (or its idle ping, made an hour here)."""
    monkeypatch.setattr(page_events, "WATCH_PING", 3600.0)
    owner = owner_in_review(app_url)
    token = send_for_review(owner)
    reviewer = Reviewer(app_url)
    reviewer.open(token)
    owner.click("revoke-review")
    watch = reviewer.watch_review()
    wait_until(lambda: streamed(watch, INVALID) and watch.ended)
    watch.close()
