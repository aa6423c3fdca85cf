"""HITL Image Studio: human-in-the-loop image generation on Gradio and PocketFlow."""

import sys

# pyproject.toml's requires-python, for those who install requirements.txt on an older Python: it
# would start, then fail every generation (asyncio.timeout is 3.11+).
MIN_PYTHON = (3, 11)
if sys.version_info < MIN_PYTHON:
    raise SystemExit(f"HITL Image Studio needs Python {'.'.join(map(str, MIN_PYTHON))} or newer; "
                     f"this is Python {sys.version.split()[0]}.")
