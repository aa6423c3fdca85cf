"""Every use of Gradio's private internals, in one place (Gradio 6.31), each kept only for what a
user gains from it.

Gradio has no public API for these: reading a session's state outside an event (the image route),
releasing a closed tab's state sooner than Gradio's hour, listing sessions (tests and the bench),
seeing which session each event runs for (sessions per address), letting a raw REST call leave out
trailing parameters without its values reaching the log, a per-session state without deep-link
copies of every block's config, opening a share tunnel ourselves, and a loading sign in Gradio's
HTML page. Each docstring says what the user gains and what upstream change would retire it. Each
is covered by `tests/test_gradio_internals.py`, which fails loudly when an upgrade moves them.
Patches that only saved app CPU were removed (about 16 ms per generation with 64 at once, against
25 s of image latency: bench/results.md, 2026-12-07), since each made every Gradio upgrade a risk.
(The image components' `get_block_name` override is Gradio's documented way for a subclass to
reuse a stock frontend, so it stays in components.py.)
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any, cast

from gradio import Blocks, networking, state_holder
from gradio.components import State


def _store(app_or_blocks):
    """Gradio's per-session store: `Blocks.state_holder`, also reachable as `App.state_holder`."""
    return app_or_blocks.state_holder


def session_values(app_or_blocks, session_hash: str) -> Iterator[Any]:
    """The `gr.State` values of one session, read without creating anything for unknown hashes.

    Gain: the image route serves each final image from the session that holds it, once, as bytes:
    no copy in Gradio's file cache on disk and no base64 (privacy, bandwidth, memory); an unknown
    or guessed hash leaves no state behind. Retired by a public way for a custom route to look up
    a session's `gr.State` by its hash (Gradio hands it only to event handlers, as inputs)."""
    entry = _store(app_or_blocks).session_data.get(session_hash)
    return iter(entry.state_data.values()) if entry is not None else iter(())


def sessions(app_or_blocks) -> list:
    """Every session Gradio holds now (each has `.is_closed` and `.state_data`).

    Used by tests and the bench only, to show that closed tabs' state is really gone (the memory
    claims below). Retired by a public count or list of live sessions."""
    return list(_store(app_or_blocks).session_data.values())


def is_closed(app_or_blocks, session_hash: str) -> bool:
    """Whether Gradio saw this session's tab close (its heartbeat stream ended); see `release`."""
    entry = _store(app_or_blocks).session_data.get(session_hash)
    return entry is not None and entry.is_closed


def release(app_or_blocks, session_hash: str) -> None:
    """Drop a session's state and its entry (what Gradio does an hour after a tab closes).

    Gain: memory. A closed tab's images are freed after the app's grace (a minute) instead of
    Gradio's hour, so a busy server holds the pictures of open tabs, not of tabs closed long ago.
    Gradio's hour came with automatic state deletion (gradio-app/gradio#7829) and is hard-coded
    (`SessionState.STATE_TTL_WHEN_CLOSED`, 3600 s unless GRADIO_IS_E2E_TEST is set). Retired by a
    configurable closed-session TTL, or a public way for the `unload` event to drop its session."""
    holder = _store(app_or_blocks)
    holder.delete_state(session_hash)
    with holder.lock:
        holder.session_data.pop(session_hash, None)


def on_every_event(blocks, seen) -> None:
    """Call `seen(request, session_hash)` as each event (each step of a streaming one) starts: Gradio has
    made or touched that session's state for it, whatever the event is (a page event, a named endpoint, a
    raw REST call, which gets a new session hash each time).

    Gain: fairness. Gradio keeps at most 10,000 session states and drops the oldest, whoever owns them;
    counting each session against its address lets a flood of new sessions from one address evict that
    address's own (`continuity.ByAddress`), not other visitors' work. Retired when Gradio bounds session
    states per client, or gives apps a public hook for a session's creation with its request."""
    process = blocks.process_api

    async def watched(*args, **kwargs):
        request, session_hash = kwargs.get("request"), kwargs.get("session_hash")
        if session_hash and request is not None and not isinstance(request, list):  # a list: batched, none here
            seen(request, session_hash)
        return await process(*args, **kwargs)

    blocks.process_api = watched


