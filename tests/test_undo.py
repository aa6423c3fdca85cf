"""Undo instead of fear: Start Over puts the work aside, Undo Start Over brings it back, until
the next Generate lets it go."""

from __future__ import annotations

from helpers import CANDIDATES, MESSAGE, image_b64, image_prompt


def test_start_over_in_review_can_be_undone(client, fake):
    client.predict("a harbour", api_name="/generate")
    shown = client.predict(api_name="/regenerate")
    cleared = client.predict(api_name="/start_over")
    assert image_b64(cleared) is None and cleared[CANDIDATES] == []
    back = client.predict(api_name="/undo_start_over")
    assert back[MESSAGE] == "" and image_b64(back) == image_b64(shown) and len(back[CANDIDATES]) == 2
    again = client.predict(api_name="/regenerate")  # in review again, with the same prompt
    assert image_prompt(again) == "a harbour" and len(again[CANDIDATES]) == 3


def test_start_over_after_approval_can_be_undone(client, fake):
    client.predict("a kite", api_name="/generate")
    approved = client.predict(api_name="/approve")
    client.predict(api_name="/start_over")
    back = client.predict(api_name="/undo_start_over")
    assert back[MESSAGE] == "" and image_b64(back) == image_b64(approved)
    assert client.predict(api_name="/regenerate")[MESSAGE].startswith("This image is already approved")


def test_a_new_generate_lets_the_old_work_go(client, fake):
    client.predict("first", api_name="/generate")
    client.predict(api_name="/start_over")
    client.predict("second", api_name="/generate")
    client.predict(api_name="/start_over")
    back = client.predict(api_name="/undo_start_over")
    assert image_prompt(back) == "second" and len(back[CANDIDATES]) == 1
    client.predict(api_name="/start_over")
    fake.fail_next("quota")
    assert client.predict("third", api_name="/generate")[MESSAGE].startswith("The OpenAI account")
    assert image_prompt(client.predict(api_name="/undo_start_over")) == "second"  # a failed Generate keeps it


def test_nothing_to_undo(client, fake):
    assert "nothing to undo" in client.predict(api_name="/undo_start_over")[MESSAGE]
    client.predict("x", api_name="/generate")
    assert "waiting for review" in client.predict(api_name="/undo_start_over")[MESSAGE]
