"""Capacity phase (issue 17): thousands of sessions, several realistic-size images each, under a small
image memory budget; RSS sampled all along.

The app's own runner is driven directly (`hitl.core.runner.run_action` with a real `Runtime`: its
`ImageMemory`, `SessionVault` and flows) in a child process of its own: no Gradio, no HTTP, no
network. What it measures is the image memory policy; Gradio's per-session cost comes on top (the
memory phase measures it). The backend hands back incompressible images of 1.5–3 MiB (random bytes,
the size of OpenAI's 1024² PNGs) with two partial previews each, after a short latency so that
`concurrency` sessions are mid-generation at once. Each visitor generates, regenerates a few times,
sometimes picks an earlier candidate, approves half the time, then leaves the page open; the
oldest open pages close once `window` are open (their state, the page's `gr.State` stand-in and the
vault's copy, is dropped, as Gradio and the vault drop a closed tab's).
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing as mp
import random
import threading
import time
from collections import Counter, OrderedDict
from pathlib import Path

MIB = 1 << 20
LOW, HIGH = 3 * MIB // 2, 3 * MIB  # image sizes: OpenAI's 1024² PNGs are 1.5–3 MB


def status_kib(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS now, VmHWM the peak)."""
    for line in Path("/proc/self/status").read_text(encoding="utf-8").splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak() -> None:
    """Start VmHWM again from the current RSS (Linux ≥ 4.0), so the peak is the load's, not the imports'."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="utf-8")
    except OSError:
        pass


class RandomImages:
    """A backend of incompressible images (random bytes) of realistic size, with partial previews."""

    def __init__(self, seed: int, latency: float, partial_images: int = 2):
        self.rng = random.Random(seed)
        self.pool = self.rng.randbytes(HIGH + 4096)
        self.latency, self.partial_images = latency, partial_images

    def _image(self, size: int) -> bytes:
        start = self.rng.randrange(4096)
        return self.pool[start:start + size]  # a slice is a copy: every image its own bytes

    async def generate(self, request, on_partial):
        from hitl.core.stages import Candidate

        size = self.rng.randint(LOW, HIGH)
        for _ in range(self.partial_images):
            await asyncio.sleep(self.latency / (self.partial_images + 1))
            on_partial(Candidate(self._image(size), prompt=request.prompt))
        await asyncio.sleep(self.latency / (self.partial_images + 1))
        return Candidate(self._image(size), prompt=request.prompt)


class Visitors:
    """The simulated visitors of one run and what they saw."""

    def __init__(self, runtime, window: int, seed: int):
        self.runtime, self.window, self.rng = runtime, window, random.Random(seed)
        self.states: OrderedDict[str, object] = OrderedDict()  # tab -> session, as gr.State holds it
        self.outcomes: Counter[str] = Counter()
        self.lost = 0  # on-screen or approved images found released (must stay 0)
        self.finished = 0

    async def act(self, tab: str, action, **inputs):
        from hitl.core.runner import run_action
        from hitl.serving.image_memory import FULL

        vault = self.runtime.vault
        home = vault.home(tab)  # the last session any of its tabs left, as a page event starts from
        session = home.session if home is not None else self.states[tab]
        async for item in run_action(action, session, self.runtime, options={}, **inputs):
            after = item  # previews are dropped at once, as the page drops one once it is sent
        self.states[tab] = after
        vault.keep(tab, after, time.monotonic())
        message = after.error_message
        self.outcomes[("refused: memory full" if message == FULL else "refused: released" if "released" in message
                       else f"failed: {message[:40]}" if message else f"{action.value} ok")] += 1
        self.check(after)
        return after

    def check(self, session) -> None:
        self.lost += sum(1 for image in (session.shown_image, session.final_result)
                         if image is not None and image.released)

    async def visit(self, number: int) -> None:
        from hitl.core.stages import Action, Session

        tab = f"tab-{number}"
        rng = random.Random(self.rng.random())
        self.states[tab] = self.runtime.vault.open(None, tab, Session(), time.monotonic())[1].session
        wanted = rng.randint(2, 6)  # several candidates: 4 on average
        after = await self.act(tab, Action.GENERATE, task_input=f"visitor {number}")
        for _ in range(wanted - 1 if after.candidates else 0):
            after = await self.act(tab, Action.REGENERATE)
        if after.candidates and rng.random() < 0.3:
            after = await self.act(tab, Action.SELECT, select_index=rng.randrange(len(after.candidates)))
        if after.candidates and rng.random() < 0.5:
            await self.act(tab, Action.APPROVE)
        self.finished += 1
        while len(self.states) > self.window:  # the oldest open page closes
            self.states.popitem(last=False)

    def with_image(self) -> int:
        return sum(1 for session in self.states.values() if session.shown_image is not None)


class Sampler(threading.Thread):
    """RSS every `every` seconds, with the visitors finished by then (a thread: the loop may be busy)."""

    def __init__(self, visitors: Visitors, every: float):
        super().__init__(daemon=True)
        self.visitors, self.every = visitors, every
        self.samples: list[tuple[float, int, int, int]] = []  # (s, RSS KiB, visitors finished, image bytes held)
        self.stop = threading.Event()
        self.start_time = time.monotonic()

    def run(self) -> None:
        while not self.stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        held = self.visitors.runtime.images._held  # a plain int read: no bookkeeping from this thread
        self.samples.append((time.monotonic() - self.start_time, status_kib("VmRSS"), self.visitors.finished, held))


async def simulate(sessions: int, window: int, budget_mib: float, concurrency: int, latency: float,
                   seed: int, every: float) -> dict:
    from hitl.core.runner import Runtime
    from hitl.serving.config import load_settings
    from hitl.serving.memory import return_freed_images_to_the_os

    return_freed_images_to_the_os()  # as app.py does
    settings = load_settings(api_key=None, image_memory_mb=budget_mib, session_limit=10**6, ip_limit=10**6,
                             sessions_per_address=10**6, max_concurrent=concurrency,
                             max_sessions=window)  # the vault keeps no more pages than are open
    runtime = Runtime.create(settings)
    backend = RandomImages(seed, latency)
    runtime.service.backend_for = lambda key: backend
    warm = Visitors(runtime, window=0, seed=seed)
    await asyncio.gather(*(warm.visit(i) for i in range(4)))  # lazy imports, first allocations
    del warm
    gc.collect()
    baseline = status_kib("VmRSS")
    reset_peak()
    visitors = Visitors(runtime, window, seed)
    sampler = Sampler(visitors, every)
    sampler.start()
    gate = asyncio.Semaphore(concurrency)

    async def one(number: int) -> None:
        async with gate:
            await visitors.visit(number)

    started = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(sessions)))
    elapsed = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    sampler.sample()
    for session in visitors.states.values():
        visitors.check(session)
    images = runtime.images
    return {"sessions": sessions, "window": window, "budget_mib": budget_mib, "concurrency": concurrency,
            "latency": latency, "baseline_kib": baseline, "peak_kib": status_kib("VmHWM"),
            "end_kib": status_kib("VmRSS"), "samples": sampler.samples, "elapsed": elapsed,
            "outcomes": dict(visitors.outcomes), "lost": visitors.lost, "open": len(visitors.states),
            "open_with_image": visitors.with_image(), "released": images.released, "refused": images.refused,
            "held_end": images.held, "peak_held": max(s[3] for s in sampler.samples)}


def child_main(conn, **kwargs) -> None:
    import logging
    logging.basicConfig(level=logging.ERROR)  # admission refusals are counted, not logged, here
    conn.send(asyncio.run(simulate(**kwargs)))


def run(*, sessions: int, window: int, budget_mib: float, concurrency: int = 64, latency: float = 0.05,
        seed: int = 17, every: float = 0.05, timeout: float = 900) -> dict:
    """One capacity run in a fresh process; `exitcode` says whether it lived (an OOM kill is -9)."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=child_main, name="capacity", daemon=True, kwargs=dict(
        conn=child, sessions=sessions, window=window, budget_mib=budget_mib, concurrency=concurrency,
        latency=latency, seed=seed, every=every))
    process.start()
    try:
        result = parent.recv() if parent.poll(timeout) else {"error": f"no answer in {timeout:.0f} s"}
    except EOFError:  # it died without a word
        result = {"error": "the process died"}
    process.join(30)
    if process.is_alive():
        process.kill()
        process.join(5)
    return {**result, "exitcode": process.exitcode}


