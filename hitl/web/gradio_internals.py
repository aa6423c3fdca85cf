"""Every use of Gradio's private internals, in one place (Gradio 6.31).

Gradio has no public API for these: reading a session's state outside an event (the image
route), releasing a closed tab's state sooner than Gradio's hour, listing sessions (the bench), seeing
which session each event runs for (sessions per address),
letting a raw REST call leave out trailing parameters, a leaner per-session state (no deep-link
copies of every block's config), show/hide updates without building a component each, plain
inputs checked without a thread hop each, an import Gradio retries on every step, and opening a
share tunnel ourselves. Each
is covered by `tests/test_gradio_internals.py`, which fails loudly when an upgrade moves them.
(The image components' `get_block_name` override is Gradio's documented way for a subclass to
reuse a stock frontend, so it stays in components.py.)
"""

from __future__ import annotations

import copy
import datetime
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

from gradio import networking, processing_utils, state_holder
from gradio.blocks import Block
from gradio.components import State
from gradio.exceptions import ComponentProcessingError, Error


def _store(app_or_blocks):
    """Gradio's per-session store: `Blocks.state_holder`, also reachable as `App.state_holder`."""
    return app_or_blocks.state_holder


def session_values(app_or_blocks, session_hash: str) -> Iterator[Any]:
    """The `gr.State` values of one session, read without creating anything for unknown hashes."""
    entry = _store(app_or_blocks).session_data.get(session_hash)
    return iter(entry.state_data.values()) if entry is not None else iter(())


def sessions(app_or_blocks) -> list:
    """Every session Gradio holds now (each has `.is_closed` and `.state_data`)."""
    return list(_store(app_or_blocks).session_data.values())


def is_closed(app_or_blocks, session_hash: str) -> bool:
    entry = _store(app_or_blocks).session_data.get(session_hash)
    return entry is not None and entry.is_closed


def release(app_or_blocks, session_hash: str) -> None:
    """Drop a session's state and its entry (what Gradio does an hour after a tab closes)."""
    holder = _store(app_or_blocks)
    holder.delete_state(session_hash)
    with holder.lock:
        holder.session_data.pop(session_hash, None)


def on_every_event(blocks, seen) -> None:
    """Call `seen(request, session_hash)` as each event (each step of a streaming one) starts: Gradio has
    made or touched that session's state for it, whatever the event is (a page event, a named endpoint, a
    raw REST call, which gets a new session hash each time)."""
    process = blocks.process_api

    async def watched(*args, **kwargs):
        request, session_hash = kwargs.get("request"), kwargs.get("session_hash")
        if session_hash and request is not None and not isinstance(request, list):  # a list: batched, none here
            seen(request, session_hash)
        return await process(*args, **kwargs)

    blocks.process_api = watched


def fill_left_out_inputs(blocks) -> None:
    """Let a call leave out trailing parameters, as gradio_client lets it: they take their components'
    defaults. Gradio would refuse a raw REST call with too few values and print every value it did
    get to the server's log, a visitor's own OpenAI key included."""
    validate = blocks.validate_inputs

    def filled(block_fn, inputs: list) -> None:
        inputs.extend(None if block.stateful else block.value for block in block_fn.inputs[len(inputs):])
        validate(block_fn, inputs)

    blocks.validate_inputs = filled


class _NoBlocks:
    """What `SessionState.__init__` reads of a Blocks, with no blocks whose configs it would copy."""

    def __init__(self, blocks):
        self.default_config, self.blocks = blocks.default_config, {}


class LeanSessionState(state_holder.SessionState):
    """Gradio's per-session state without `config_values`, the copy of every block's config (with
    each output's last value) that Gradio keeps for deep links only, which this app does not offer
    (`/gradio_api/deep_link` answers 404, see ui.py). Gradio builds it for every block of the page
    for each new session (the most CPU a new session costs), again for a block on each update, and
    it kept the last image sent to an API caller there as a `data:` URL."""

    def __init__(self, blocks):
        super().__init__(_NoBlocks(blocks))

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


_LEFT_OUT = object()
_SHOW_HIDE = {"__type__", "visible", "value"}  # the only keys of an update `light_updates` answers itself


class _Seen:
    """An event's BlockFunction with some attributes seen otherwise, for Gradio's own pre/postprocess."""

    def __init__(self, block_fn, **overrides):
        self._block_fn = block_fn
        self.__dict__.update(overrides)

    def __getattr__(self, name: str):
        return getattr(self._block_fn, name)


