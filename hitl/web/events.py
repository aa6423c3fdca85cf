"""The page's own events: each button runs its action and streams what changes on screen.

These events are private (the named API is `hitl/web/api.py`). Generating actions stream: Cancel
as soon as the image call starts, previews inline as they arrive, then the new session, whose
images the page fetches by URL. Every handler only turns a click into `run_action` and the
results into a `Screen`'s outputs.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import replace
from typing import Any

import gradio as gr

from hitl.core.images import thumbnail
from hitl.core.jobs import Home
from hitl.core.runner import BUSY, Preview, Runtime, run_action
from hitl.core.stages import Action, Session
from hitl.core.validation import MAX_COUNT
from hitl.serving.config import Settings
from hitl.serving.limits import forwarded_client
from hitl.web.page import HISTORY, Page, estimate_html
from hitl.web.review_panel import OwnerShown
from hitl.web.screen import Screen


def client_address(request: gr.Request | None, proxy_hops: int) -> str:
    """The caller's address (`hitl.serving.limits.forwarded_client`)."""
    if request is None:
        return "local"
    headers = request.headers
    lines = headers.getlist("x-forwarded-for") if hasattr(headers, "getlist") else [headers.get("x-forwarded-for", "")]
    return forwarded_client(lines, request.client.host if request.client else "unknown", proxy_hops)


def tab_of(request: gr.Request) -> str:
    """The tab an event came from: its session hash, which Gradio's queue gives every event it runs."""
    tab = request.session_hash
    assert tab is not None, "Gradio ran an event without a session hash"
    return tab


def upstream(size, quality, background, output_format, api_key, budget) -> dict:
    """The runner's inputs from the page's options (the same six in every generating event)."""
    options = {"size": size, "quality": quality, "background": background, "output_format": output_format}
    return {"options": options, "api_key": (api_key or "").strip() or None, "budget": max(0.0, float(budget or 0))}


# The browser keeps the key back to its session and its last prompts in plain localStorage: the page load
# and Generate read them there, and they are written back when the server changes them. (gr.BrowserState did this with
# 23.5 KiB of CryptoJS on every first visit, encrypting with a secret the page itself carried.)
KEPT = {"token": "hitl-studio-session", "prompts": "hitl-studio-prompts"}


def recalled(name: str) -> str:
    """A script expression: what this browser kept as KEPT[name] (null when nothing, or storage is blocked,
    as in some private windows: the page then works as a fresh visit each time)."""
    read = f'JSON.parse(localStorage.getItem("{KEPT[name]}"))'
    return f"(() => {{ try {{ return {read}; }} catch {{ return null; }} }})()"


RECALL = f"""(token, prompts, session) => {{
  const key = {recalled("token")}, kept = {recalled("prompts")};
  return [typeof key === "string" ? key : "", Array.isArray(kept) ? kept : [], session];
}}"""


def keep(name: str) -> str:
    """A change event's script that writes its component's value to the browser's storage, as KEPT[name]."""
    return f'(value) => {{ try {{ localStorage.setItem("{KEPT[name]}", JSON.stringify(value)); }} catch {{}} }}'


def forgotten(name: str) -> str:
    """An event's script that lets go of what the browser kept as KEPT[name]."""
    return f'() => {{ try {{ localStorage.removeItem("{KEPT[name]}"); }} catch {{}} }}'


def kept_prompts(history: object, limit: int) -> list[str]:
    """The prompts among what the browser kept (it may hold anything), each cut to the prompt's limit."""
    return [p[:limit] for p in (history if isinstance(history, list) else []) if isinstance(p, str)][:HISTORY]


def run(action: Action, session: Session, runtime: Runtime, request: gr.Request | None, **inputs):
    return run_action(action, session, runtime, client_ip=client_address(request, runtime.settings.proxy_hops),
                      **inputs)


async def tiled(preview: Preview, count: int) -> Preview:
    """With several images on their way, each preview also gets a thumbnail for its gallery tile."""
    if count == 1:
        return preview
    thumb = await asyncio.to_thread(thumbnail, preview.candidate.image)
    return replace(preview, candidate=replace(preview.candidate, thumb=thumb))