def fill_left_out_inputs(blocks) -> None:
    """Let a call leave out trailing parameters, as gradio_client lets it: they take their components'
    defaults.

    Gain: privacy and compatibility. Gradio's `validate_inputs` refuses a raw REST call with too few
    values, with an error that lists every value it did get, and the queue prints that traceback to
    the server's log: a visitor's own OpenAI key included. Parameters added later go last, so older
    callers keep working. Retired when Gradio's error names only the count and types of what it
    received, and its REST routes give left-out trailing parameters their defaults."""
    validate = blocks.validate_inputs

    def filled(block_fn, inputs: list) -> None:
        inputs.extend(None if block.stateful else block.value for block in block_fn.inputs[len(inputs):])
        validate(block_fn, inputs)

    blocks.validate_inputs = filled


def with_loading_sign(page: bytes, sign: bytes) -> bytes:
    """Gradio's HTML page (its templates/frontend/index.html) with `sign` put before its `<gradio-app>`
    element, the one the app is drawn into; any other page unchanged.

    Gain: a sign of life on a slow connection, where the page stayed blank white for about 14 s until
    Gradio's scripts had arrived (`head=` and `css=` reach the page only through those scripts). Retired
    when Gradio's page shows a loading state of its own, or lets an app add to the HTML it sends."""
    at = page.find(b"<gradio-app")
    return page if at < 0 else page[:at] + sign + page[at:]


class _NoBlocks:
    """What `SessionState.__init__` reads of a Blocks, with no blocks whose configs it would copy."""

    def __init__(self, blocks):
        self.default_config, self.blocks = blocks.default_config, {}


class LeanSessionState(state_holder.SessionState):
    """Gradio's per-session state without `config_values`, the copy of every block's config (with
    each output's last value) that Gradio keeps for deep links only (`gr.DeepLinkButton`,
    gradio-app/gradio#10834), which this app does not offer (`/gradio_api/deep_link` answers 404,
    see edge.py).

    Gain: privacy and memory. That copy kept the last image sent to an API caller as a `data:` URL
    for as long as the session lived, and the deep-link route writes those values to a file on
    disk. It also cost 6 ms of CPU per new session with this page, the most a new session cost.
    Retired by a Gradio option (or a default) that keeps no per-session config copy when an app
    has no deep-link button."""

    def __init__(self, blocks):
        super().__init__(cast(Blocks, _NoBlocks(blocks)))  # all of a Blocks that SessionState reads

    def __setitem__(self, key: int, value: Any) -> None:
        """As Gradio's, without building the block's config: a `gr.State`'s value (with its time to
        live, from now), or a block rebuilt by an update."""
        block = self.blocks_config.blocks.get(key)
        if isinstance(block, State):
            self._state_ttl[key] = (block.time_to_live, datetime.datetime.now())
            self.state_data[key] = value
        else:
            self.blocks_config.blocks[key] = value

    def _update_config(self, key: int) -> None:
        """Nothing to keep: no deep links."""

    def _update_value_in_config(self, key: int, value: Any) -> None:
        """Nothing to keep: no deep links."""


def lean_sessions() -> None:
    """Every new Gradio session in this process gets a `LeanSessionState` (Gradio's StateHolder makes
    them by this module-level name; this app is the only Gradio app in its process). Retired with
    `LeanSessionState`."""
    setattr(state_holder, "SessionState", LeanSessionState)  # not `=`: mypy refuses assigning to a class name


def open_tunnel(blocks) -> str:
    """Open Gradio's share tunnel for a launched app; returns the public URL or raises.

    Gain: a true message. With `launch(share=True)` a failure only prints Gradio's text, which
    offline, before the tunnel binary was ever fetched, tells the owner to download it by hand and
    suspects their antivirus; app.py
    says plainly that there is no share link, that the app still serves locally, and that anyone
    with a link generates on the owner's key. Retired by a public way to open the tunnel after
    launch, or a `launch(share=True)` that reports a failure to the caller instead of printing."""
    return networking.setup_tunnel(blocks.server_name, blocks.server_port, blocks.share_token, None, None)
