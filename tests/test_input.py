"""Bad input is stopped before any upstream call; what does go upstream is cleaned, and
user, model and error texts come back as plain text for text components (inert in a page)."""

from __future__ import annotations

import httpx
import pytest
from helpers import MESSAGE, REVISED, image_b64, image_prompt

from hitl.core.validation import InputError, check_prompt, clean_text
from hitl.serving.config import MAX_PROMPT_CHARS, load_settings

EMPTY = "The prompt is empty: describe the image you want."


def sent_prompt(fake) -> str:
    """The text of the last Responses request the fake received."""
    value = fake.requests[-1].body["input"]
    assert isinstance(value, str), value
    return value


# -- empty, blank, too long: a message and no upstream call -------------------------------------

@pytest.mark.parametrize("prompt", ["", "   ", "\n\t \n", "\x00\x07\x1b", "\u200b\u202e\ufeff", "\u200d \u3000"])
def test_empty_or_blank_prompt(client, fake, prompt):
    result = client.predict(prompt, api_name="/generate")
    assert result[MESSAGE] == EMPTY
    assert image_b64(result) is None
    assert fake.attempts == 0
    # The session is usable straight away.
    assert image_prompt(client.predict("now with words", api_name="/generate")) == "now with words"


def test_default_limit_is_the_documented_api_limit():
    assert MAX_PROMPT_CHARS == 32_000  # Images API: 32,000 characters for GPT image models
    assert load_settings().max_prompt_chars == MAX_PROMPT_CHARS


def test_prompt_over_the_limit(client, fake):
    result = client.predict("x" * (MAX_PROMPT_CHARS + 1), api_name="/generate")
    assert result[MESSAGE] == ("The prompt is 32,001 characters long; the limit is 32,000. "
                               "Shorten it and try again.")
    assert image_b64(result) is None
    assert fake.attempts == 0


def test_prompt_at_the_limit_goes_through_and_the_limit_counts_cleaned_text(client, fake):
    # 32,000 visible characters plus control characters that cleaning removes.
    prompt = "\x00" * 50 + "y" * MAX_PROMPT_CHARS + "\u200b" * 50
    result = client.predict(prompt, api_name="/generate")
    assert result[MESSAGE] == ""
    assert fake.attempts == 1
    assert sent_prompt(fake) == "y" * MAX_PROMPT_CHARS


def test_empty_and_overlong_feedback_make_no_call_and_keep_the_image(client, fake):
    good = client.predict("a tabby cat", api_name="/generate")
    for feedback, expected in (
        ("  \x00 ", "The feedback is empty: describe the change you want."),
        ("z" * (MAX_PROMPT_CHARS + 1), "The feedback is 32,001 characters long; the limit is 32,000. "
                                       "Shorten it and try again."),
    ):
        result = client.predict(feedback, api_name="/refine")
        assert result[MESSAGE] == expected
        assert image_b64(result) == image_b64(good)
    assert fake.attempts == 1


def test_impossible_option_combination_makes_no_call(client, fake):
    result = client.predict("a glass", background="transparent", output_format="jpeg", api_name="/generate")
    assert result[MESSAGE] == "A transparent background needs PNG or WebP output, not JPEG."
    assert fake.attempts == 0


# -- control characters ------------------------------------------------------------------------

def test_control_characters_never_reach_the_api(client, fake):
    prompt = ("\ufeff  a\x00 red\x07 fox\x1b[0m\u200b in\u202e the\u2066 snow\x7f\x85\r\n"
              "second\rline\twith tab  \x0b")
    result = client.predict(prompt, api_name="/generate")
    assert result[MESSAGE] == ""
    sent = sent_prompt(fake)
    assert sent == "a red fox[0m in the snow\nsecond\nline\twith tab"
    assert image_prompt(result) == sent  # and the image is for the cleaned prompt


def test_feedback_is_cleaned_too(client, fake):
    client.predict("a boat", api_name="/generate")
    client.predict("\x00make\u200b it\x1b red\u202e", api_name="/refine")
    assert fake.requests[-1].body["input"][0]["content"][0]["text"] == "make it red"


