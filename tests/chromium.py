"""Which Chromium the browser tests (and scripts/screenshots.py) drive.

In order: `$HITL_CHROMIUM` if set; a system chromium (Debian's /usr/bin/chromium, or
`chromium` / `chromium-browser` on PATH); else None, meaning Playwright's own browser
(`python -m playwright install chromium`). None of them there: see system_tools.missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from system_tools import missing

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


@contextmanager
def launched() -> Iterator[Browser]:
    """A chromium for one test module (module scope, not session: while sync Playwright runs it owns
    the thread's event loop, and `asyncio.run` in a later test file would fail). Without a chromium,
    skips the test (fails it in CI) with how to install one; fails it when the one there does not start."""
    kwargs = launch_kwargs()
    with sync_playwright() as playwright:
        path = kwargs.get("executable_path") or playwright.chromium.executable_path
        if not os.path.exists(path):
            missing(f"{INSTALL_HINT} (no {path})")
        try:
            browser = playwright.chromium.launch(**kwargs)
        except PlaywrightError as exc:
            where = kwargs.get("executable_path", "Playwright's own chromium")
            failure = f"could not launch {where}: {exc}"
        else:
            failure = None
        if failure:  # outside the except: no chained traceback in the report
            pytest.fail(f"{INSTALL_HINT}\n{failure}", pytrace=False)
        yield browser
        browser.close()
