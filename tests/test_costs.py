"""What images cost, counted from the usage OpenAI reports, and the budgets that stop spending."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import get_args

import pytest
from fake_openai import COMPLETED_USAGE, TEXT_USAGE, TOOL_IMAGE_USAGE
from gradio_client import Client
from helpers import CANDIDATES, MESSAGE, TEST_SETTINGS, Page
from openai.types import ImageModel
from openai.types.responses import ResponseUsage
from openai.types.responses.response import ToolUsage, ToolUsageImageGen

from hitl.serving.config import DEFAULT_IMAGE_MODEL, DEFAULT_RESPONSES_MODEL, load_settings
from hitl.serving.costs import DEFAULT_PRICES, PriceTable, Usage, money
from hitl.web.page import estimate_html

PRICES = json.loads(Path(DEFAULT_PRICES).read_text(encoding="utf-8"))
RATES = PRICES["models"]
# OpenAI's per-image figures for the gpt-image-2 family (low, medium, high), as quoted by several trackers.
DOCUMENTED = {"1024x1024": (0.006, 0.053, 0.211), "1024x1536": (0.005, 0.041, 0.165),
              "1536x1024": (0.005, 0.041, 0.165)}
OFFERED = (DEFAULT_IMAGE_MODEL, *(m for m in get_args(ImageModel) if m.startswith("gpt-image-2.6")))


def image_cost(usage: dict, rates: dict) -> float:
    """The image model's part of a usage dict, by hand: fresh and cached input, image and text output."""
    cached = usage.get("cached_tokens_details", {}).get("cached_text_tokens", 0)
    out = usage.get("output_tokens_details", {"image_tokens": usage["output_tokens"], "text_tokens": 0})
    return ((usage["input_tokens_details"]["text_tokens"] - cached) * rates["text_input"]
            + cached * rates["text_cached_input"] + usage["input_tokens_details"]["image_tokens"] * rates["image_input"]
            + out["image_tokens"] * rates["image_output"] + out["text_tokens"] * rates["text_output"]) / 1e6


def reported_cost() -> float:
    """The fake's reported usage priced by hand from the table: gpt-5.5 for the text model, the default
    image model's own row for the image tool."""
    text = RATES[DEFAULT_RESPONSES_MODEL]
    cached = TEXT_USAGE["input_tokens_details"]["cached_tokens"]
    usd = ((TEXT_USAGE["input_tokens"] - cached) * text["input"] + cached * text["cached_input"]
           + TEXT_USAGE["output_tokens"] * text["output"]) / 1e6
    return usd + image_cost(TOOL_IMAGE_USAGE, RATES[DEFAULT_IMAGE_MODEL])


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
    expected = image_cost(COMPLETED_USAGE, RATES[DEFAULT_IMAGE_MODEL]) if style == "images" else reported_cost()
    assert money(expected) in caption(client.predict("priced", api_name="/generate"))


def test_a_session_budget_refuses_what_would_pass_it(app_url, fake):
    """The budget is set on the page (Advanced); the page's own events carry it. GPT Image 1's token
    count (1056 for a medium 1024² image), which the app used to estimate with, would have let the
    second image through and the session past its budget: the family's own count refuses it."""
    budget, page, options = 0.10, Page(app_url), ("1024x1024", "medium", "auto", "png", "")
    first = page.click("generate", "on a budget", 1, *options, budget)
    assert shown_text(page.result(first, "status")) == ""
    old_estimate = 1056 * RATES[DEFAULT_IMAGE_MODEL]["image_output"] / 1e6
    assert reported_cost() + old_estimate <= budget < 2 * reported_cost()  # the old one would have passed it
    refused = page.click("regenerate", 1, *options, budget)
    settings = load_settings()
    estimate = settings.prices.estimate("1024x1024", "medium", settings.image_model, "on a budget")
    over = reported_cost() + estimate - budget
    assert shown_text(page.result(refused, "status")) == (
        f"This image (≈ {money(estimate)}) would take the session past its {money(budget)} budget by "
        f"{money(over)}. Raise the budget under Advanced to go on.")
    assert fake.attempts == 1 and not (page.result(refused, "image") or {}).get("url")  # the image stays
    again = page.click("regenerate", 1, *options, 0)  # no budget: it goes
    assert shown_text(page.result(again, "status")) == "" and fake.attempts == 2


def test_the_budget_counts_auto_as_its_dearest_and_every_image_of_a_click(app_url, fake):
    """"auto" may come back as a high-quality image: the estimate is its worst case, × the images."""
    page, settings = Page(app_url), load_settings()
    high = settings.prices.estimate("1024x1024", "high", settings.image_model, "auto")
    assert settings.prices.estimate("auto", "auto", settings.image_model, "auto") == high
    refused = page.click("generate", "auto", 3, "auto", "auto", "auto", "png", "", 2.5 * high)
    assert shown_text(page.result(refused, "status")).startswith(f"These 3 images (≈ {money(3 * high)})")
    assert fake.attempts == 0


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


def test_the_estimate_table_matches_the_documented_figures_for_every_offered_model():
    """Per size × quality × model: the estimate (no prompt) is OpenAI's per-image figure."""
    table = PriceTable.load()
    for model in OFFERED:
        for size, figures in DOCUMENTED.items():
            shown = [money(table.estimate(size, quality, model)) for quality in ("low", "medium", "high")]
            assert shown == [money(usd) for usd in figures], (model, size)
        assert table.estimate("auto", "auto", model) == table.estimate("1024x1024", "high", model)  # worst case
        assert table.estimate("1536x1024", "auto", model) == table.estimate("1536x1024", "high", model)
        assert table.estimate("auto", "low", model) == table.estimate("1024x1024", "low", model)


