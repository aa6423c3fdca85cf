"""What images cost, counted from the usage OpenAI reports, and the budgets that stop spending."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fake_openai import IMAGE_USAGE, TEXT_USAGE
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, TEST_SETTINGS, Page

from hitl.config import load_settings
from hitl.costs import DEFAULT_PRICES, PriceTable, Usage, money
from hitl.page import estimate_html

RATES = json.loads(Path(DEFAULT_PRICES).read_text(encoding="utf-8"))["models"]


def reported_cost() -> float:
    """The fake's reported usage priced by hand from the table: gpt-5.5 for the text model, the
    gpt-image-2 family for the image model."""
    text, image = RATES["gpt-5.5"], RATES["gpt-image-2"]
    cached = TEXT_USAGE["input_tokens_details"]["cached_tokens"]
    usd = ((TEXT_USAGE["input_tokens"] - cached) * text["input"] + cached * text["cached_input"]
           + TEXT_USAGE["output_tokens"] * text["output"]
           + IMAGE_USAGE["input_tokens_details"]["text_tokens"] * image["text_input"]
           + IMAGE_USAGE["output_tokens"] * image["output"])
    return usd / 1e6


def shown_text(value) -> str:
    """A textbox's value in a page message: plain, or inside an update that also shows or hides it."""
    return value["value"] if isinstance(value, dict) else value


def caption(result, index: int = 0) -> str:
    return result[CANDIDATES][index]["caption"]


def test_each_candidate_shows_what_openai_reported_it_cost(client, fake):
    first = client.predict("a priced kite", api_name="/generate")
    assert money(reported_cost()) in caption(first)
    second = client.predict(api_name="/regenerate")
    assert [money(reported_cost()) in caption(second, i) for i in (0, 1)] == [True, True]


@pytest.mark.parametrize("style", ["images", "responses_plain"])
def test_cost_is_read_on_every_api_path(launch, fake_server, fake, style):
    overrides = {"api_style": "images"} if style == "images" else {"partial_images": 0}
    client = Client(launch(**{**TEST_SETTINGS, **overrides}, base_url=fake_server.url), verbose=False)
    image = RATES["gpt-image-2"]
    images_only = (IMAGE_USAGE["input_tokens_details"]["text_tokens"] * image["text_input"]
                   + IMAGE_USAGE["output_tokens"] * image["output"]) / 1e6
    expected = images_only if style == "images" else reported_cost()
    assert money(expected) in caption(client.predict("priced", api_name="/generate"))


def test_a_session_budget_refuses_what_would_pass_it(app_url, fake):
    """The budget is set on the page (Advanced); the page's own events carry it."""
    budget, page = 0.05, Page(app_url)
    first = page.click("generate", "on a budget", 1, "auto", "auto", "auto", "png", "", budget)
    assert shown_text(page.result(first, "status")) == ""
    refused = page.click("regenerate", 1, "auto", "auto", "auto", "png", "", budget)
    settings = load_settings()
    estimate = settings.prices.estimate("auto", "auto", settings.image_model, "on a budget")
    over = reported_cost() + estimate - budget
    assert shown_text(page.result(refused, "status")) == (
        f"This image (≈ {money(estimate)}) would take the session past its {money(budget)} budget by "
        f"{money(over)}. Raise the budget under Advanced to go on.")
    assert fake.attempts == 1 and not (page.result(refused, "image") or {}).get("url")  # the image stays
    again = page.click("regenerate", 1, "auto", "auto", "auto", "png", "", 0)  # no budget: it goes
    assert shown_text(page.result(again, "status")) == "" and fake.attempts == 2


def test_the_servers_daily_budget_is_counted_from_reports_and_spares_own_keys(launch, fake_server, fake):
    url = launch(**TEST_SETTINGS, daily_budget_usd=reported_cost() * 1.5, base_url=fake_server.url)
    visitor = Client(url, verbose=False)
    assert visitor.predict("one", api_name="/generate")[MESSAGE] == ""
    assert visitor.predict(api_name="/regenerate")[MESSAGE] == ""  # 1 × cost spent: still under
    spent = visitor.predict(api_name="/regenerate")  # 2 × cost > 1.5 × cost
    assert spent[MESSAGE].startswith("Today's budget for this app's OpenAI key is spent.")
    other = Client(url, verbose=False).predict("two", api_name="/generate")
    assert other[MESSAGE] == spent[MESSAGE]  # across sessions
    own = Client(url, verbose=False).predict("mine", key="sk-own-key-of-a-visitor-0123456789",
                                             api_name="/generate")
    assert own[MESSAGE] == "" and fake.attempts == 3


def test_demo_mode_shows_what_the_run_would_have_cost(demo_url):
    result = Client(demo_url, verbose=False).predict("free", "1024x1024", "high", api_name="/generate")
    settings = load_settings(api_key=None)
    would = settings.prices.estimate("1024x1024", "high", settings.image_model, "free")
    assert caption(result) == f"#1 · ≈{money(would)} · on screen"


def test_an_estimate_before_generating_follows_size_and_quality():
    settings = load_settings(api_key="sk-x")
    low, high = estimate_html(settings, "1024x1024", "low"), estimate_html(settings, "1024x1536", "high")
    rate = RATES["gpt-image-2"]["output"] / 1e6
    assert money(272 * rate + 5 / 1e6)[:-1] in low and money(6240 * rate + 5 / 1e6)[:-1] in high
    unknown = load_settings(api_key="sk-x", image_model="someone-elses-model")
    assert "No price is known" in estimate_html(unknown, "auto", "auto")


def test_prices_follow_the_model_family_and_unknown_models_have_no_price():
    table = PriceTable.load()
    assert table.rates("gpt-image-2.6-sunburst") == table.rates("gpt-image-2") is not None
    usage = Usage(image_output=1000)
    assert table.cost(usage, "gpt-5.5", "dall-e-9") is None
    assert table.cost(None, "gpt-5.5", "gpt-image-2") is None
    assert money(None) == "price unknown" and money(1.234) == "$1.23" and money(0.0412) == "$0.041"