async def last(items: AsyncIterator):
    async for item in items:
        final = item
    return final


SEEN_CHARS = 600  # what a page's `seen` may be: a stage and three candidate keys, as JSON
_KEY = re.compile(r"([A-Za-z0-9_-]{8,64})(?:\.\w+)?(?:[?#].*)?$")  # an image URL's last segment: its key


def seen_of(text, picked=None) -> dict | None:
    """What the page says it showed when an action was pressed (its script's `seen()`: the stage, the
    image URLs on screen and beside it) and, for a thumbnail click, the picked tile's URL; as keys."""
    try:
        said = json.loads(text) if isinstance(text, str) and 0 < len(text) <= SEEN_CHARS else None
    except ValueError:
        return None
    if not isinstance(said, dict):
        return None
    seen = {"stage": said.get("stage")}
    for part, url in (("screen", said.get("screen")), ("beside", said.get("beside")), ("picked", picked)):
        if isinstance(url, str) and url:
            found = _KEY.search(url) if not url.startswith("data:") else None
            seen[part] = found.group(1) if found else "not-a-kept-image"  # a preview: nothing kept to act on
    return seen


def picked_url(event: gr.SelectData | None) -> str | None:
    """The URL of the gallery tile a click picked (Gradio hands the tile's image data)."""
    value = getattr(event, "value", None)
    image = value.get("image") if isinstance(value, dict) else None
    return image.get("url") if isinstance(image, dict) else None


