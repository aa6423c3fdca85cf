"""PocketFlow nodes. Each reads the shared store in `prep`, works in `exec`, writes in `post`.

Guards return "stop" to end a flow with a message in `error_message`; every message a
user sees is written by exactly one node of the current event, so it is never stale.
"""

from __future__ import annotations

import asyncio
import logging
import math
from datetime import datetime, timezone
from dataclasses import asdict, replace

from pocketflow import AsyncNode

from .backends import ImageRequest
from .costs import money
from .errors import describe
from .image_memory import FULL
from .images import thumbnail
from .limits import window_wait
from .stages import Action, StageError, add_candidate, next_stage
from .validation import InputError, check_options, check_prompt

log = logging.getLogger(__name__)

STOP = "stop"


class CheckStage(AsyncNode):
    """Refuses actions the current stage does not allow, before any work is done."""

    def __init__(self, *, action: Action):
        super().__init__()
        self.action = action

    async def prep_async(self, shared):
        shared["error_message"] = ""
        return shared["stage"]

    async def exec_async(self, stage):
        try:
            next_stage(stage, self.action)
        except StageError as refusal:
            return str(refusal)
        return None

    async def post_async(self, shared, stage, refusal):
        if refusal:
            shared["error_message"] = refusal
            return STOP
        return None


class ValidateRequest(AsyncNode):
    """Cleans the typed text (a prompt, or Refine's feedback) and the options.

    `text`: the shared-store key to read; `into`: where the cleaned text goes; `what`: its name
    in messages ("prompt", "feedback")."""

    def __init__(self, *, text: str, into: str, what: str):
        super().__init__()
        self.text, self.into, self.what = text, into, what

    async def prep_async(self, shared):
        return shared.get(self.text), shared.get("options"), shared["settings"].max_prompt_chars

    async def exec_async(self, prep_res):
        text, options, max_chars = prep_res
        try:
            return check_prompt(text, max_chars, self.what), check_options(options)
        except InputError as problem:
            return problem

    async def post_async(self, shared, prep_res, result):
        if isinstance(result, InputError):
            shared["error_message"] = str(result)
            return STOP
        shared[self.into], shared["options"] = result
        return None


class CheckLimits(AsyncNode):
    """Per-session and per-address sliding windows, so nobody drains the server's key. They fit who
    pays: the owner on their own machine (`settings.limited` off) and a visitor on their own key
    (`own_key`) are not counted against the server key's limits."""

    async def prep_async(self, shared):
        if not shared["settings"].limited or shared.get("own_key"):
            return None
        return shared["settings"], shared["generations"], shared["limiter"], shared["client_ip"], shared["now"]

    async def exec_async(self, prep_res):
        if prep_res is None:
            return None
        settings, generations, limiter, client, now = prep_res
        generations, session_wait = window_wait(generations, settings.session_limit, settings.limit_window, now)
        wait = max(session_wait, limiter.wait(client, now))
        return generations, wait

    async def post_async(self, shared, prep_res, exec_res):
        if exec_res is None:  # not paid for by the server's key, or not on a public server
            return None
        generations, wait = exec_res
        shared["generations"] = generations
        if wait > 0:
            shared["error_message"] = f"Generation limit reached. Try again in {math.ceil(wait)} s."
            return STOP
        now, limiter, client = shared["now"], shared["limiter"], shared["client_ip"]
        shared["generations"] = generations + [now]
        limiter.record(client, now)
        return None


class CheckBudget(AsyncNode):
    """Refuses a generation that would pass the visitor's session budget, or one on the server's key
    once its daily budget is spent. Estimates decide before; what OpenAI reported is what counts."""

    async def prep_async(self, shared):
        settings, options = shared["settings"], shared["options"]
        estimate = settings.prices.estimate(options.size, options.quality, settings.image_model,
                                            shared["input_used_by_process"]) or 0.0
        server_spent = not shared.get("own_key") and shared["daily_spend"].exhausted(shared["today"])
        return shared["spent_usd"], shared.get("budget") or 0.0, estimate, server_spent

    async def exec_async(self, prep_res):
        spent, budget, estimate, server_spent = prep_res
        if server_spent:
            return ("Today's budget for this app's OpenAI key is spent. Enter your own OpenAI key under "
                    "Advanced to keep going: it is used for your requests only.")
        if budget > 0 and spent + estimate > budget:
            return (f"This image (≈ {money(estimate)}) would take the session past its {money(budget)} budget "
                    f"by {money(spent + estimate - budget)}. Raise the budget under Advanced to go on.")
        return None

    async def post_async(self, shared, prep_res, refusal):
        if refusal:
            shared["error_message"] = refusal
            return STOP
        return None


