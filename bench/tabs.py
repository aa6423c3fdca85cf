"""How it is shown (issue 22): what an idle open tab costs the app, and how late a second tab of the
same session sees a preview.

Tabs are `tests/helpers.py`'s `Page` and `Watch` (Gradio's queue protocol as the page speaks it, one
stream per tab read in a thread), so the benchmark drives the page exactly as the tests do.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from helpers import Page, Watch, urls  # noqa: E402 - tests/ is not a package

from bench import loadgen  # noqa: E402
from hitl.web.events import WATCH_PING  # noqa: E402

OPTIONS = (1, "auto", "auto", "auto", "png", "", 0)  # count, size, quality, background, format, key, budget
SETTLE = 3.0  # s after the tabs opened, so their page loads are not counted as idling


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def open_tab(url: str, token: str = "") -> tuple[Page, Watch]:
    """A tab as the browser opens one: the page loads (resuming `token`'s session), then watches it."""
    page = Page(url)
    page.load(token)
    return page, page.watch()


# -- idle tabs -----------------------------------------------------------------------------------

async def idle_tabs(url: str, app_cpu: Callable[[], float], sessions: Callable[[], int], *, n: int,
                    window: float, rounds: int, grace: float) -> dict:
    """App CPU seconds over `window` with no tab open, then with `n` idle tabs open (each with its
    heartbeat stream, its loaded page and its page_watch), `rounds` times, and once more with none:
    nothing happens in any of them, and the windows without tabs show how much the app's own idling
    varies on a shared machine. `grace`: the app's closed_session_grace; `sessions`: how many sessions
    Gradio holds, counted once the closed tabs should be gone."""

    async def cpu_over_window() -> float:
        start = app_cpu()
        await asyncio.sleep(window)
        return app_cpu() - start

    quiet, busy, watching, left = [await cpu_over_window()], [], [], []
    for _ in range(rounds):
        async with loadgen.new_client() as client:
            beats = loadgen.Heartbeats(client, url)
            tabs = []
            try:
                for _ in range(n):
                    page, watch = await asyncio.to_thread(open_tab, url)
                    tabs.append((page, watch))
                    beats.open(page.session_hash)
                await beats.wait_connected(30)
                await asyncio.sleep(SETTLE)
                busy.append(await cpu_over_window())
                watching.append(sum(not w.ended for _, w in tabs))  # a watch past the app's caps ends at once
            finally:
                for page, watch in tabs:
                    watch.close()
                    page.http.close()
                await beats.close()
        # Until the closed tabs cost nothing more: a closed tab's watch ends at its next ping, when Gradio
        # finds the tab gone, and the app drops its session after the grace.
        await asyncio.sleep(WATCH_PING + grace + SETTLE)
        left.append(await asyncio.to_thread(sessions))
        quiet.append(await cpu_over_window())
    return {"n": n, "window": window, "quiet_cpu": quiet, "tabs_cpu": busy, "watching": min(watching),
            "sessions_left": left}


def idle_cost(r: dict) -> dict:
    """CPU ms per idle tab per second of the app (mean of the windows with tabs − mean of those without),
    and the shares of one core it comes to."""
    per_tab = 1000 * (statistics.mean(r["tabs_cpu"]) - statistics.mean(r["quiet_cpu"])) / r["n"] / r["window"]
    return {"ms_per_tab_s": per_tab, "core_per_tab": per_tab / 1000, "core_all_tabs": per_tab * r["n"] / 1000}


# -- a preview on two tabs -----------------------------------------------------------------------

def arrivals(watch: Watch) -> list[tuple[float, str]]:
    """(time, data URL) of every inline image a tab's stream brought, repeats included: previews stream
    inline, the final image comes by URL and is not counted."""
    return [(at, url) for at, message in zip(watch.arrived, watch.messages) for url in urls([message])]


def one_generation(url: str, prompt: str, timeout: float) -> tuple[float, list, list]:
    """Two tabs of one new session, both watching; the first clicks Generate. Returns the click's time
    and each tab's arrivals."""
    first, first_watch = open_tab(url)
    second, second_watch = open_tab(url, first.token)
    try:
        clicked = time.monotonic()
        first.send("generate", prompt, *OPTIONS)
        deadline = clicked + timeout
        while "process_completed" not in [m["msg"] for m in first_watch.messages[:]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no result after {timeout:.0f} s")
            time.sleep(0.05)
        time.sleep(0.5)  # the second tab's last redraw
        return clicked, arrivals(first_watch), arrivals(second_watch)
    finally:
        for page, watch in ((first, first_watch), (second, second_watch)):
            watch.close()
            page.http.close()


def preview_delays(generations: list[tuple[float, list, list]]) -> dict:
    """Per preview, when it reached the clicking tab and the second tab (the first time either stream
    carried it) after the click, and second − first: the delay's p50 over every generation's previews,
    and each tab's p50 of arrival per preview index (the first preview, the second...)."""
    first_after: dict[int, list[float]] = {}
    second_after: dict[int, list[float]] = {}
    delays = []
    counts = {"previews": 0, "second_missed": 0, "first_copies": 0, "second_copies": 0}
    for clicked, first, second in generations:
        one, two = {}, {}
        for seen, got in ((one, first), (two, second)):
            for at, url in got:
                seen.setdefault(url, at)
        counts["previews"] += len(one)
        counts["first_copies"] += len(first)
        counts["second_copies"] += len(second)
        for index, (url, at) in enumerate(one.items()):
            first_after.setdefault(index, []).append(at - clicked)
            if url in two:
                second_after.setdefault(index, []).append(two[url] - clicked)
                delays.append(two[url] - at)
            else:
                counts["second_missed"] += 1
    return {"generations": len(generations), **counts, "delay_p50_ms": 1000 * p50(delays),
            "delay_max_ms": 1000 * max(delays, default=math.nan),
            "after_click_p50_ms": [(1000 * p50(first_after[i]), 1000 * p50(second_after.get(i, [])))
                                   for i in sorted(first_after)]}


def two_tab_previews(url: str, *, generations: int, timeout: float) -> dict:
    one_generation(url, "bench two tabs warm-up", timeout)
    return preview_delays([one_generation(url, f"bench two tabs {i}", timeout) for i in range(generations)])
