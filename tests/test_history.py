"""`/history`: the version tree with its lineage and cost per version."""

from __future__ import annotations

import re

import httpx
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, TEST_SETTINGS, Page, image_prompt

from hitl.core.history import came_from, history, markdown
from hitl.core.stages import Candidate, Session, Stage

OPTIONS = ("auto", "auto", "auto", "png", "", 0)


def test_history_tells_each_versions_lineage_and_cost(client, fake):
    client.predict("a harbour", api_name="/generate")
    client.predict(api_name="/regenerate")
    client.predict("at night", api_name="/refine")
    client.predict(0, api_name="/select")
    client.predict("in fog", api_name="/refine")
    client.predict(api_name="/approve")
    tree = client.predict(api_name="/history")
    assert tree["stage"] == "final" and tree["prompt"] == "a harbour"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", tree["approved_at"])
    lineage = [(v["number"], v["made_by"], v["parent"], v["instruction"]) for v in tree["versions"]]
    assert lineage == [(1, "generate", None, ""), (2, "regenerate", 1, ""), (3, "refine", 2, "at night"),
                       (4, "refine", 1, "in fog")]
    assert [v["approved"] for v in tree["versions"]] == [False, False, False, True]
    assert all(v["cost_usd"] > 0 and not v["cost_estimated"] for v in tree["versions"])
    assert abs(tree["spent_usd"] - sum(v["cost_usd"] for v in tree["versions"])) < 1e-9
    assert tree["versions"][0]["options"]["size"] == "auto"


def test_a_remix_says_which_candidate_it_was_remixed_from_and_with_what_prompt():
    first = Candidate(b"A", prompt="a harbour")
    remix = Candidate(b"B", prompt="a harbour at dusk", made_by="remix", parent=first.key,
                      instruction="a harbour at dusk")
    session = Session(stage=Stage.USER_FEEDBACK, input_used_by_process="a harbour at dusk",
                      candidates=[first, remix], selected=1)
    assert came_from("remix", "#1") == "remix of #1"
    (_, second) = history(session)["versions"]
    assert (second["made_by"], second["parent"], second["prompt"]) == ("remix", 1, "a harbour at dusk")
    log = markdown(session)
    assert "## #2: remix of #1 — on screen" in log and "- Asked: a harbour at dusk" in log


def test_remix_through_the_api_is_a_version_of_the_candidate_on_screen(client, fake):
    client.predict("a harbour", api_name="/generate")
    client.predict(api_name="/regenerate")
    client.predict(0, api_name="/select")
    result = client.predict("a harbour in fog", count=2, api_name="/remix")
    assert result[MESSAGE] == "" and fake.requests[-1].body["tools"][0]["action"] == "edit"
    captions = [item["caption"] for item in result[CANDIDATES]]
    assert captions[2].startswith("#3 · remix of #1 “a harbour in fog”") and captions[3].startswith("#4 · remix of #1")
    tree = client.predict(api_name="/history")
    assert tree["prompt"] == "a harbour in fog"  # what Regenerate now makes more of
    assert [(v["made_by"], v["parent"]) for v in tree["versions"]] == [
        ("generate", None), ("regenerate", 1), ("remix", 1), ("remix", 1)]
    assert image_prompt(client.predict(api_name="/regenerate")) == "a harbour in fog"


def test_history_of_another_session_is_its_own(app_url, fake):
    Client(app_url, verbose=False).predict("theirs", api_name="/generate")
    assert Client(app_url, verbose=False).predict(api_name="/history")["versions"] == []


def test_history_is_read_only(launch, fake_server, fake):
    client = Client(launch(**TEST_SETTINGS, base_url=fake_server.url), verbose=False)
    client.predict("still here", api_name="/generate")
    client.predict(api_name="/history")
    assert client.predict(api_name="/approve")[MESSAGE] == ""


def test_the_decision_log_downloads_as_json_and_markdown_from_the_session(app_url, fake):
    page = Page(app_url)
    page.click("generate", "a lighthouse", 1, *OPTIONS)
    page.click("refine", "at dusk", *OPTIONS)
    links = page.result(page.click("approve"), "download")
    base = re.search(r'href="([^"]+)\.md"', links).group(1)
    assert page.session_hash not in base  # the log's own secret names it
    as_json = page.http.get(f"{app_url}{base}.json")
    assert as_json.status_code == 200 and as_json.headers["cache-control"] == "private, no-store"
    tree = as_json.json()
    assert tree["prompt"] == "a lighthouse" and [v["approved"] for v in tree["versions"]] == [False, True]
    as_md = page.http.get(f"{app_url}{base}.md")
    assert as_md.headers["content-type"].startswith("text/markdown")
    assert "## #2: refine of #1 — **approved**" in as_md.text and "- Asked: at dusk" in as_md.text
    assert "Prompt: a lighthouse" in as_md.text and " · approved 20" in as_md.text
    for wrong in (f"gradio_api/hitl/log/{page.session_hash}/decision-log.json",
                  "gradio_api/hitl/log/x/decision-log.json", f"{base}.exe"):
        assert httpx.get(f"{app_url}{wrong}", timeout=10).status_code == 404, wrong


def test_the_decision_log_is_there_in_review_too(app_url, fake):
    page = Page(app_url)
    page.click("generate", "a lighthouse", 1, *OPTIONS)
    cost = page.result(page.click("refine", "at dusk", *OPTIONS), "cost")
    as_md = page.http.get(app_url + re.search(r'href="([^"]+\.md)"', cost).group(1))
    assert as_md.status_code == 200 and "Stage: user_feedback" in as_md.text
    assert "## #2: refine of #1" in as_md.text and "- Asked: at dusk" in as_md.text and "approved" not in as_md.text
    approved = page.click("approve")
    assert "hitl-log" not in page.result(approved, "cost")  # by the Download now, once
    assert "hitl-log" in page.result(approved, "download")


INJECTED = "x\n\n## Approved\n[click](javascript:alert(1)) <img src=x onerror=alert(1)>\n===\n1. forged"


def test_text_in_the_markdown_log_stays_inert(app_url, fake):
    """A prompt or feedback written as Markdown (a forged "Approved" heading, a javascript: link, raw HTML,
    a setext underline, a list) shows as the text it is; only the log's own headings are headings."""
    from markdown_it import MarkdownIt

    page = Page(app_url)
    page.click("generate", INJECTED, 1, *OPTIONS)
    page.click("refine", INJECTED, *OPTIONS)
    links = page.result(page.click("approve"), "download")
    log = page.http.get(app_url + re.search(r'href="([^"]+\.md)"', links).group(1)).text
    html = MarkdownIt("commonmark").enable(["table", "strikethrough"]).render(log)
    headings = re.findall(r"<h\d>(.*?)</h\d>", html)
    assert headings == ["Decision log", "#1: generate", "#2: refine of #1 — <strong>approved</strong>"], headings
    assert not re.search(r"<(a|img|ol|table|del)\b", html) and "javascript:alert(1)" in html  # as text
    assert "## Approved<br />\n[click](javascript:alert(1)) &lt;img src=x onerror=alert(1)&gt;<br />" in html