class GenerateImage(AsyncNode):
    """Asks the image backend for a new candidate; used by Generate, Regenerate and Refine."""

    def __init__(self, *, action: Action):
        super().__init__()  # one attempt here: hitl.retry is the only retry layer
        self.action = action

    async def prep_async(self, shared):
        refining = self.action is Action.REFINE
        candidates, selected = shared["candidates"], shared["selected"]
        on_screen = candidates[selected] if 0 <= selected < len(candidates) else None
        request = ImageRequest(
            prompt=shared["input_used_by_process"],
            options=shared["options"],
            previous=on_screen if refining else None,
            feedback=shared.get("feedback", "") if refining else "",
            variant=shared["made"],
        )
        lineage = dict(made_by=self.action.value, parent=on_screen.key if on_screen else None,
                       instruction=request.feedback, options=asdict(request.options))
        return shared["backend"], request, lineage, shared["on_start"], shared["on_partial"], \
            shared.get("thumbnails", False)

    async def exec_async(self, prep_res):
        backend, request, lineage, on_start, on_partial, thumbnails = prep_res
        on_start()
        candidate = replace(await backend.generate(request, on_partial), **lineage)
        if not thumbnails:
            return candidate
        return replace(candidate, thumb=await asyncio.to_thread(thumbnail, candidate.image))

    async def exec_fallback_async(self, prep_res, exc):
        return exc  # turned into a message in post, with the session left as it was

    async def post_async(self, shared, prep_res, result):
        if isinstance(result, BaseException):
            log.warning("generation failed: %s", type(result).__name__)
            shared["error_message"] = describe(result, shared["settings"])
            return "failed"
        add_candidate(shared, result, shared["settings"].max_candidates)
        shared["made"] += 1
        shared["spent_usd"] += result.cost or 0.0
        if result.cost and not result.estimated and not shared.get("own_key"):
            shared["daily_spend"].record(result.cost, shared["today"])
        shared["stage"] = next_stage(shared["stage"], self.action)
        shared["undo"] = None  # new work: what an earlier Start Over put aside is let go
        return "done"


class MakeRoom(AsyncNode):
    """Admission control for the server's image memory (`image_memory`): makes room for the image about
    to be made, releasing the least recently used images nobody is looking at. When only images on
    screen or approved are left, the generation is refused at once: memory comes back only as sessions
    close, so a wait of seconds would rarely help while holding a generation slot. Before the limits,
    so a refusal costs the visitor none of their generations."""

    async def prep_async(self, shared):
        return shared.get("images")  # none when a flow is run on its own (no server, no budget)

    async def exec_async(self, images):
        return images.admit() if images is not None else 0

    async def post_async(self, shared, images, reserved):
        if reserved is None:
            shared["error_message"] = FULL
            return STOP
        shared["reserved"] = reserved  # the runner hands it back when the event ends
        return None


class SelectCandidate(AsyncNode):
    """Puts another candidate from the gallery on screen, unless its image was released to free memory."""

    async def prep_async(self, shared):
        return shared.get("select_index"), shared["candidates"]

    async def post_async(self, shared, prep_res, _):
        index, candidates = prep_res
        if not isinstance(index, int) or not 0 <= index < len(candidates):
            shared["error_message"] = f"There is no candidate {index}: pick one of the {len(candidates)} shown."
            return STOP
        if candidates[index].released:
            shared["error_message"] = (f"Candidate #{index + 1} was released to free memory (the server keeps "
                                       "only so many images): click Regenerate to make a new one.")
            return STOP
        shared["selected"] = index
        if shared.get("images") is not None:  # on screen from now on: pinned before any other event can release it
            shared["images"].pin(shared["owner"], candidates[index].key)
        return None


class Approve(AsyncNode):
    async def post_async(self, shared, prep_res, exec_res):
        shared["final_result"] = shared["candidates"][shared["selected"]]
        shared["approved_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
        shared["stage"] = next_stage(shared["stage"], Action.APPROVE)


# What Start Over clears, and Undo Start Over brings back.
_PUT_ASIDE = ("stage", "input_used_by_process", "candidates", "selected", "made", "final_result", "approved_at")


class StartOver(AsyncNode):
    """Clears the work for a new prompt, putting it aside so it can be undone (nothing paid for is lost)."""

    async def post_async(self, shared, prep_res, exec_res):
        if shared["candidates"] or shared["final_result"]:
            shared["undo"] = {key: shared[key] for key in _PUT_ASIDE}
        shared.update(candidates=[], selected=-1, final_result=None, approved_at="", made=0,
                      stage=next_stage(shared["stage"], Action.START_OVER))


class UndoStartOver(AsyncNode):
    """Brings back what the last Start Over put aside: the stage, the candidates, the approval."""

    async def post_async(self, shared, prep_res, exec_res):
        if not shared["undo"]:
            shared["error_message"] = "There is nothing to undo: no Start Over since the last Generate."
            return STOP
        shared.update(shared["undo"], undo=None)
        return None


class Halt(AsyncNode):
    """Where a guard's "stop" leads, so a flow ends on purpose rather than by a missing edge."""
