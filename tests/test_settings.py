"""Every setting read at start-up is checked: a bad one stops the app at once, named with what it allows,
instead of failing every call at run time (HITL_PARTIAL_IMAGES=4 would make each request a 400)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hitl.serving import config
from hitl.serving.config import SettingError, load_settings

ROOT = Path(__file__).resolve().parent.parent
# variable -> (a bad value, words of the message that say what is allowed)
BAD = {
    "HITL_PARTIAL_IMAGES": ("4", "a whole number from 0 to 3"),
    "HITL_REQUEST_TIMEOUT": ("0", "a number more than 0 seconds"),
    "HITL_TOTAL_TIMEOUT": ("soon", "a number more than 0 seconds"),
    "HITL_MAX_ATTEMPTS": ("0", "a whole number from 1 to 10"),
    "HITL_MAX_PROMPT_CHARS": ("40000", "a whole number from 1 to 32000"),
    "HITL_DAILY_BUDGET_USD": ("-5", "a number 0 or more"),
    "HITL_SESSION_LIMIT": ("0", "a whole number 1 or more"),
    "HITL_IP_LIMIT": ("many", "a whole number 1 or more"),
    "HITL_LIMIT_WINDOW": ("0", "a number more than 0 seconds"),
    "HITL_PROXY_HOPS": ("-1", "a whole number from 0 to 10"),
    "HITL_MAX_CONCURRENT": ("0", "a whole number 1 or more"),
    "HITL_QUEUE_SIZE": ("1.5", "a whole number 1 or more"),
    "HITL_MAX_CANDIDATES": ("0", "a whole number 1 or more"),
    "HITL_SESSION_TTL": ("0", "a whole number 1 or more seconds"),
    "HITL_SESSIONS_PER_ADDRESS": ("0", "a whole number 1 or more"),
    "HITL_CALL_RATE": ("0", "a number more than 0"),
    "HITL_CALL_BURST": ("0", "a whole number 1 or more"),
    "HITL_CLOSED_SESSION_GRACE": ("-1", "a whole number 0 or more seconds"),
    "HITL_IMAGE_MEMORY_MB": ("nan", "a number 0 or more"),
    "HITL_API_STYLE": ("chat", "one of responses, images"),
    "HITL_STORE_RESPONSES": ("maybe", "one of 1, true, yes, on, 0, false, no, off"),
    "HITL_MONITORING": ("perhaps", "one of 1, true, yes, on, 0, false, no, off"),
    "HITL_REDIS_URL": ("http://cache:6379", "redis://[:password@]host[:port][/db] (rediss:// for TLS)"),
    "OPENAI_BASE_URL": ("api.openai.com/v1", "https://host/v1"),
    "HITL_PRICES_FILE": ("/nonexistent/prices.json", "a JSON price table shaped like hitl/serving/prices.json"),
    "HITL_LOG_LEVEL": ("LOUD", "one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
}
# Free text, any value is a value: a gateway may name its models as it likes.
FREE = {"HITL_IMAGE_MODEL", "HITL_RESPONSES_MODEL"}


def test_every_setting_read_at_start_up_has_a_check_here():
    config = (ROOT / "hitl/serving/config.py").read_text(encoding="utf-8")
    read = set(re.findall(r'"((?:HITL|OPENAI)_[A-Z_]+)"', config))
    assert read - {"OPENAI_API_KEY"} == set(BAD) | FREE


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_setting_is_refused_with_its_name_and_what_it_allows(monkeypatch, name):
    value, allowed = BAD[name]
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError) as refused:
        load_settings()
    assert str(refused.value).startswith(f"{name}={value} ") and allowed in str(refused.value)


def test_a_price_file_missing_a_rate_is_refused_by_name(monkeypatch, tmp_path):
    prices = json.loads(config.DEFAULT_PRICES.read_text(encoding="utf-8"))
    del prices["models"]["gpt-image-2"]["image_cached_input"]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(prices), encoding="utf-8")
    monkeypatch.setenv("HITL_PRICES_FILE", str(path))
    with pytest.raises(SettingError, match=r"HITL_PRICES_FILE=.*gpt-image-2 lacks the rates image_cached_input"):
        load_settings()


def test_a_daily_budget_for_a_model_with_no_price_is_refused(monkeypatch):
    """Nothing would ever count against it: what a call costs is priced from the model's row."""
    monkeypatch.setenv("HITL_IMAGE_MODEL", "someone-elses-model")
    assert load_settings().daily_budget_usd == 0  # no budget: fine
    monkeypatch.setenv("HITL_DAILY_BUDGET_USD", "5")
    with pytest.raises(SettingError, match=r"^HITL_DAILY_BUDGET_USD=5 .*=someone-elses-model.*no price"):
        load_settings()


def test_good_and_blank_settings_are_taken(monkeypatch):
    for name, value in {"HITL_PARTIAL_IMAGES": "3", "HITL_STORE_RESPONSES": "Yes", "HITL_REQUEST_TIMEOUT": "2.5",
                        "HITL_API_STYLE": "Images", "HITL_SESSION_LIMIT": " ", "HITL_REDIS_URL": "redis://r:6379/1"}.items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert (settings.partial_images, settings.store_responses, settings.request_timeout, settings.api_style,
            settings.session_limit, settings.redis_url) == (3, True, 2.5, "images", 20, "redis://r:6379/1")


def test_the_app_refuses_to_start_on_a_bad_setting_and_says_which():
    env = {"PATH": "/usr/bin:/bin", "HITL_PARTIAL_IMAGES": "4", "GRADIO_ANALYTICS_ENABLED": "False"}
    done = subprocess.run([sys.executable, str(ROOT / "app.py")], env=env, capture_output=True, encoding="utf-8",
                          timeout=120)
    assert done.returncode != 0
    assert done.stderr.strip() == ("* HITL Image Studio cannot start: HITL_PARTIAL_IMAGES=4 is not allowed: it must be "
                                   "a whole number from 0 to 3 (OpenAI's partial_images; 0 turns previews off).")
    assert "running at" not in done.stdout


def test_the_port_is_checked_from_the_environment_and_the_command_line(monkeypatch, capsys):
    """GRADIO_SERVER_PORT (read by app.py, not config.py) and --port: a port outside 1-65535 stops the app
    at start-up with the variable or option named, before Gradio is asked to listen on it."""
    import app

    monkeypatch.setenv("GRADIO_SERVER_PORT", "99999")
    with pytest.raises(SystemExit) as refused:
        app.main([])
    assert refused.value.code == ("* HITL Image Studio cannot start: GRADIO_SERVER_PORT=99999 is not allowed: "
                                  "it must be a whole number from 1 to 65535.")
    monkeypatch.delenv("GRADIO_SERVER_PORT")
    for bad in ("70000", "0", "http"):
        with pytest.raises(SystemExit) as refused:
            app.parse_args(["--port", bad])
        assert refused.value.code == 2
        assert f"argument --port: {bad} is not allowed: it must be a whole number from 1 to 65535" in \
            capsys.readouterr().err
    assert app.parse_args(["--port", "8080"]).port == 8080
