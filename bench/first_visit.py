"""How it is shown (issue 23): a first visit with an empty cache, the app against the bare Gradio page.

Each visit is a new Chromium context (nothing cached) that opens the page and waits until a text box
is ready to type in (visible and enabled: the "Prompt" box on both pages), then until the network
has been quiet for `QUIET` s, so chunks loaded lazily after the first paint count too. Measured
through the DevTools protocol: bytes on the wire (each response's encoded length, headers included),
requests, and the time the box became ready (`performance.now()`, from navigation start). Visits
alternate app / bare, once on the loopback as it is and once throttled like DevTools' "Fast 3G",
where bytes turn into seconds a user waits.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from chromium import launch_kwargs  # noqa: E402 - tests/ is not a package

QUIET = 1.0  # s without a new request or response: the first visit has finished loading
# DevTools' "Fast 3G" preset (front_end/core/sdk/NetworkManager.ts): 1.44 Mbit/s down, 675 kbit/s up, 562.5 ms RTT.
FAST_3G = {"offline": False, "latency": 562.5, "downloadThroughput": 1_440_000 / 8,
           "uploadThroughput": 675_000 / 8}
READY = """() => {
  const box = [...document.querySelectorAll('textarea')].find(t => t.offsetParent && !t.disabled);
  return box ? performance.now() : false;
}"""
GOAL = 1.3  # app ÷ bare, bytes on the wire


class Wire:
    """What one page's network did, from DevTools' Network events."""

    def __init__(self, cdp) -> None:
        self.bytes: dict[str, float] = {}
        self.last = time.monotonic()
        cdp.on("Network.requestWillBeSent", lambda e: self._seen(e["requestId"], 0))
        cdp.on("Network.dataReceived", lambda e: self._seen(e["requestId"], e["encodedDataLength"]))
        cdp.on("Network.loadingFinished", lambda e: self._finished(e["requestId"], e["encodedDataLength"]))

    def _seen(self, request: str, received: float) -> None:
        self.bytes[request] = self.bytes.get(request, 0) + received
        self.last = time.monotonic()

    def _finished(self, request: str, total: float) -> None:
        # The total includes the headers that dataReceived never counted; a stream still open has only its chunks.
        self.bytes[request] = max(self.bytes.get(request, 0), total)
        self.last = time.monotonic()


def visit(browser, url: str, throttle: dict | None) -> dict:
    context = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if throttle:
            cdp.send("Network.emulateNetworkConditions", throttle)
        wire = Wire(cdp)
        page.goto(url, wait_until="commit")
        ready_ms = page.wait_for_function(READY, polling="raf", timeout=120_000).json_value()
        while time.monotonic() - wire.last < QUIET:
            page.wait_for_timeout(100)
        return {"bytes": sum(wire.bytes.values()), "requests": len(wire.bytes), "ready_ms": ready_ms}
    finally:
        context.close()


def first_visits(app_url: str, bare_url: str, reps: int) -> dict:
    """`reps` visits of each page, alternating, unthrottled and on Fast 3G: {network: {kind: [visit]}}."""
    from playwright.sync_api import sync_playwright

    out: dict = {"loopback": {"app": [], "bare": []}, "fast3g": {"app": [], "bare": []}}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(**launch_kwargs())
        for network, throttle in (("loopback", None), ("fast3g", FAST_3G)):
            for _ in range(reps):
                for kind, url in (("app", app_url), ("bare", bare_url)):
                    out[network][kind].append(visit(browser, url, throttle))
        browser.close()
    return out


def summary(visits: list[dict]) -> dict:
    return {key: statistics.median(v[key] for v in visits) for key in ("bytes", "requests", "ready_ms")}


def section(result: dict) -> str:
    """The report's section: medians per page and their ratios."""
    lines = ["## First visit, empty cache: the app against a bare Gradio page (issue 23)", "",
             f"Medians of {len(result['loopback']['app'])} visits each, alternating; see bench/first_visit.py.", "",
             "| network | metric | app | bare Gradio | app ÷ bare | goal |", "|---|---|---|---|---|---|"]
    for network in ("loopback", "fast3g"):
        app, bare = summary(result[network]["app"]), summary(result[network]["bare"])
        rows = (("bytes on the wire", app["bytes"] / 1024, bare["bytes"] / 1024, "KiB", f"≤ {GOAL}"),
                ("requests", app["requests"], bare["requests"], "", "info"),
                ("time until the prompt box takes typing", app["ready_ms"], bare["ready_ms"], "ms", "info"))
        for metric, mine, floor, unit, goal in rows:
            ratio = mine / floor if floor else float("nan")
            status = "" if goal == "info" else (" (met)" if ratio <= GOAL else " (**missed**)")
            lines.append(f"| {network} | {metric} | {mine:,.0f} {unit} | {floor:,.0f} {unit} | "
                         f"{ratio:.2f}{status} | {goal} |")
    return "\n".join(lines) + "\n"