def test_text_that_needs_format_characters_survives():
    family, persian = "👩\u200d💻 coding", "می\u200cخواهم"
    assert clean_text(family) == family  # the ZWJ keeps one emoji, not two
    assert clean_text(persian) == persian  # the ZWNJ is part of the spelling


def test_check_prompt_unit():
    assert check_prompt("  a\x00b  ", 10) == "ab"
    with pytest.raises(InputError, match="empty"):
        check_prompt(None, 10)
    with pytest.raises(InputError, match="11 characters long; the limit is 10"):
        check_prompt("x" * 11, 10)


# -- HTML and Markdown stay text -----------------------------------------------------------------

MARKUP = ('<img src=x onerror="alert(1)"> **bold** [click](javascript:alert(1)) '
          '<script>alert("x")</script> # heading')


def test_markup_in_the_prompt_is_passed_and_returned_as_plain_text(client, fake):
    result = client.predict(MARKUP, api_name="/generate")
    assert sent_prompt(fake) == MARKUP  # not escaped, not stripped: the model sees what was typed
    assert image_prompt(result) == MARKUP
    assert result[REVISED] == f"{MARKUP} (revised)"  # a plain string for a Textbox


OWN_HTML = {"progress", "download", "cost", "estimate", "regenerate-estimate", "review-status", "review-progress"}
# Send for review: the reviewer's comment (owner's verdict) and a candidate's caption (its lineage quotes the
# feedback) are written into HTML html.escape'd (hitl/web/review_panel.py, review.py; the comment's markup
# arriving inert: tests/test_review_page.py).
ESCAPED_HTML = {"review-verdict", "review-caption"}


def test_texts_from_users_and_models_are_shown_only_in_text_components(app_url):
    """Prompt, revised prompt and messages go to Textboxes (rendered as text by the browser);
    no generation event outputs to a Markdown or HTML component."""
    config = httpx.get(f"{app_url}config", timeout=10).json()
    kinds = {c["id"]: c["type"] for c in config["components"]}
    by_elem = {c.get("props", {}).get("elem_id"): c for c in config["components"]}
    for elem in ("prompt", "feedback", "revised", "status"):
        assert by_elem[elem]["type"] == "textbox", elem
    # The only HTML the events write is built from the app's own words, numbers and escaped URLs
    # (hitl/web/screen.py: progress, download link, cost): never from a prompt, feedback or the model's text.
    own_words = {c["id"] for c in config["components"]
                 if c.get("props", {}).get("elem_id") in OWN_HTML | ESCAPED_HTML}
    for dep in config["dependencies"]:
        markup = {o for o in dep["outputs"] if kinds.get(o) in {"markdown", "html", "chatbot"}}
        assert markup <= own_words, dep.get("api_name")


def test_markup_in_a_refusal_is_quoted_as_text(client, fake, monkeypatch):
    """The model's own words reach the message box verbatim (as text), never as markup."""
    import fake_openai

    original = fake_openai._Handler._responses

    def refuse_with_markup(self, body, serial, fault):
        if fault != "refusal":
            return original(self, body, serial, fault)
        output = [{"type": "message", "id": "msg_1", "role": "assistant", "status": "completed",
                   "content": [{"type": "output_text", "text": MARKUP, "annotations": []}]}]
        response = {"id": "resp_x", "object": "response", "created_at": 0, "status": "completed",
                    "model": body.get("model"), "output": output, "tools": [], "tool_choice": "auto",
                    "parallel_tool_calls": True, "error": None, "incomplete_details": None,
                    "instructions": None, "metadata": {}, "temperature": 1.0, "top_p": 1.0}
        self._start_sse()
        self._finish_sse({"type": "response.completed", "sequence_number": 1, "response": response})

    monkeypatch.setattr(fake_openai._Handler, "_responses", refuse_with_markup)
    fake.fail_next("refusal")
    result = client.predict("anything", api_name="/generate")
    assert result[MESSAGE] == f"The model answered without an image: “{MARKUP}”. Try rephrasing the prompt."
