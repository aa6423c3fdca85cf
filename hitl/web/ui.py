"""The Gradio app: the page (`page.py`), its events (`events.py`) and the named API (`api.py`)
put together, and the options every entry point launches it with."""

from __future__ import annotations

import asyncio
from pathlib import Path

import gradio as gr
from starlette.middleware import Middleware

from hitl.core.continuity import ByAddress
from hitl.core.nodes import MAX_COMMENT
from hitl.core.runner import Runtime
from hitl.serving.config import Settings
from hitl.serving.limits import Buckets
from hitl.serving.memory import trim
from hitl.web import gradio_internals
from hitl.web.api import add_endpoints
from hitl.web.edge import BodyLimit, CallRate, CompressedPages, closed_routes
from hitl.web import events as page_events
from hitl.web.events import PageEvents, client_address, tab_of, wire
from hitl.web.image_route import image_route
from hitl.web.loading import LoadingSign
from hitl.web.log_route import log_route
from hitl.web.page import TITLE, layout
from hitl.web.review import PATH as REVIEW_PATH
from hitl.web.review import reviewer_page, wire_owner

ASSETS = Path(__file__).parent / "assets"
CSS = "\n".join((ASSETS / name).read_text(encoding="utf-8") for name in ("page.css", "review.css"))
HEAD = f"<script>{(ASSETS / 'page.js').read_text(encoding='utf-8')}</script>"


def launch_options(settings: Settings) -> dict:
    """launch() arguments for every entry point (app.py, tests, bench). Gradio 6 takes css and head here
    (the page's look and script: hitl/web/assets); run history stays off so nobody's prompts or images
    are kept in the footer's "Runs" panel; and Gradio runs at most `max_threads` events at once whatever
    the concurrency limits say (an open tab's watch among them), so it is lifted above the generation
    pool and the watching tabs. The page fetches its images and the decision log from routes that read
    the session itself; Gradio's routes that store or serve files are closed and oversized bodies
    refused unread, an address's calls past a rate refused, and the pages' HTML compressed
    (`hitl/web/edge.py`), with a loading sign in it (`hitl/web/loading.py`); Gradio's public monitoring (an
    event summary at `/monitoring/summary`) is off unless the owner sets HITL_MONITORING=1. Gradio's session
    store holds as many sessions as the vault (`max_sessions`), each address's bounded by the vault's eviction."""
    slots = settings.max_concurrent + 16 + page_events.MAX_WATCHES
    return {"css": CSS, "head": HEAD, "run_history": False, "max_threads": slots,
            "enable_monitoring": settings.monitoring, "state_session_capacity": settings.max_sessions,
            "app_kwargs": {"routes": [image_route(), log_route(), *closed_routes()],
                           "middleware": [*call_rate(settings), Middleware(BodyLimit),
                                          Middleware(CompressedPages, pages=("/", f"/{REVIEW_PATH}")),
                                          Middleware(LoadingSign)]}}  # the sign goes in before the page is gzipped


def call_rate(settings: Settings) -> list[Middleware]:
    """Each address's calls past a rate no person reaches refused at the edge, where limits apply at all."""
    if not settings.limited:
        return []
    buckets = Buckets(settings.call_rate, settings.call_burst)
    return [Middleware(CallRate, buckets=buckets, proxy_hops=settings.proxy_hops)]


def build_demo(settings: Settings) -> gr.Blocks:
    gradio_internals.lean_sessions()
    runtime = Runtime.create(settings)
    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        page = layout(settings)
        events = wire(demo, page, runtime, settings)
        add_endpoints(page, runtime)
        wire_owner(events)
        gr.Navbar(visible=False)  # the review page is reached by its link alone, never from a menu
        demo.unload(release_closed(demo, events, settings.closed_session_grace))
        runtime.vault.on_evict = release_evicted(demo, events)
        # Every session Gradio holds, page or API, counted against its address: a flood of new session
        # hashes from one address (raw REST calls make one each) releases that address's own oldest.
        tabs = ByAddress(settings.sessions_per_address, settings.max_sessions)
        gradio_internals.on_every_event(demo, lambda request, tab: runtime.vault.on_evict(
            tabs.use(tab, client_address(request, settings.proxy_hops))))
    with demo.route("Review", f"/{REVIEW_PATH}", show_in_navbar=False):
        reviewer_page(demo, events, MAX_COMMENT)
    gradio_internals.fill_left_out_inputs(demo)
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=None)
    return demo


def release_evicted(demo: gr.Blocks, events: PageEvents):
    def release(tabs: list[str]) -> None:
        """Tabs let go for room (their address opened too many): their Gradio state goes, or Gradio's store
        would still fill up with them and push out other people's."""
        for tab in tabs:
            events.end_watch(tab)
            gradio_internals.release(demo, tab)
            events.forget_tab(tab)

    return release


def release_closed(demo: gr.Blocks, events: PageEvents, grace: float):
    async def release(request: gr.Request):
        """Drop a closed tab's state after a short grace; Gradio alone keeps it an hour. The session
        itself, and any job of it, live on in its home for the reload that comes back to it."""
        await asyncio.sleep(grace)
        tab = tab_of(request)
        if gradio_internals.is_closed(demo, tab):  # not reconnected meanwhile
            events.end_watch(tab)
            gradio_internals.release(demo, tab)
            events.forget_tab(tab)
            await asyncio.to_thread(trim)  # its images' memory goes back to the OS

    return release
