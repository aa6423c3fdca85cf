"""HITL Image Studio: `python app.py` builds the Gradio app and launches it.

Runs the same on a Hugging Face Space (SYSTEM=spaces), locally, and with `--share`.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import sys
from dataclasses import replace

from hitl.serving.config import SettingError, Settings, load_settings, number_setting
from hitl.serving.memory import freeze_startup, return_freed_images_to_the_os
from hitl.web import gradio_internals
from hitl.web.ui import build_demo, launch_options

ON_SPACES = os.environ.get("SYSTEM") == "spaces"


def port(text: str) -> int:
    """--port as GRADIO_SERVER_PORT is checked: a port outside 1-65535 stops here, named, not in Gradio."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text} is not allowed: it must be a whole number from 1 to 65535")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Human-in-the-loop image generation (Gradio + PocketFlow).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (0.0.0.0 for your network; default 127.0.0.1)")
    parser.add_argument("--port", type=port, default=number_setting("GRADIO_SERVER_PORT", 7860, int, 1, 65535),
                        help="port to listen on (default 7860)")
    parser.add_argument("--share", action="store_true",
                        help="also open a temporary public link (anyone with it uses your key)")
    parser.add_argument("--demo", action="store_true", help="ignore OPENAI_API_KEY and draw demo pictures")
    return parser.parse_args(argv)


def is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def settings_for(args: argparse.Namespace) -> Settings:
    """The settings for this launch. On a loopback address without --share, off Spaces, the only
    user is the owner on their own key: no generation limits. A Space, a share link or a network
    address has visitors, and the limits stand."""
    settings = load_settings(api_key=None) if args.demo else load_settings()
    return replace(settings, limited=ON_SPACES or args.share or not is_loopback(args.host))


def open_share_link(demo) -> str | None:
    """Open Gradio's share tunnel ourselves: offline, Gradio's own message misleads."""
    try:
        url = gradio_internals.open_tunnel(demo)
    except Exception as exc:  # no internet, blocked, or the tunnel binary is missing
        print(f"* No share link: the tunnel could not be opened ({type(exc).__name__}). "
              f"Still serving locally at {demo.local_url}", flush=True)
        return None
    demo.share_url = url
    print(f"* Public share link: {url} (temporary; anyone with it generates on your key)", flush=True)
    return url


def main(argv: list[str] | None = None) -> None:
    try:  # every setting is checked before anything starts: a bad one stops here, named
        args = parse_args(argv)
        settings = settings_for(args)
    except SettingError as exc:
        sys.exit(f"* HITL Image Studio cannot start: {exc}")
    return_freed_images_to_the_os()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        force=True)  # the SDK may have configured logging on import (OPENAI_LOG)
    for chatty in ("httpx", "httpx2", "openai"):  # one line per HTTP request is noise, not news
        logging.getLogger(chatty).setLevel(logging.WARNING)
    share = args.share and not ON_SPACES  # a Space is already public
    if args.share and ON_SPACES:
        print("* --share ignored: this Space is already public.", flush=True)
    demo = build_demo(settings)
    # quiet: Gradio's own banner would suggest `share=True` even when --share was given.
    demo.launch(server_name=args.host, server_port=args.port, share=False, prevent_thread_lock=True,
                quiet=True, **launch_options(settings))
    mode = "demo mode (no OpenAI key)" if settings.demo else f"OpenAI {settings.api_style} API"
    print(f"* HITL Image Studio running at {demo.local_url} — {mode}", flush=True)
    if share:
        open_share_link(demo)
    freeze_startup()
    demo.block_thread()


if __name__ == "__main__":
    main()