# -- what the report says -------------------------------------------------------------------------

RUNS = {  # key in the phase's result -> how the report names the run
    "budget": "budget",
    "over": "more open pages than the budget holds",
    "before": "before: no budget",
}


def margin_mib(concurrency: int) -> float:
    """What RSS may exceed baseline + budget by: a preview in flight per generation under way (previews
    are not held, so the ledger does not count them) and 64 MiB for Python's own objects and the allocator."""
    return 64 + concurrency * HIGH / MIB


def growth_mib(r: dict) -> float:
    return (r["peak_kib"] - r["baseline_kib"]) / 1024


def per_gib(r: dict) -> float:
    """Open pages holding their image (on screen or approved) ÷ the peak RSS growth, in GiB."""
    return r["open_with_image"] / (growth_mib(r) / 1024) if growth_mib(r) > 0 else float("nan")


def made(r: dict) -> int:
    return sum(n for outcome, n in r["outcomes"].items() if outcome in ("generate ok", "regenerate ok"))


DETAIL_COLUMNS = [  # (header, cell of one run)
    ("run", lambda key, r: RUNS[key]),
    ("sessions / open pages", lambda key, r: f"{r['sessions']} / {r['window']}"),
    ("budget MiB", lambda key, r: "none" if key == "before" else f"{r['budget_mib']:g}"),
    ("images made / released / refused", lambda key, r: f"{made(r)} / {r['released']} / {r['refused']}"),
    ("RSS baseline → peak MiB", lambda key, r: f"{r['baseline_kib'] / 1024:.0f} → {r['peak_kib'] / 1024:.0f}"),
    ("images held at most MiB", lambda key, r: f"{r['peak_held'] / MIB:.0f}"),
    ("open pages with their image", lambda key, r: r["open_with_image"]),
    ("sessions per GiB", lambda key, r: f"{per_gib(r):.0f}"),
    ("lost", lambda key, r: r["lost"]),
    ("exit", lambda key, r: r["exitcode"]),
    ("seconds", lambda key, r: f"{r['elapsed']:.0f}"),
]