def light_updates(blocks) -> None:
    """Answer an event's left-out outputs and its show/hide updates without building a component for
    each. For every update dict, `gr.skip()` and each output a handler leaves out of its dict included,
    Gradio constructs a new component (signature inspection, upload-folder lookup and all): about 36
    per generation on this page, 3 ms of CPU per generation with 64 at once (bench/results.md). The page
    receives the same payload; the session's copy of a block shown or hidden is a shallow copy with
    `visible` set and the constructor arguments Gradio's rebuilt copy would have (its config copies
    are gone: `LeanSessionState`). Only for events that skip Gradio's postprocess and return a dict
    keyed by their outputs; anything else, and every other kind of update, is Gradio's own business."""
    postprocess = blocks.postprocess_data

    async def lighter(block_fn, predictions, state):
        if not _answerable(block_fn, predictions, state):
            return await postprocess(block_fn, predictions, state)
        answered, rest = [], {}
        for block in block_fn.outputs:
            value = predictions.get(block, _LEFT_OUT)
            if value is _LEFT_OUT:
                answered.append(None if block.stateful else {"__type__": "update"})  # what gr.skip() sends
            elif not block.stateful and _show_hide(value):
                answered.append(await _shown_or_hidden(block, value, state))
            else:
                answered.append(_LEFT_OUT)
                rest[block] = value
        if rest:
            done = iter(await postprocess(_Seen(block_fn, outputs=list(rest)), rest, state))
            answered = [next(done) if value is _LEFT_OUT else value for value in answered]
        return answered

    blocks.postprocess_data = lighter


def _answerable(block_fn, predictions, state) -> bool:
    if block_fn.postprocess or block_fn.batch or state is None or not isinstance(predictions, dict):
        return False
    outputs = {id(block) for block in block_fn.outputs}
    return len(outputs) == len(block_fn.outputs) and all(
        isinstance(key, Block) and id(key) in outputs for key in predictions)


def _show_hide(value) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update" and value.keys() <= _SHOW_HIDE


async def _shown_or_hidden(block, update: dict, state) -> dict:
    """What Gradio sends for a visibility and/or value update, and the session's copy of the block."""
    answer = {"__type__": "update"}
    if update.get("visible") is not None:
        base = state.get(block._id, block)
        shown = copy.copy(base)
        shown.visible = update["visible"]
        # what the next update rebuilds the block from, as Gradio's rebuilt block would have them
        # (one dict per class of its MRO, the block's own first)
        args = {**base.constructor_args, "visible": shown.visible, "render": False}
        args.pop("value", None)
        shown._constructor_args = [args, *base._constructor_args[1:]]
        state[block._id] = shown
        answer["visible"] = shown.visible
    if "value" in update:
        answer["value"] = update["value"]
    return await processing_utils.async_move_files_to_cache(answer, block, postprocess=True)


def inline_preprocess(blocks) -> None:
    """Preprocess plain inputs (text, numbers, choices: no files) in the event loop. Gradio hands each
    input of each event to a worker thread for its `preprocess` (a check that a choice is one of the
    choices, a number within its bounds), ten thread hops for one Generate, each costing more than the
    check. Errors are raised as Gradio raises them."""
    preprocess = blocks.preprocess_data

    async def inline(block_fn, inputs, state, explicit_call=False):
        if not block_fn.preprocess or block_fn.component_prop_inputs or state is None or any(
                getattr(block, "data_model", None) for block in block_fn.inputs):
            return await preprocess(block_fn, inputs, state, explicit_call)
        values = await preprocess(_Seen(block_fn, preprocess=False), inputs, state, explicit_call)
        return [value if block.stateful else _preprocessed(blocks, block_fn, i, state.get(block._id, block), value)
                for i, (block, value) in enumerate(zip(block_fn.inputs, values, strict=True))]

    blocks.preprocess_data = inline


def _preprocessed(blocks, block_fn, i: int, block, value):
    try:
        return block.preprocess(value)
    except Error:
        raise
    except Exception as err:
        raise ComponentProcessingError(blocks._format_processing_error(
            block_fn, i, block, value, is_input=True, original_error=err)) from err


def skip_absent_matplotlib() -> None:
    """Gradio wraps every step of every event in a context that imports matplotlib (to switch its
    backend). Without matplotlib installed each step searched `sys.path` twice again; Python's own
    marker for an absent module (`None` in `sys.modules`) makes that import fail at once."""
    if "matplotlib" not in sys.modules and importlib.util.find_spec("matplotlib") is None:
        sys.modules["matplotlib"] = None


def lean_sessions() -> None:
    """Every new Gradio session in this process gets a `LeanSessionState` (Gradio's StateHolder makes
    them by this module-level name; this app is the only Gradio app in its process)."""
    state_holder.SessionState = LeanSessionState


def open_tunnel(blocks) -> str:
    """Open Gradio's share tunnel for a launched app; returns the public URL or raises."""
    return networking.setup_tunnel(blocks.server_name, blocks.server_port, blocks.share_token, None, None)
