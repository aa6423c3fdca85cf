"""Which Chromium the browser tests (and scripts/screenshots.py) drive.

In order: `$HITL_CHROMIUM` if set; a system chromium (Debian's /usr/bin/chromium, or
`chromium` / `chromium-browser` on PATH); else None, meaning Playwright's own browser
(`python -m playwright install chromium`).
"""

from __future__ import annotations

import os
import shutil

SYSTEM_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
INSTALL_HINT = ("no usable chromium: install one with `apt-get install -y chromium` or "
                "`python -m playwright install chromium` (or point HITL_CHROMIUM at a chromium binary)")


def chromium_executable() -> str | None:
    """The chromium binary to launch, or None to let Playwright use its own browser."""
    configured = os.environ.get("HITL_CHROMIUM")
    if configured:
        return configured
    if os.path.exists(SYSTEM_CHROMIUM):
        return SYSTEM_CHROMIUM
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


def launch_kwargs() -> dict:
    """Keyword arguments for `playwright.chromium.launch`."""
    kwargs: dict = {"headless": True, "args": list(CHROMIUM_ARGS)}
    path = chromium_executable()
    if path:
        kwargs["executable_path"] = path
    return kwargs
