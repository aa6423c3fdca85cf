"""HITL Image Studio: `python app.py` builds the Gradio app and launches it."""

from __future__ import annotations

import argparse
import logging
import os

from hitl.config import load_settings
from hitl.ui import LAUNCH_OPTIONS, build_demo


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Human-in-the-loop image generation (Gradio + PocketFlow).")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                        help="address to listen on (0.0.0.0 for your network); default 127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7860)),
                        help="port to listen on; default 7860")
    parser.add_argument("--share", action="store_true", help="also create a public share link")
    parser.add_argument("--demo", action="store_true", help="ignore OPENAI_API_KEY and draw demo pictures")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=os.environ.get("HITL_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings(api_key=None) if args.demo else load_settings()
    demo = build_demo(settings)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, **LAUNCH_OPTIONS)


if __name__ == "__main__":
    main()