class PageEvents:
    """The handlers of the page's events, bound to its components and the app's runtime. Each tab has
    one `Screen` (what it shows), drawn by its clicks and by its watch of the session's home."""

    def __init__(self, page: Page, runtime: Runtime):
        self.page, self.runtime = page, runtime
        self.screens: OrderedDict[str, Screen] = OrderedDict()  # by tab, least recently used first
        self.watching: Counter[str] = Counter()  # open watches by address (a reviewer's page's among them)
        self.watches: dict[str, asyncio.Event] = {}  # by tab: set when the tab is released
        self.sharing = OwnerShown(page.sharing)  # the owner's Send for review panel, per tab

    def outputs(self) -> list:
        """What any page event may change: every stage box (another tab may have moved the session to any
        stage) and the rest of the screen."""
        page = self.page
        return [page.session, *page.stage_boxes.values(), page.compare_bar, page.cancel, page.undo, page.progress,
                page.batch, page.show_batch, page.image, page.approve_left, page.beside, page.slider,
                page.revised_prompt, page.cost, page.gallery, page.compare, page.your_prompt, page.download,
                page.message, page.prompt, page.feedback, *page.sharing.outputs]

    def address(self, request: gr.Request) -> str:
        return client_address(request, self.runtime.settings.proxy_hops)

    def home(self, request: gr.Request, shown: Session, token: str = "") -> Home:
        """The session's home: the one the browser's token named at page load, or for a click before the
        page load arrived, the one the token it carries names (`SessionVault.untold`)."""
        tab = tab_of(request)
        return self.runtime.vault.home(tab) or self.runtime.vault.untold(tab, shown, time.monotonic(),
                                                                         self.address(request), token)

    def screen(self, tab: str, shown: Session) -> Screen:
        screen = self.screens.get(tab)
        if screen is None:
            screen = self.screens[tab] = Screen.of(self.page, shown, tab, self.runtime.settings.partial_images)
            while len(self.screens) > MAX_SCREENS:
                self.screens.popitem(last=False)
        self.screens.move_to_end(tab)
        return screen

    def forget_tab(self, tab: str) -> None:
        self.screens.pop(tab, None)
        self.sharing.shown.pop(tab, None)

    def render(self, screen: Screen, home: Home, note: str = "") -> dict:
        screen.version = home.version
        return {**screen.show(home.session, home.job, note), **self.sharing.outputs(home, screen.session_hash)}

    async def run_job(self, action: Action, shown: Session, request: gr.Request, prompt: str | None = None,
                      token: str = "", **inputs):
        """Start `action` as the session's job and show it on this tab until it ends. The job is the
        session's: if this tab goes (a reload, a closed tab, a lost connection) it runs on, and every
        page of the session watches it."""
        tab = tab_of(request)
        home, screen = self.home(request, shown, token), self.screen(tab, shown)
        count = inputs.get("count", 1)
        count = count if isinstance(count, int) and 1 <= count <= MAX_COUNT else 1
        draft = None
        if isinstance(prompt, str):  # part of the session from the click on: a reload shows it
            draft = replace(home.session, prompt_draft=prompt[:self.runtime.settings.max_prompt_chars])
            screen.prompt = draft.prompt_draft  # this tab has it typed: never written back over later typing
        job = home.start(action, count, lambda stop: self.job_items(action, home.session, request, stop=stop,
                                                                    **inputs), draft)
        if job is None:
            yield self.render(screen, home, BUSY)
            return
        while True:
            yield self.render(screen, home)
            if home.job is not job:
                return
            await home.changed(screen.version)

    async def job_items(self, action: Action, session: Session, request: gr.Request, **inputs):
        count = inputs.get("count", 1)
        async for item in run(action, session, self.runtime, request, **inputs):
            yield await tiled(item, count) if isinstance(item, Preview) else item

    async def act(self, action: Action, shown: Session, request: gr.Request, **inputs) -> dict:
        """A quick action (pick, compare, approve, start over…) on the session's home, shown on this tab
        (and by their watch on its other tabs). A refusal is this tab's message alone."""
        tab = tab_of(request)
        home, screen = self.home(request, shown), self.screen(tab, shown)
        if home.busy:
            return self.render(screen, home, BUSY)
        before = home.session
        after = await last(run(action, before, self.runtime, request, **inputs))
        if after.error_message and replace(after, error_message="") == replace(before, error_message=""):
            return self.render(screen, home, after.error_message)
        home.set(after, time.monotonic())
        return self.render(screen, home)

    async def watch(self, shown: Session, request: gr.Request):
        """Every open tab watches its session's home from page load on, and draws whatever another tab
        or a job changed there: a streaming event that waits, so an idle tab costs next to nothing.
        A watch with nothing to watch (no home, or past the caps) ends after one step that draws nothing:
        a streaming event that ends before its first step has Gradio send an empty value for every output,
        which the page applies, wiping the picture, the gallery and the prompt its page load just drew."""
        home = self.runtime.vault.home(tab_of(request))
        if home is None:
            yield gr.skip()
            return
        screen = self.screen(tab_of(request), shown)
        async with aclosing(self.changes(request, home, lambda: screen.version)) as changes:
            async for changed in changes:
                yield self.render(screen, home) if changed else gr.skip()

    async def changes(self, request: gr.Request, home: Home, shown: Callable[[], int]) -> AsyncGenerator[bool, None]:
        """For a tab's watch (the page's or a reviewer's): True each time `home` moves on from the version
        the tab `shown`, False for a ping after WATCH_PING without one (Gradio ends the event there if the
        tab has gone). Past the caps, one False and the end; it ends when the tab is released (`end_watch`)."""
        tab, address = tab_of(request), self.address(request)
        if self.watching.total() >= MAX_WATCHES or self.watching[address] >= WATCHES_PER_ADDRESS:
            yield False  # one step that draws nothing before the end (see `watch`)
            return
        gone = self.watches[tab] = asyncio.Event()
        self.watching[address] += 1
        try:
            while True:
                changed = await next_change(home, shown(), gone)
                if gone.is_set():  # released: one more step would bring the tab's Gradio state back
                    return
                yield changed
        finally:  # Gradio closes the watch when its tab goes
            if self.watches.get(tab) is gone:
                del self.watches[tab]
            self.watching[address] -= 1
            if not self.watching[address]:
                del self.watching[address]

    def end_watch(self, tab: str) -> None:
        """A released tab's watch ends without another step: each step of an event makes Gradio look the
        tab's state up, which brings back a state just released, and no tab is left to close it again."""
        gone = self.watches.pop(tab, None)
        if gone is not None:
            gone.set()

    def resume(self, token: str, history: object, session: Session, request: gr.Request):
        """Page load: the session this browser's token names (a reload loses nothing), or a new token;
        and the visitor's recent prompts in the picker."""
        tab = tab_of(request)
        token, home = self.runtime.vault.open(token, tab, session, time.monotonic(), self.address(request))
        self.forget_tab(tab)
        outputs = self.render(self.screen(tab, session), home) if home.session is not session else {}
        prompts = kept_prompts(history, self.runtime.settings.max_prompt_chars)
        return {**outputs, self.page.token: token, self.page.recent: gr.update(choices=prompts, value=None)}

    async def generate(self, prompt, count, size, quality, background, output_format, api_key, budget, history,
                       image, token, session: Session, request: gr.Request):
        remembered: dict = {}
        async for outputs in self.run_job(Action.GENERATE, session, request, prompt=prompt, token=token,
                                          task_input=prompt,
                                          count=count, upload_input=image,
                                          **upstream(size, quality, background, output_format, api_key, budget)):
            # Remembered as the job starts, in the browser that asked: a reload mid-generation keeps it too.
            if not remembered and isinstance(prompt, str) and prompt.strip() and self.home(
                    request, session).job is not None:
                remembered = self.remembered(prompt.strip()[:self.runtime.settings.max_prompt_chars], history)
                yield {**outputs, **remembered}
            else:
                yield outputs

    def remembered(self, prompt: str, history: object) -> dict:
        """The prompt on top of the visitor's history (text only, in their browser), and the picker."""
        kept = kept_prompts(history, self.runtime.settings.max_prompt_chars)
        history = [prompt, *(p for p in kept if p != prompt)][:HISTORY]
        return {self.page.history: history, self.page.recent: gr.update(choices=history, value=None)}

    def forget(self):
        return {self.page.recent: gr.update(choices=[], value=None)}

    async def regenerate(self, count, size, quality, background, output_format, api_key, budget,
                         session: Session, request: gr.Request):
        async for outputs in self.run_job(Action.REGENERATE, session, request, count=count,
                                          **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def refine(self, feedback, size, quality, background, output_format, api_key, budget, seen,
                     session: Session, request: gr.Request):
        before = frozenset(c.key for c in self.home(request, session).session.candidates)
        self.screen(tab_of(request), session).refining = before  # the feedback goes once a new one comes of it
        async for outputs in self.run_job(Action.REFINE, session, request, feedback=feedback, seen=seen_of(seen),
                                          **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def remix(self, prompt, count, size, quality, background, output_format, api_key, budget, seen,
                    session: Session, request: gr.Request):
        async for outputs in self.run_job(Action.REMIX, session, request, prompt=prompt, remix_input=prompt,
                                          count=count, seen=seen_of(seen),
                                          **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def edit_region(self, instruction, size, quality, background, output_format, api_key, budget, mask, seen,
                          session: Session, request: gr.Request):
        async for outputs in self.run_job(Action.EDIT_REGION, session, request, instruction=instruction,
                                          mask_input=mask, seen=seen_of(seen),
                                          **upstream(size, quality, background, output_format, api_key, budget)):
            yield outputs

    async def approve(self, seen, session: Session, request: gr.Request):
        """Approve (Approve left while comparing two): the one on screen."""
        return await self.act(Action.APPROVE, session, request, seen=seen_of(seen))

    async def approve_compared(self, seen, session: Session, request: gr.Request):
        """Approve right: the one beside, pressed for as a thumbnail is when clicked (`picked`)."""
        seen = seen_of(seen)
        if seen is not None and "beside" in seen:
            seen["picked"] = seen["beside"]
        return await self.act(Action.APPROVE, session, request, seen=seen,
                              approve_index=self.home(request, session).session.compared)

    async def reopen(self, seen, session: Session, request: gr.Request):
        return await self.act(Action.REOPEN, session, request, seen=seen_of(seen))

    async def start_over(self, session: Session, request: gr.Request):
        return await self.act(Action.START_OVER, session, request)

    async def undo_start_over(self, session: Session, request: gr.Request):
        return await self.act(Action.UNDO_START_OVER, session, request)

    async def pick(self, seen, session: Session, event: gr.SelectData, request: gr.Request):
        """A thumbnail clicked (in the batch's grid or among all candidates): on screen at full size, or beside
        the one on screen while comparing two. The picked tile's key, not its place, says which."""
        self.screen(tab_of(request), session).focused = True
        seen = seen_of(seen, picked_url(event))
        if self.home(request, session).session.compared_image is not None:
            return await self.act(Action.COMPARE, session, request, compare_index=event.index, seen=seen)
        return await self.act(Action.SELECT, session, request, select_index=event.index, seen=seen)

    async def compare(self, seen, session: Session, request: gr.Request):
        """Side by side: the one on screen and the newest other one (a thumbnail click changes it)."""
        seen = seen_of(seen)
        current = self.home(request, session).session
        keys = [c.key for c in current.candidates]
        on_screen = keys.index(seen["screen"]) if seen and seen.get("screen") in keys else current.selected
        newest = len(current.candidates) - 1
        other = newest - 1 if on_screen == newest else newest
        return await self.act(Action.COMPARE, session, request, compare_index=other, seen=seen)

    def show_batch(self, session: Session, request: gr.Request) -> dict:
        """Back from one at full size to its batch's grid: this tab's view alone, the session unchanged."""
        screen = self.screen(tab_of(request), session)
        screen.focused = False
        return self.render(screen, self.home(request, session))

    async def end_compare(self, session: Session, request: gr.Request):
        return await self.act(Action.COMPARE, session, request, compare_index=-1)

    def estimate(self, size, quality, count):
        return estimate_html(self.runtime.settings, size, quality, count)

    def cancel(self, session: Session, request: gr.Request) -> None:
        """Cancel, from any tab of the session: its job stops, keeping the images that had finished; every
        tab shows the outcome when the job lands."""
        home = self.runtime.vault.home(tab_of(request))
        if home is not None and home.job is not None:
            home.job.cancel()


async def next_change(home: Home, version: int, gone: asyncio.Event) -> bool:
    """Whether the home moved on from `version` within WATCH_PING (False: it did not, or `gone` was set)."""
    changed, ended = asyncio.ensure_future(home.changed(version)), asyncio.ensure_future(gone.wait())
    try:
        done, _ = await asyncio.wait((changed, ended), timeout=WATCH_PING, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when the watch itself is cancelled
        changed.cancel()
        ended.cancel()
    return changed in done


MAX_SCREENS = 20_000  # tabs whose screen is remembered (each a few hundred bytes)
# Each open tab's watch is one of Gradio's running events, and Gradio runs at most `max_threads` events at
# once (an idle watch among them). `launch_options` adds these to the slots the work needs, so watching
# tabs can never crowd out a click; a tab past a cap still works by its clicks, it just is not redrawn live.
MAX_WATCHES = 1_000  # all tabs together
WATCHES_PER_ADDRESS = 100  # one address's tabs (a whole office behind one NAT), so one visitor cannot take them all
WATCH_PING = 15.0  # s: an idle watch yields nothing this often, so Gradio notices a closed tab and frees its slot


def held(name: str) -> str:
    """A script expression: what the page's script holds as `name` (page.js's window.hitlStudio): a picked
    picture or a painted mask as a data: URL, so the bytes travel in the queue's JSON and never through
    Gradio's upload route, which writes files; or what the tab shows, `seen`."""
    return f"(window.hitlStudio?.{name}() ?? '')"


def handing_over(inputs: list, sources: dict) -> str:
    """An event's js=: its input values, with each component of `sources` given the value of its script
    expression (`held`, `recalled`). Gradio hands js= the inputs' values followed by the outputs'; only the
    inputs go on."""
    given = " ".join(f"values[{inputs.index(component)}] = {source};" for component, source in sources.items())
    return f"(...values) => {{ values = values.slice(0, {len(inputs)}); {given} return values; }}"


def wire(demo: gr.Blocks, page: Page, runtime: Runtime, settings: Settings) -> PageEvents:
    """Connect the page's controls to their handlers, inside the current `gr.Blocks`. The events are
    private; their `page_` names keep the public names for `hitl/web/api.py`."""
    events = PageEvents(page, runtime)
    # show_progress hidden: the page's own progress line (Screen) says what is happening, from the click on.
    # No concurrency limit: a page event only starts or shows work; the image calls have their own pool.
    quick: dict[str, Any] = dict(api_visibility="private", postprocess=False, show_progress="hidden",
                                 concurrency_limit=None)
    every = events.outputs()
    demo.load(events.resume, [page.token, page.history, page.session], [page.token, page.recent, *every],
              api_name="page_resume", js=RECALL, **quick
              ).then(events.watch, [page.session], every, api_name="page_watch", **quick)
    page.token.change(None, [page.token], None, js=keep("token"))  # in the browser only
    page.history.change(None, [page.history], None, js=keep("prompts"))
    page.recent.input(None, [page.recent], [page.prompt], js="(picked) => picked ?? ''")  # in the browser only
    page.forget.click(events.forget, None, [page.recent], api_name="page_forget", js=forgotten("prompts"), **quick)

    def on(triggers, fn, inputs, api_name, more=(), sources=None):
        gr.on(triggers, fn, inputs, [*events.outputs(), *more], api_name=api_name,
              js=handing_over(inputs, sources) if sources else None, **quick)

    seen = {page.seen: held("seen")}
    # Generate can come before the page load (a quick Enter): it carries what the browser kept itself.
    generate_inputs = [page.prompt, page.count, *page.options, page.history, page.upload, page.token, page.session]
    on([page.generate.click, page.prompt.submit], events.generate, generate_inputs, "page_generate",
       [page.history, page.recent],
       {page.upload: held("upload"), page.history: recalled("prompts"), page.token: recalled("token")})
    on([page.regenerate.click], events.regenerate, [page.regenerate_count, *page.options, page.session],
       "page_regenerate")
    on([page.refine.click, page.feedback.submit], events.refine,
       [page.feedback, *page.options, page.seen, page.session], "page_refine", sources=seen)
    on([page.remix.click, page.your_prompt.submit], events.remix,
       [page.your_prompt, page.regenerate_count, *page.options, page.seen, page.session], "page_remix", sources=seen)
    on([page.edit_region.click, page.region_instruction.submit], events.edit_region,
       [page.region_instruction, *page.options, page.mask, page.seen, page.session], "page_edit_region",
       sources={page.mask: held("mask"), **seen})
    on([page.approve.click, page.approve_left.click], events.approve, [page.seen, page.session], "page_approve",
       sources=seen)
    on([page.approve_compared.click], events.approve_compared, [page.seen, page.session],
       "page_approve_compared", sources=seen)
    on([page.reopen.click], events.reopen, [page.seen, page.session], "page_reopen", sources=seen)
    on([page.discard.click, page.start_over.click], events.start_over, [page.session], "page_start_over")
    on([page.undo.click], events.undo_start_over, [page.session], "page_undo_start_over")
    on([page.gallery.select, page.batch.select], events.pick, [page.seen, page.session], "page_select", sources=seen)
    on([page.show_batch.click], events.show_batch, [page.session], "page_show_batch")
    on([page.compare.click], events.compare, [page.seen, page.session], "page_compare", sources=seen)
    on([page.end_compare.click], events.end_compare, [page.session], "page_end_compare")
    for count, estimate, name in ((page.count, page.estimate, "page_estimate"),
                                  (page.regenerate_count, page.regenerate_estimate, "page_regenerate_estimate")):
        gr.on([page.size.change, page.quality.change, count.change], events.estimate,
              [page.size, page.quality, count], estimate, api_name=name, **quick)
    for one, other in ((page.count, page.regenerate_count), (page.regenerate_count, page.count)):  # in the browser
        one.input(None, [one], [other], js="(n) => n")
    page.cancel.click(events.cancel, [page.session], None, api_name="page_cancel", **quick)
    return events
