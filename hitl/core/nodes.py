"""PocketFlow nodes. Each reads the shared store in `prep`, works in `exec`, writes in `post`.

Guards return "stop" to end a flow with a message in `error_message`; every message a
user sees is written by exactly one node of the current event, so it is never stale.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from dataclasses import asdict, replace
from datetime import datetime, timezone

from pocketflow import AsyncNode

from hitl.backends import SENT_COPIES, ImageRequest
from hitl.backends.errors import describe
from hitl.core.images import thumbnail
from hitl.core.stages import OWNER, REVIEWER, Action, Candidate, Message, StageError, add_candidate, next_stage
from hitl.core.uploads import PictureError, check_mask, check_upload, picture_size
from hitl.core.validation import InputError, check_count, check_options, check_prompt
from hitl.serving.costs import money
from hitl.serving.image_memory import FULL
from hitl.serving.limits import window_wait
from hitl.serving.shared_counters import CountersUnavailable

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


INLINE_CHARS = 2_000  # text cleaned on the event loop up to this length (about 1 ms); longer, in a thread


class ValidateRequest(AsyncNode):
    """Cleans the typed text (a prompt, or Refine's feedback), the options and how many images to make.

    `text`: the shared-store key to read; `into`: where the cleaned text goes; `what`: its name
    in messages ("prompt", "feedback")."""

    def __init__(self, *, text: str, into: str, what: str):
        super().__init__()
        self.text, self.into, self.what = text, into, what

    async def prep_async(self, shared):
        return shared.get(self.text), shared.get("options"), shared.get("count"), shared["settings"].max_prompt_chars

    async def exec_async(self, prep_res):
        text, options, count, max_chars = prep_res
        try:
            if isinstance(text, str) and len(text) > INLINE_CHARS:  # cleaning it takes a while: off the loop
                cleaned = await asyncio.to_thread(check_prompt, text, max_chars, self.what)
            else:
                cleaned = check_prompt(text, max_chars, self.what)
        except InputError as problem:
            return Message(str(problem), self.what)  # fixed where it is typed
        try:
            return cleaned, check_options(options), check_count(count)
        except InputError as problem:
            return Message(str(problem))

    async def post_async(self, shared, prep_res, result):
        if isinstance(result, Message):
            shared["error_message"] = result
            return STOP
        shared[self.into], shared["options"], shared["count"] = result
        return None


# -- pictures sent by the user (Generate from your own image, Edit region) ---------------------------------
class _PictureCheck(AsyncNode):
    """A check of a picture the user sent (`hitl/core/uploads.py`): run off the event loop (decoding is
    work); post puts what it made into `shared[into]`, or stops with what is wrong with the picture."""

    into = ""
    about = ""  # what a refusal's message is about (a Message's `about`)

    @staticmethod
    async def checked(check, *args):
        try:
            return await asyncio.to_thread(check, *args)
        except PictureError as problem:
            return problem

    async def post_async(self, shared, prep_res, result):
        if isinstance(result, PictureError):
            shared["error_message"] = Message(str(result), self.about)
            return STOP
        shared[self.into] = result
        return None


class ValidateUpload(_PictureCheck):
    """Checks the picture a Generate starts from, if any (type sniffed, bytes, pixels, bombs), and
    makes it a version of its own: made_by "upload", free, the parent of what is made from it."""

    into = "upload"
    about = "picture"  # the page shows it beside the picture input

    async def prep_async(self, shared):
        return shared.get("upload_input") or "", shared["input_used_by_process"], shared.get("thumbnails", False)

    async def exec_async(self, prep_res):
        url, prompt, thumbnails = prep_res
        if not url:
            return None
        picture = await self.checked(check_upload, url)
        if isinstance(picture, PictureError):
            return picture
        thumb = await asyncio.to_thread(thumbnail, picture.data) if thumbnails else b""
        return Candidate(picture.data, picture.mime, prompt, thumb=thumb, cost=0.0, made_by="upload")


class ValidateMask(_PictureCheck):
    """Checks Edit region's mask against the candidate on screen: a PNG of its size, under 4 MB,
    with a painted (alpha 0) area."""

    into = "mask"

    async def prep_async(self, shared):
        candidates, selected = shared["candidates"], shared["selected"]
        return shared.get("mask_input") or "", candidates[selected].image

    async def exec_async(self, prep_res):
        url, image = prep_res
        if not url:
            return PictureError("Nothing is painted: switch on Paint a region and brush over the area to change.")
        return await self.checked(lambda: check_mask(url, picture_size(image)))


class CheckLimits(AsyncNode):
    """Per-session and per-address sliding windows, so nobody drains the server's key. They fit who
    pays: the owner on their own machine (`settings.limited` off) and a visitor on their own key
    (`own_key`) are not counted against the server key's limits. The address's window is shared by
    every app process (hitl/serving/shared_counters.py): one atomic take, counted only if the session's allows."""

    async def prep_async(self, shared):
        if not shared["settings"].limited or shared.get("own_key"):
            return None
        return (shared["settings"], shared["generations"], shared["now"], shared["counters"], shared["client_ip"],
                shared["wall_now"], shared.get("count", 1))

    async def exec_async(self, prep_res):
        if prep_res is None:
            return None
        settings, generations, now, counters, client, wall_now, count = prep_res
        generations, wait = window_wait(generations, settings.session_limit, settings.limit_window, now, count)
        if wait <= 0:
            try:
                wait = await counters.take(client, wall_now, count)
            except CountersUnavailable as refusal:
                return generations, str(refusal)
        if wait > 0:
            images = f" for {count} images" if count > 1 else ""
            return generations, f"Generation limit reached{images}. Try again in {math.ceil(wait)} s."
        return generations + [now] * count, None  # each image counts

    async def post_async(self, shared, prep_res, exec_res):
        if exec_res is None:  # not paid for by the server's key, or not on a public server
            return None
        shared["generations"], refusal = exec_res
        if refusal:
            shared["error_message"] = refusal
            return STOP
        return None


class CheckBudget(AsyncNode):
    """Refuses a generation that would pass the visitor's session budget, or one on the server's key
    once its daily budget is spent (counted by all app processes together). Estimates decide before;
    what OpenAI reported is what counts."""

    async def prep_async(self, shared):
        settings, options = shared["settings"], shared["options"]
        each = settings.prices.estimate(options.size, options.quality, settings.image_model, _prompt(shared))
        daily = 0.0 if shared.get("own_key") else settings.daily_budget_usd
        count = shared.get("count", 1)
        estimate = None if each is None else each * count
        return (shared["spent_usd"], shared.get("budget") or 0.0, estimate, count, daily, shared["counters"],
                shared["today"])

    async def exec_async(self, prep_res):
        spent, budget, estimate, count, daily, counters, today = prep_res
        if budget > 0 and estimate is None:  # nothing would ever count against it
            return ("No price is known for this image model, so a session budget cannot be kept. Set it to 0 "
                    "under Advanced to go on without one.")
        try:
            if daily > 0 and await counters.spent(today) >= daily:
                return ("Today's budget for this app's OpenAI key is spent. Enter your own OpenAI key under "
                        "Advanced to keep going: it is used for your requests only.")
        except CountersUnavailable as refusal:
            return str(refusal)
        if budget > 0 and spent + estimate > budget:
            what = f"These {count} images" if count > 1 else "This image"
            return (f"{what} (≈ {money(estimate)}) would take the session past its {money(budget)} budget "
                    f"by {money(spent + estimate - budget)}. Raise the budget under Advanced to go on.")
        return None

    async def post_async(self, shared, prep_res, refusal):
        if refusal:
            shared["error_message"] = refusal
            return STOP
        return None


# The actions whose calls send the candidate on screen along (GenerateImage), and so hold it while they run
# (in_flight).
SENDS_SCREEN = frozenset({Action.REFINE, Action.EDIT_REGION, Action.REMIX})


class GenerateImage(AsyncNode):
    """Asks the image backend for `count` new candidates at once; used by every generating action.

    The calls run side by side, each streaming its own previews (by slot). Those that succeed are kept
    even when others fail; the message then says how many failed and why. Cancel stops them all."""

    def __init__(self, *, action: Action):
        super().__init__()  # one attempt here: hitl.backends.retry is the only retry layer
        self.action = action

    async def prep_async(self, shared):
        refining = self.action in (Action.REFINE, Action.EDIT_REGION)
        remixing = self.action is Action.REMIX  # its instruction is the edited prompt
        candidates, selected = shared["candidates"], shared["selected"]
        on_screen = candidates[selected] if 0 <= selected < len(candidates) else None
        own = shared.get("upload") if self.action is Action.GENERATE else None  # the user's own picture
        request = ImageRequest(
            prompt=_prompt(shared),
            options=shared["options"],
            previous=on_screen if self.action in SENDS_SCREEN else own,
            feedback=shared.get("feedback", "") if refining else "",
            variant=shared["made"],
            mask=shared.get("mask") if self.action is Action.EDIT_REGION else None,
        )
        parent = own or on_screen
        lineage = dict(made_by=self.action.value, parent=parent.key if parent else None,
                       instruction=request.prompt if remixing else request.feedback, options=asdict(request.options))
        requests = [replace(request, variant=request.variant + slot) for slot in range(shared.get("count", 1))]
        return shared["backend"], requests, lineage, shared["on_start"], shared["on_partial"], \
            shared.get("thumbnails", False), shared.get("calls") or contextlib.nullcontext(), shared.get("stop")

    async def exec_async(self, prep_res):
        backend, requests, lineage, on_start, on_partial, thumbnails, calls, stop = prep_res
        on_start()

        async def one(slot: int, request: ImageRequest) -> Candidate:
            async with calls:  # HITL_MAX_CONCURRENT counts image calls, not clicks
                made = await backend.generate(request, lambda preview: on_partial(slot, preview))
            candidate = replace(made, **lineage)
            if thumbnails:
                candidate = replace(candidate, thumb=await asyncio.to_thread(thumbnail, candidate.image))
            on_partial(slot, candidate, ready=True)
            return candidate

        tasks = [asyncio.ensure_future(one(slot, request)) for slot, request in enumerate(requests)]
        await _all_or_stopped(tasks, stop)
        return [STOPPED if task.cancelled() else task.exception() or task.result() for task in tasks]

    async def exec_fallback_async(self, prep_res, exc):
        return [exc]  # turned into a message in post, with the session left as it was

    async def post_async(self, shared, prep_res, results):
        made = [result for result in results if isinstance(result, Candidate)]
        failed = [result for result in results if isinstance(result, BaseException)]
        for failure in failed:
            log.warning("generation failed: %s", type(failure).__name__)
        stopped = results.count(STOPPED)
        if stopped and made:
            failures = (f"Cancelled: {_images(len(made))} that had finished "
                        f"{'is' if len(made) == 1 else 'are'} kept.")
        else:
            failures = _failures(failed, len(results), shared["settings"]) if failed else ""
        # why no previews came, if the backend had to ask without streaming (see OpenAIBackend)
        notice = getattr(prep_res[0], "notice", "")
        if message := " ".join(part for part in (failures, notice) if part):
            shared["error_message"] = message
        if not made:
            return "failed"
        if shared.get("upload"):  # the user's own picture joins the versions, as the new ones' parent
            add_candidate(shared, shared["upload"], shared["settings"].max_candidates)
        for candidate in made:
            await self._keep(shared, candidate)
        shared["input_used_by_process"] = _prompt(shared)  # a Remix's prompt is the one to go on with
        shared["stage"] = next_stage(shared["stage"], self.action)
        shared["undo"] = None  # new work: what an earlier Start Over put aside is let go
        return "done"

    @staticmethod
    async def _keep(shared, candidate: Candidate) -> None:
        add_candidate(shared, candidate, shared["settings"].max_candidates)
        shared["made"] += 1
        shared["spent_usd"] += candidate.cost or 0.0
        if candidate.cost and not candidate.estimated and not shared.get("own_key"):
            await shared["counters"].add_spend(candidate.cost, shared["today"])


def _prompt(shared) -> str:
    """The prompt this event's images are made from: a Remix's edited one (checked), else the session's.
    The session takes a Remix's prompt only once its images came, so a refused or failed one changes nothing."""
    return shared.get("remix_prompt") or shared["input_used_by_process"]


STOPPED = "stopped"  # an image call that Cancel stopped before it finished


async def _all_or_stopped(tasks: list[asyncio.Task], stop: asyncio.Event | None) -> None:
    """Wait for every image call, or until Cancel sets `stop`: the calls still running are cancelled
    then (as they are when the flow itself is cancelled), and the finished ones are kept."""
    stopping = asyncio.ensure_future(stop.wait()) if stop is not None else None
    try:
        pending = set(tasks)
        while pending and not (stop is not None and stop.is_set()):
            _, pending = await asyncio.wait({*pending, *filter(None, [stopping])},
                                            return_when=asyncio.FIRST_COMPLETED)
            pending.discard(stopping)
    finally:
        for task in [*tasks, *filter(None, [stopping])]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # cancelled calls hang up before we go on


def _images(n: int) -> str:
    return "the image" if n == 1 else f"the {n} images"


def _failures(failed: list[BaseException], asked: int, settings) -> str:
    """What went wrong, once per distinct reason; with several images, how many of them failed."""
    reasons = " ".join(dict.fromkeys(describe(failure, settings) for failure in failed))
    if asked == 1:
        return reasons
    how_many = f"All {asked} images failed" if len(failed) == asked else f"{len(failed)} of {asked} images failed"
    return f"{how_many}: {reasons}"


def _unavailable(index, candidates: list[Candidate]) -> str | None:
    """Why candidate `index` cannot be put on screen or approved (None: it can)."""
    if not isinstance(index, int) or not 0 <= index < len(candidates):
        return f"There is no candidate {index}: pick one of the {len(candidates)} shown."
    if candidates[index].released:
        return (f"Candidate #{index + 1} was released to free memory (the server keeps only so many images): "
                "click Regenerate to make a new one.")
    return None


class CheckRoom(AsyncNode):
    """Admission control for the server's image memory (`image_memory`), before the limits: refuses at once
    when even releasing every image nobody is looking at would leave no room for the images to be made and
    the pictures the calls send (`in_flight`). Memory comes back only as sessions close, so a wait of
    seconds would rarely help while holding a generation slot; and a refusal here costs the visitor none of
    their generations. It releases and reserves nothing: a caller the limits refuse next (a flood from an
    address past its limit) must not cost anyone their images. `MakeRoom` does both once the limits allow."""

    def __init__(self, *, action: Action):
        super().__init__()
        self.action = action

    async def prep_async(self, shared):
        count = shared.get("count", 1)
        return shared.get("images"), count, in_flight(shared, self.action, count)  # no images: no budget

    async def exec_async(self, prep_res):
        images, count, sent = prep_res
        return images is None or images.has_room(count, sent)

    async def post_async(self, shared, prep_res, room):
        if not room:
            shared["error_message"] = FULL
            return STOP
        return None


class MakeRoom(CheckRoom):
    """After the limits and the budget, before any picture is decoded or encoded: makes the room `CheckRoom`
    found, releasing the least recently used images nobody is looking at, and reserves it for as long as
    the calls run (the runner hands it back). Refuses only if other events took the room meanwhile (the
    limits may wait on the shared counters), which then costs the generation the limits counted."""

    async def exec_async(self, prep_res):
        images, count, sent = prep_res
        return images.admit(count, sent) if images is not None else 0

    async def post_async(self, shared, prep_res, reserved):
        if reserved is None:
            shared["error_message"] = FULL
            return STOP
        shared["reserved"] = reserved  # the runner hands it back when the event ends
        return None


def in_flight(shared, action: Action, count: int) -> int:
    """Bytes the image calls of `action` hold while they run, beyond the images they make: each call
    encodes the picture it sends (and Edit region's mask) anew (`SENT_COPIES`); a picture of the user's
    own is held decoded as well, and joins the budget's ledger only when the event ends. Sizes are read
    from what is already in memory: the candidate on screen, or a data URL's length (3/4 of it)."""
    if action is Action.GENERATE:
        own = _decoded_size(shared.get("upload_input"))
        return own + int(count * SENT_COPIES * own)
    if action in SENDS_SCREEN:  # a stored response may fall back to the picture
        candidates, selected = shared["candidates"], shared["selected"]
        sent = len(candidates[selected].image) if 0 <= selected < len(candidates) else 0
        if action is Action.EDIT_REGION:
            sent += _decoded_size(shared.get("mask_input"))
        return int(count * SENT_COPIES * sent)
    return 0


def _decoded_size(url) -> int:
    return len(url) * 3 // 4 if isinstance(url, str) else 0


def _pin(shared, candidate: Candidate) -> None:
    """On screen from now on: pinned in the image budget before any other event can release it."""
    if shared.get("images") is not None:  # none when a flow is run on its own
        shared["images"].pin(shared["owner"], candidate.key)


class SelectCandidate(AsyncNode):
    """Puts another candidate from the gallery on screen, unless its image was released to free memory."""

    async def prep_async(self, shared):
        return shared.get("select_index"), shared["candidates"]

    async def post_async(self, shared, prep_res, _):
        index, candidates = prep_res
        if refusal := _unavailable(index, candidates):
            shared["error_message"] = refusal
            return STOP
        shared["selected"] = index
        if shared["compared"] == index:  # the one beside it came on screen: nothing left to compare
            shared["compared"] = -1
        _pin(shared, candidates[index])
        return None


class CompareCandidate(AsyncNode):
    """Shows a candidate side by side with the one on screen (-1, or the one on screen: side by side ends)."""

    async def prep_async(self, shared):
        return shared.get("compare_index"), shared["candidates"]

    async def post_async(self, shared, prep_res, _):
        index, candidates = prep_res
        if index != -1 and (refusal := _unavailable(index, candidates)):
            shared["error_message"] = refusal
            return STOP
        shared["compared"] = -1 if index == shared["selected"] else index
        if shared["compared"] != -1:
            _pin(shared, candidates[index])
        return None


class Approve(AsyncNode):
    """Approves the candidate on screen, or the one named by `approve_index` (either of two compared).
    `by`: who decides, for the log (the owner, or the reviewer through a review link)."""

    def __init__(self, *, action: Action = Action.APPROVE, by: str = OWNER):
        super().__init__()
        self.action, self.by = action, by

    async def prep_async(self, shared):
        index = shared.get("approve_index")
        return shared["selected"] if index is None or index == -1 else index, shared["candidates"]

    async def post_async(self, shared, prep_res, exec_res):
        index, candidates = prep_res
        if refusal := _unavailable(index, candidates):
            shared["error_message"] = refusal
            return STOP
        at = _now()
        shared.update(selected=index, compared=-1, final_result=candidates[index], approved_at=at,
                      stage=next_stage(shared["stage"], self.action),
                      decisions=[*shared["decisions"], _decision("approved", index, candidates[index], at, self.by)])
        return None


class Reopen(AsyncNode):
    """Withdraws the approval and goes back to review with every candidate, the one approved on screen."""

    async def post_async(self, shared, prep_res, exec_res):
        approved, candidates = shared["final_result"], shared["candidates"]
        index = next((i for i, c in enumerate(candidates) if c is approved), shared["selected"])
        shared.update(selected=index, compared=-1, final_result=None, approved_at="",
                      stage=next_stage(shared["stage"], Action.REOPEN),
                      decisions=[*shared["decisions"], _decision("withdrawn", index, approved, _now())])
        return None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _decision(what: str, index: int, candidate: Candidate | None, at: str, by: str = OWNER) -> dict:
    """One line of the decision log: what was decided about which candidate, when, by whom."""
    return {"decision": what, "number": index + 1, "key": candidate.key if candidate else None, "at": at,
            "by": by}


MAX_COMMENT = 1_000  # characters of a reviewer's request for changes: a note, not a prompt
MAX_REQUESTS = 20  # kept per session, newest last


class RequestChanges(AsyncNode):
    """The reviewer asks for changes to the candidate named by `changes_index`: the comment, cleaned like
    every typed text, joins the session's requests (the owner's page shows it) and the decision log."""

    async def prep_async(self, shared):
        return shared.get("changes_index"), shared["candidates"], shared.get("comment")

    async def exec_async(self, prep_res):
        _, _, comment = prep_res
        try:
            return check_prompt(comment if isinstance(comment, str) else None, MAX_COMMENT, "comment")
        except InputError as problem:
            return problem

    async def post_async(self, shared, prep_res, comment):
        index, candidates, _ = prep_res
        if isinstance(comment, InputError) or not isinstance(index, int) or not 0 <= index < len(candidates):
            shared["error_message"] = str(comment) if isinstance(comment, InputError) else STALE
            return STOP
        at, candidate = _now(), candidates[index]
        request = {"key": candidate.key, "number": index + 1, "comment": comment, "at": at}
        shared.update(requests=[*shared["requests"], request][-MAX_REQUESTS:],
                      decisions=[*shared["decisions"], {**_decision("changes requested", index, candidate, at,
                                                                     REVIEWER), "comment": comment}])
        return None


class CheckSeen(AsyncNode):
    """An action from a page acts on what that page showed. A page names the stage it showed and the
    candidates its action was pressed for (`seen`: on screen, beside it, a thumbnail clicked); another
    page of the same session may have moved on since. A candidate still there is acted on by its key,
    wherever it now sits; one that is gone, or a stage that changed, is refused with the current state
    shown instead. Never a different image. No `seen` (the API: one client, one session): nothing to check."""

    def __init__(self, *, into: str = "", parts: tuple[str, ...] = ("picked",)):
        super().__init__()
        # the index input the seen candidate sets ("approve_index", ...), from the first of `parts` seen
        self.into, self.parts = into, parts

    async def prep_async(self, shared):
        return shared.get("seen"), shared["stage"], shared["candidates"]

    async def exec_async(self, prep_res):
        seen, stage, candidates = prep_res
        if not isinstance(seen, dict):
            return None
        if seen.get("stage") != stage.value:
            return STALE
        keys = [c.key for c in candidates]
        found = {}
        for part in ("screen", "beside", "picked"):
            key = seen.get(part)
            if key:
                if key not in keys:
                    return STALE
                found[part] = keys.index(key)
        return found

    async def post_async(self, shared, prep_res, found):
        if found == STALE:
            shared["error_message"] = STALE
            return STOP
        if found is None:
            return None
        if "screen" in found:
            shared["selected"] = found["screen"]
        target = next((found[part] for part in self.parts if part in found), None)
        if self.into and target is not None:
            shared[self.into] = target
        return None


STALE = ("The picture changed in another tab of this session: this is where it stands now. "
         "Look again, then choose.")


# What Start Over clears, and Undo Start Over brings back.
_PUT_ASIDE = ("stage", "input_used_by_process", "candidates", "selected", "made", "final_result", "approved_at",
              "decisions", "requests")


class StartOver(AsyncNode):
    """Clears the work for a new prompt, putting it aside so it can be undone (nothing paid for is lost)."""

    async def post_async(self, shared, prep_res, exec_res):
        if shared["candidates"] or shared["final_result"]:
            shared["undo"] = {key: shared[key] for key in _PUT_ASIDE}
        shared.update(candidates=[], selected=-1, final_result=None, approved_at="", made=0, decisions=[], requests=[],
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
