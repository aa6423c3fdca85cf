"""Every use of Gradio's private internals, in one place (Gradio 6.31).

Gradio has no public API for these: reading a session's state outside an event (the image
route), releasing a closed tab's state sooner than Gradio's hour, listing sessions (the bench),
letting a raw REST call leave out trailing parameters, a leaner per-session state (no deep-link
copies of every block's config), an import Gradio retries on every step, and opening a share
tunnel ourselves. Each
is covered by `tests/test_gradio_internals.py`, which fails loudly when an upgrade moves them.
(The image components' `get_block_name` override is Gradio's documented way for a subclass to
reuse a stock frontend, so it stays in components.py.)
"""

from __future__ import annotations

import datetime
import importlib.util
import sys
from collections.abc import Iterator
from typing import Any

from gradio import networking, state_holder
from gradio.components import State


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