def details(cap: dict, svg_name: str) -> list[str]:
    runs = [(key, cap[key]) for key in RUNS if key in cap and "error" not in cap[key]]
    if not runs:
        return []
    lines = [(f"Capacity (the runner driven directly in its own process, no Gradio: see bench/README.md; "
              f"{runs[0][1]['concurrency']} sessions at once, images of {LOW / MIB:g}–{HIGH / MIB:g} MiB, "
              f"latency {runs[0][1]['latency']} s, 2 previews each; RSS curve: [{svg_name}]({svg_name})):"), "",
             "| " + " | ".join(header for header, _ in DETAIL_COLUMNS) + " |", "|" + "---|" * len(DETAIL_COLUMNS)]
    lines += ["| " + " | ".join(str(cell(key, r)) for _, cell in DETAIL_COLUMNS) + " |" for key, r in runs]
    outcomes = "; ".join(f"{RUNS[key]}: " + ", ".join(f"{name} {n}" for name, n in sorted(r["outcomes"].items()))
                         for key, r in runs)
    return lines + ["", f"Outcomes of the visitors' actions: {outcomes}.", ""]


def svg(cap: dict, width: int = 720, height: int = 360) -> str:
    """The RSS curves over visitors finished, one per run, with the bound (a hand-written SVG)."""
    runs = [(key, cap[key]) for key in RUNS if key in cap and "error" not in cap[key]]
    colours = {"budget": "#2563eb", "over": "#059669", "before": "#dc2626"}
    left, right, top, bottom = 64, 16, 28, 44
    xmax = max(r["sessions"] for _, r in runs)
    budget = cap["budget"]
    bound = budget["baseline_kib"] / 1024 + budget["budget_mib"] + margin_mib(budget["concurrency"])
    ymax = max([bound] + [s[1] / 1024 for _, r in runs for s in r["samples"]]) * 1.05

    def x(v: float) -> float:
        return left + v / xmax * (width - left - right)

    def y(v: float) -> float:
        return height - bottom - v / ymax * (height - top - bottom)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
             f'font-size="11"><rect width="{width}" height="{height}" fill="white"/>',
             f'<text x="{left}" y="16" font-size="13">RSS of the capacity runs (MiB) over visitors finished</text>']
    step = 10 ** max(0, len(str(int(ymax))) - 1)
    step = step // 2 if ymax / step < 4 else step
    for tick in range(0, int(ymax) + 1, step):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e5e7eb"/>'
                     f'<text x="{left - 6}" y="{y(tick) + 4:.1f}" text-anchor="end">{tick}</text>')
    for tick in range(0, xmax + 1, max(1, xmax // 6)):
        parts.append(f'<text x="{x(tick):.1f}" y="{height - bottom + 16}" text-anchor="middle">{tick}</text>')
    parts.append(f'<text x="{(left + width) / 2}" y="{height - 8}" text-anchor="middle">visitors finished</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(bound):.1f}" y2="{y(bound):.1f}" stroke="#111827" '
                 f'stroke-dasharray="6 4"/><text x="{width - right}" y="{y(bound) - 4:.1f}" text-anchor="end">'
                 f'baseline + budget + margin</text>')
    for i, (key, r) in enumerate(runs):
        points = " ".join(f"{x(s[2]):.1f},{y(s[1] / 1024):.1f}" for s in r["samples"])
        parts.append(f'<polyline fill="none" stroke="{colours[key]}" stroke-width="1.5" points="{points}"/>')
        parts.append(f'<text x="{left + 8}" y="{top + 14 * (i + 1)}" fill="{colours[key]}">{RUNS[key]} '
                     f'({r["window"]} open pages)</text>')
    return "\n".join(parts + ["</svg>"]) + "\n"