def test_every_offered_model_has_its_own_priced_row_with_a_source():
    for model in (*OFFERED, DEFAULT_RESPONSES_MODEL):
        assert model in RATES, model
    assert all(row.get("source") for row in RATES.values())
    assert all(table.get("source") for family, table in PRICES["output_tokens_per_image"].items() if family != "about")


def test_an_estimate_before_generating_follows_size_quality_and_the_number_of_images():
    settings = load_settings(api_key="sk-x")
    low, high = estimate_html(settings, "1024x1024", "low"), estimate_html(settings, "1024x1536", "high")
    assert "≈ $0.006 per image" in low and "≈ $0.165 per image" in high
    three = estimate_html(settings, "1024x1024", "medium", 3)
    each = settings.prices.estimate("1024x1024", "medium", settings.image_model)
    assert f"≈ {money(3 * each)} for 3 images ({money(each)} each)" in three
    unknown = load_settings(api_key="sk-x", image_model="someone-elses-model")
    assert "No price is known" in estimate_html(unknown, "auto", "auto")


def test_the_page_updates_the_estimate_when_the_number_of_images_changes(app_url):
    page = Page(app_url)
    shown = page.result(page.fire("count", "change", "auto", "auto", 4), "estimate")
    settings = load_settings()
    worst = settings.prices.estimate("auto", "auto", settings.image_model)
    assert f"≈ {money(4 * worst)} for 4 images ({money(worst)} each)" in shown
    # In review, beside "Images per Regenerate or Remix", the same for what the next click makes.
    shown = page.result(page.fire("regenerate-count", "change", "auto", "high", 3), "regenerate-estimate")
    high = settings.prices.estimate("auto", "high", settings.image_model)
    assert f"≈ {money(3 * high)} for 3 images ({money(high)} each)" in shown


def test_cached_input_and_split_output_are_priced_at_their_own_rates():
    """Usage shaped by the SDK's own models: cached text and image input, image and text output."""
    tool = ToolUsageImageGen(
        input_tokens=1300, total_tokens=3300, output_tokens=2000,
        input_tokens_details={"text_tokens": 300, "image_tokens": 1000},
        cached_tokens=900, cached_tokens_details={"cached_text_tokens": 100, "cached_image_tokens": 800},
        output_tokens_details={"image_tokens": 1756, "text_tokens": 244})
    text = ResponseUsage(input_tokens=500, input_tokens_details={"cached_tokens": 400, "cache_write_tokens": 0},
                         output_tokens=50, output_tokens_details={"reasoning_tokens": 0}, total_tokens=550)
    response = SimpleNamespace(usage=text, tool_usage=ToolUsage(image_gen=tool, web_search={"num_requests": 0}))
    image, chat = RATES[DEFAULT_IMAGE_MODEL], RATES[DEFAULT_RESPONSES_MODEL]
    by_hand = (200 * image["text_input"] + 100 * image["text_cached_input"] + 200 * image["image_input"]
               + 800 * image["image_cached_input"] + 1756 * image["image_output"] + 244 * image["text_output"]
               + 100 * chat["input"] + 400 * chat["cached_input"] + 50 * chat["output"]) / 1e6
    table = PriceTable.load()
    priced = table.cost(Usage.of_response(response), DEFAULT_RESPONSES_MODEL, DEFAULT_IMAGE_MODEL)
    assert priced == pytest.approx(by_hand)
    # Without the details the SDK may omit: cache use unknown (all fresh), all output as image output.
    bare = ToolUsageImageGen(input_tokens=1300, total_tokens=3300, output_tokens=2000,
                             input_tokens_details={"text_tokens": 300, "image_tokens": 1000})
    dearest = (300 * image["text_input"] + 1000 * image["image_input"] + 2000 * image["image_output"]) / 1e6
    assert table.cost(Usage.of_images(bare), DEFAULT_RESPONSES_MODEL, DEFAULT_IMAGE_MODEL) == pytest.approx(dearest)


def test_an_image_whose_tool_usage_is_omitted_has_no_price_rather_than_the_text_models():
    """`Response.tool_usage` "can be omitted when tool usage is unavailable" (the SDK): the image's own
    tokens are then unknown, and the text model's few cents alone must not pass for what it cost."""
    text = ResponseUsage(input_tokens=500, input_tokens_details={"cached_tokens": 0, "cache_write_tokens": 0},
                         output_tokens=50, output_tokens_details={"reasoning_tokens": 0}, total_tokens=550)
    table = PriceTable.load()
    for response in (SimpleNamespace(usage=text, tool_usage=None), SimpleNamespace(usage=text)):
        assert Usage.of_response(response) is None
        assert table.cost(Usage.of_response(response), DEFAULT_RESPONSES_MODEL, DEFAULT_IMAGE_MODEL) is None


def test_a_price_file_with_a_row_missing_a_rate_is_refused(tmp_path):
    broken = {**PRICES, "models": {"gpt-image-2": {"text_input": 5.0, "image_output": 30.0}}}
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(ValueError, match="gpt-image-2 lacks the rates text_cached_input, image_input"):
        PriceTable.load(path)


def test_prices_follow_the_model_family_and_unknown_models_have_no_price():
    table = PriceTable.load()
    assert table.rates("gpt-image-2.5-flare") == table.rates("gpt-image-2") is not None
    usage = Usage(image_output=1000)
    assert table.cost(usage, "gpt-5.5", "dall-e-9") is None
    assert table.cost(None, "gpt-5.5", "gpt-image-2") is None
    assert money(None) == "price unknown" and money(1.234) == "$1.23" and money(0.0412) == "$0.041"
