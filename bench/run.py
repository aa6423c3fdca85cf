"""HITL Image Studio benchmark (issue 6): `python -m bench.run [--latency 2] [--quick]`.

Starts a loopback fake OpenAI server with a fixed latency L and the real app, each in its own
process, plus a bare Gradio app as the floor, then measures side by side in the same run:
overhead, concurrency, first preview, bytes and memory ratios. Prints the table and writes it to
bench/results.md. See bench/README.md for what each number means and how it is measured.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import math
import multiprocessing as mp
import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

# Loopback only, no telemetry, set before gradio / gradio_client are imported here or in children.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "127.0.0.1,localhost"
for _name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
    os.environ.pop(_name, None)

import httpx  # noqa: E402 - after the environment is cleaned above

from bench import capacity, first_visit, flood, loadgen, servers, tabs  # noqa: E402

MIB = 1 << 20
UI_MODULE = "hitl.web.ui"  # --ui-module: a module with build_demo and launch_options, to compare a candidate change
GOALS = {"overhead": 1.05, "concurrency_vs_floor_64": 1.1, "first_preview": 0.35, "bytes": 1.4, "flood": 1.1}


# -- small statistics ----------------------------------------------------------------------------

def pct(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of the finite values."""
    data = sorted(v for v in values if v is not None and math.isfinite(v))
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def fmt(x: float, digits: int = 3) -> str:
    return "n/a" if x is None or math.isnan(x) else f"{x:.{digits}f}"


def verdict(value: float, goal: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "met" if value <= goal else "**missed**"


def log(*parts) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]", *parts, flush=True)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text(encoding="utf-8").splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds of this process and its reaped children (the server processes, once stopped)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def other_load() -> float:
    """Share of the machine (0..1) other processes used in the last minute, roughly: loadavg ÷ cores."""
    return float(Path("/proc/loadavg").read_text(encoding="utf-8").split()[0]) / (os.cpu_count() or 1)


async def wait_quiet(limit: float) -> float:
    """Wait (at most `limit` s) until the 1-minute load average is low; other sessions share this machine."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and other_load() > 0.25:
        await asyncio.sleep(5)
    return other_load()


# -- processes -----------------------------------------------------------------------------------

class Proc:
    def __init__(self, name: str, target, kwargs: dict, start_timeout: float = 180.0,
                 env: dict[str, str] | None = None):
        ctx = mp.get_context("spawn")
        self.name = name
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=target, kwargs={"conn": child, **kwargs}, name=name, daemon=True)
        # The child's environment is this process's at spawn time; some settings (glibc's MALLOC_*)
        # are read when a process starts, so they are set here, just for the spawn.
        saved = {key: os.environ.get(key) for key in env or {}}
        os.environ.update(env or {})
        try:
            self.process.start()
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        deadline = time.monotonic() + start_timeout
        while not self.conn.poll(0.5):
            if not self.process.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{name} did not start (exit code {self.process.exitcode})")
        self.info = self.conn.recv()

    def ask(self, message, timeout: float = 30.0):
        self.conn.send(message)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.name} did not answer")
        return self.conn.recv()

    def stop(self) -> None:
        try:
            self.conn.send("stop")
        except (OSError, BrokenPipeError):
            pass
        self.process.join(15)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


@contextmanager
def started(name: str, target, env: dict[str, str] | None = None, **kwargs):
    proc = Proc(name, target, kwargs, env=env)
    try:
        yield proc
    finally:
        proc.stop()


def app_settings(fake_url: str, partial_images: int, **extra) -> dict:
    # The app's own defaults, except a key, the fake's URL, and rate limits and sessions per address high
    # enough not to refuse (or evict) the benchmark's thousands of sessions and generations from one address
    # (unless `extra` says otherwise: the flood phase's are the app's own).
    return {**dict(api_key=servers.BENCH_KEY, base_url=fake_url, partial_images=partial_images,
                   ip_limit=10**6, session_limit=10**6, sessions_per_address=10**6, call_rate=1e6,
                   call_burst=10**6), **extra}


def start_app(fake_url: str, *, partial_images: int = 2, settings: dict | None = None, launch: dict | None = None,
              env: dict | None = None, latency: float = 0.0, trace_memory: bool = False, kind: str = "hitl"):
    name = f"{kind}-app"
    return started(name, servers.app_main, env=env or {}, kind=kind,
                   settings=app_settings(fake_url, partial_images, **(settings or {})),
                   launch=launch or {}, latency=latency, trace_memory=trace_memory, ui_module=UI_MODULE)


def debug(app: Proc, path: str) -> dict:
    return httpx.get(app.info["debug"] + path, timeout=120).json()




# -- phase 1/2: one generation at a time: overhead, first preview, bytes -------------------------

def raw_sdk(fake: Proc, partial_images: int, prompt: str) -> tuple:
    """An SDK client for the fake and the exact request the app sends (same builder), so a raw
    call and the app do the same work upstream."""
    from openai import AsyncOpenAI

    from hitl.backends.base import ImageRequest
    from hitl.backends.openai_responses import ResponsesBackend
    from hitl.serving.config import load_settings

    settings = load_settings(**app_settings(fake.info["url"], partial_images))
    client = AsyncOpenAI(api_key=servers.BENCH_KEY, base_url=fake.info["url"], max_retries=0, timeout=120)
    return client, ResponsesBackend(client, settings)._arguments(ImageRequest(prompt=prompt))


async def raw_sdk_call(client, arguments: dict, stream: bool) -> tuple[float, float | None]:
    """One raw SDK call to the fake, as the app makes it; returns (total s, first partial s)."""
    start = time.perf_counter()
    first = None
    if not stream:
        response = await client.responses.create(**arguments)
        assert any(getattr(i, "result", None) for i in response.output), "raw call returned no image"
        return time.perf_counter() - start, None
    done = False
    async with await client.responses.create(**arguments, stream=True) as events:
        async for event in events:
            if event.type == "response.image_generation_call.partial_image" and first is None:
                first = time.perf_counter() - start
            elif event.type == "response.completed":
                done = True
                break
    assert done, "raw stream ended without response.completed"
    return time.perf_counter() - start, first


def gradio_client_call(client, prompt: str) -> float:
    start = time.perf_counter()
    try:
        result = client.predict(prompt, api_name="/generate")
        elapsed = time.perf_counter() - start
    finally:
        client.predict(api_name="/start_over")  # untimed: back to the prompt stage for the next sample
    # The named endpoints return (image, revised prompt, candidates, message) to API callers.
    image, message = result[0], result[3]
    if not (isinstance(image, dict) and str(image.get("url", "")).startswith("data:image/")) or message:
        raise RuntimeError(f"gradio_client /generate returned no image (message {message!r}, image {image!r:.80})")
    return elapsed


def image_sizes(result: loadgen.SessionResult, mime: str = "image/png") -> tuple[int, int]:
    """(decoded bytes of the final image, decoded bytes of every distinct upstream image seen).
    Images are noted in the order they arrive, inline or fetched, so the last one in the requested
    format is the final image (thumbnails for the gallery are WebP and not counted)."""
    sizes = [size for kind, size in result.images.values() if kind == mime]
    return (sizes[-1] if sizes else 0), sum(sizes)


async def phase_single(fake: Proc, app: Proc, *, partial_images: int, samples: int, latency: float,
                       image_bytes: int, warmups: int = 2) -> dict:
    from gradio_client import Client

    fake.ask({"latency": latency, "image_bytes": image_bytes})
    url = app.info["url"]
    ep = loadgen.endpoint(url, "generate")
    raw_client, arguments = raw_sdk(fake, partial_images, "bench raw prompt")
    stream = partial_images > 0
    gclient = await asyncio.to_thread(Client, url, verbose=False)
    http = loadgen.new_client()
    timeout = 20 * latency + 60
    out = {"raw": [], "raw_first": [], "gradio_client": [], "light": [], "light_first": [], "light_bytes": [],
           "final_bytes": [], "all_image_bytes": [], "errors": []}
    try:
        for i in range(warmups):  # warm-up: lazy imports, first connections, SDK type construction
            await raw_sdk_call(raw_client, arguments, stream)
            try:
                await asyncio.to_thread(gradio_client_call, gclient, f"warm-up {i}")
            except RuntimeError as exc:
                out["errors"].append(f"warm-up: {exc}")
            await loadgen.run_session(http, ep, ep.data(f"warm-up {i}"), timeout=timeout)
        for i in range(samples):
            total, first = await raw_sdk_call(raw_client, arguments, stream)
            out["raw"].append(total)
            out["raw_first"].append(first)
            gc_time = float("nan")
            try:
                gc_time = await asyncio.to_thread(gradio_client_call, gclient, f"bench {i}")
                out["gradio_client"].append(gc_time)
            except Exception as exc:  # noqa: BLE001 - reported, not hidden
                out["errors"].append(str(exc)[:200])
            result = await loadgen.run_session(http, ep, ep.data(f"bench light {i}"), timeout=timeout, analyze=True)
            if not result.ok:
                out["errors"].append(result.error)
                continue
            final, every = image_sizes(result)
            out["light"].append(result.total)
            out["light_first"].append(result.first_image)
            out["light_bytes"].append(result.bytes_received)
            out["final_bytes"].append(final)
            out["all_image_bytes"].append(every)
            log(f"  sample {i + 1}/{samples}: raw {total:.3f}s  gradio_client {gc_time:.3f}s  "
                f"light {result.total:.3f}s  first image {result.first_image:.3f}s  "
                f"{result.bytes_received / MIB:.2f} MiB received")
    finally:
        await http.aclose()
        await asyncio.to_thread(gclient.close)
        await raw_client.close()
    return out


def summarize_single(s: dict, partial_images: int) -> dict:
    r = {}
    r["raw_p50"], r["raw_p95"] = pct(s["raw"], 50), pct(s["raw"], 95)
    for key in ("gradio_client", "light"):
        r[f"{key}_p50"], r[f"{key}_p95"] = pct(s[key], 50), pct(s[key], 95)
        r[f"overhead_{key}_p50"] = r[f"{key}_p50"] / r["raw_p50"]
        r[f"overhead_{key}_p95"] = r[f"{key}_p95"] / r["raw_p95"]
    if partial_images:
        ratios = [f / t for f, t in zip(s["light_first"], s["light"])]
        r["first_preview_ratio_p50"], r["first_preview_ratio_p95"] = pct(ratios, 50), pct(ratios, 95)
        raw_ratios = [f / t for f, t in zip(s["raw_first"], s["raw"]) if f]
        r["raw_first_preview_ratio_p50"] = pct(raw_ratios, 50)
        r["first_image_p50"] = pct(s["light_first"], 50)
    per = [b / f for b, f in zip(s["light_bytes"], s["final_bytes"]) if f]
    per_all = [b / a for b, a in zip(s["light_bytes"], s["all_image_bytes"]) if a]
    r["bytes_per_final"] = pct(per, 50)
    r["bytes_per_all_images"] = pct(per_all, 50)
    r["bytes_received_p50"] = pct(s["light_bytes"], 50)
    r["final_bytes"] = pct(s["final_bytes"], 50)
    r["all_image_bytes"] = pct(s["all_image_bytes"], 50)
    r["samples"] = len(s["raw"])
    r["errors"] = s["errors"]
    return r


# -- phase 3/4: concurrency against the bare floor -----------------------------------------------

async def phase_concurrency(app: Proc, bare: Proc, fake: Proc, *, ns: list[int], reps: int,
                            latency: float, partial_images: int) -> dict:
    app_ep = loadgen.endpoint(app.info["url"], "generate")  # the page's Generate button
    bare_ep = loadgen.endpoint(bare.info["url"], "generate")
    targets = {"app": (app_ep, lambda i: app_ep.data(f"concurrency prompt {i}")),
               "bare": (bare_ep, lambda i: bare_ep.data(f"concurrency prompt {i}"))}
    walls: dict[str, dict[int, list[float]]] = {name: {n: [] for n in ns} for name in targets}
    lat: dict[str, dict[int, list[float]]] = {name: {n: [] for n in ns} for name in targets}
    errors: dict[str, dict[int, int]] = {name: {n: 0 for n in ns} for name in targets}
    procs = {"app": app, "bare": bare}
    analytics: dict[str, dict[int, list[float]]] = {name: {n: [] for n in ns} for name in targets}
    # CPU seconds per session: the server's own, the fake OpenAI's, and this load generator's.
    cpu: dict[str, dict[int, dict[str, list[float]]]] = {
        name: {n: {"server": [], "fake": [], "loadgen": []} for n in ns} for name in targets}
    samples_err: list[str] = []
    for name, (ep, make) in targets.items():  # warm-up
        await loadgen.run_many(ep, make, 4, timeout=20 * latency + 60)
    client_floor = await gradio_client_floor(bare)
    order = list(targets)
    for n in ns:
        timeout = 20 * latency + 60 + n * 0.5
        for rep in range(reps):
            for name in order:
                ep, make = targets[name]
                a0 = (await asyncio.to_thread(debug, procs[name], "/stats?gc=0"))["analytics"]
                before = (cpu_seconds(procs[name].info["pid"]), cpu_seconds(fake.info["pid"]), time.process_time())
                async with loadgen.new_client() as client:
                    wall, results = await loadgen.run_many(ep, make, n, timeout=timeout, client=client)
                after = (cpu_seconds(procs[name].info["pid"]), cpu_seconds(fake.info["pid"]), time.process_time())
                for key, b, a in zip(("server", "fake", "loadgen"), before, after):
                    cpu[name][n][key].append((a - b) / n)
                a1 = (await asyncio.to_thread(debug, procs[name], "/stats?gc=0"))["analytics"]
                analytics[name][n].append((a1["seconds"] - a0["seconds"]) / n)
                failed = [r for r in results if not r.ok]
                errors[name][n] += len(failed)
                samples_err += [f"{name} N={n}: {r.error}" for r in failed[:3]]
                walls[name][n].append(wall)
                lat[name][n] += [r.total for r in results if r.ok]
                log(f"  {name:4s} N={n:3d} rep {rep + 1}: wall {wall:.3f}s  "
                    f"p50 {pct([r.total for r in results], 50):.3f}s  failed {len(failed)}  CPU ms/session: "
                    f"server {cpu[name][n]['server'][-1] * 1000:.1f} fake {cpu[name][n]['fake'][-1] * 1000:.1f} "
                    f"loadgen {cpu[name][n]['loadgen'][-1] * 1000:.1f}; analytics {analytics[name][n][-1] * 1000:.1f}")
                await asyncio.sleep(0.5)
            order.reverse()  # alternate which goes first
    sdk = await sdk_concurrency(fake, ns=ns, reps=reps, partial_images=partial_images)
    rebuild = {n: (await asyncio.to_thread(debug, app, f"/analytics_cost?events={n}"))["ms"] for n in (1000, 10000)}
    out = {"analytics_rebuild_ms": rebuild, "gradio_client_floor_p50": client_floor, "ns": ns,
           "walls": walls, "errors": errors, "error_samples": samples_err[:10], "ratio": {}, "overhead": {},
           "lat_p50": {}, "lat_p95": {},
           "cpu_ms": {name: {n: {key: 1000 * statistics.median(v) for key, v in cpu[name][n].items()} for n in ns}
                      for name in targets},
           "analytics_ms": {name: {n: 1000 * statistics.median(analytics[name][n]) for n in ns} for name in targets}}
    for name in targets:
        one = statistics.median(walls[name][1])
        out["ratio"][name] = {n: statistics.median(walls[name][n]) / one for n in ns}
        out["lat_p50"][name] = {n: pct(lat[name][n], 50) for n in ns}
        out["lat_p95"][name] = {n: pct(lat[name][n], 95) for n in ns}
    out["overhead"] = {n: out["ratio"]["app"][n] / out["ratio"]["bare"][n] for n in ns}
    out["sdk_ratio"] = {n: statistics.median(sdk[n]) / statistics.median(sdk[1]) for n in ns}
    out["sdk_cpu_ms"] = sdk["cpu_ms"]
    return out


async def gradio_client_floor(bare: Proc, calls: int = 6) -> float:
    """The floor for one gradio_client call: p50 against the bare app, whose handler only sleeps L
    (the first call is a warm-up)."""
    from gradio_client import Client
    gclient = await asyncio.to_thread(Client, bare.info["url"], verbose=False)
    client_floor = []
    try:
        for i in range(calls):
            start = time.perf_counter()
            await asyncio.to_thread(gclient.predict, f"floor {i}", api_name="/generate")
            client_floor.append(time.perf_counter() - start)
    finally:
        await asyncio.to_thread(gclient.close)
    return pct(client_floor[1:], 50)


async def sdk_concurrency(fake: Proc, *, ns: list[int], reps: int, partial_images: int) -> dict:
    """The SDK's own floor: N raw `responses.create` calls at once from one asyncio process (this
    one), with the app's arguments, ÷ one call. The bare app pays no SDK; the app pays both."""
    client, arguments = raw_sdk(fake, partial_images, "bench sdk floor")
    walls: dict = {n: [] for n in ns}
    cpu = []
    try:
        await raw_sdk_call(client, arguments, partial_images > 0)  # warm-up
        for n in ns:
            for _ in range(reps):
                start, cpu0 = time.perf_counter(), time.process_time()
                await asyncio.gather(*(raw_sdk_call(client, arguments, partial_images > 0) for _ in range(n)))
                walls[n].append(time.perf_counter() - start)
                cpu.append((time.process_time() - cpu0) / n)
                log(f"  sdk  N={n:3d}: wall {walls[n][-1]:.3f}s  CPU ms/call {cpu[-1] * 1000:.1f}")
                await asyncio.sleep(0.5)
    finally:
        await client.close()
    walls["cpu_ms"] = 1000 * statistics.median(cpu)
    return walls


# -- phase 5: memory -----------------------------------------------------------------------------

def grace_setting(seconds: int) -> dict:
    """A short closed-tab grace for the memory phase, if this version of the app has one."""
    import dataclasses

    from hitl.serving.config import Settings
    names = {f.name for f in dataclasses.fields(Settings)}
    return {"closed_session_grace": seconds} if "closed_session_grace" in names else {}


async def phase_memory(fake: Proc, app: Proc, *, n: int, latency: float, image_bytes: int,
                       grace: float | None) -> dict:
    url = app.info["url"]
    ep = loadgen.endpoint(url, "generate")
    timeout = 20 * latency + 60 + n
    out: dict = {"n": n, "image_bytes": image_bytes}
    async with loadgen.new_client() as client:
        # Warm-up with tiny images (lazy imports, first SDK client use), in a session that then closes.
        fake.ask({"latency": latency, "image_bytes": 0})
        beats = loadgen.Heartbeats(client, url)
        warm = uuid.uuid4().hex[:12]
        beats.open(warm)
        await beats.wait_connected(10)
        await loadgen.run_session(client, ep, ep.data("memory warm-up"), timeout=timeout, session_hash=warm)
        await beats.close()
        await asyncio.sleep(2)
        fake.ask({"latency": latency, "image_bytes": image_bytes})
        out["baseline"] = await asyncio.to_thread(debug, app, "/stats")

        beats = loadgen.Heartbeats(client, url)
        hashes = [uuid.uuid4().hex[:12] for _ in range(n)]
        for h in hashes:
            beats.open(h)
        out["heartbeats_connected"] = await beats.wait_connected(30)
        results = await asyncio.gather(*(loadgen.run_session(client, ep, ep.data(f"memory {i}"), timeout=timeout,
                                                             session_hash=h) for i, h in enumerate(hashes)))
        out["failed"] = sum(not r.ok for r in results)
        out["open"] = await asyncio.to_thread(debug, app, "/stats")

        await beats.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until Gradio has seen every tab close
            st = await asyncio.to_thread(debug, app, "/stats?gc=0")
            if st["sessions"] == st["closed_sessions"]:
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(0.5)
        out["closed"] = await asyncio.to_thread(debug, app, "/stats")
        out["grace"] = grace
        if grace is not None:  # the app drops a closed tab's session itself after its grace
            deadline = time.monotonic() + grace + 30
            while time.monotonic() < deadline:
                if (await asyncio.to_thread(debug, app, "/stats?gc=0"))["sessions"] <= 1:
                    break
                await asyncio.sleep(1)
            await asyncio.sleep(2)
            out["released"] = await asyncio.to_thread(debug, app, "/stats")
        out["expired_count"] = (await asyncio.to_thread(debug, app, "/expire"))["expired"]
        await asyncio.sleep(3)  # Gradio's cleanup task runs once a second
        out["expired"] = await asyncio.to_thread(debug, app, "/stats")
        out["trim"] = await asyncio.to_thread(debug, app, "/trim")
    return out


# -- report --------------------------------------------------------------------------------------

def code_state() -> str:
    """Which app code is measured: git HEAD, whether hitl/ has uncommitted changes, and a hash of
    hitl/*.py (each server process imports hitl/ when it starts, so a change mid-run shows here)."""
    import hashlib
    import subprocess

    digest = hashlib.sha256()
    for path in sorted((ROOT / "hitl").rglob("*.py")):
        digest.update(path.read_bytes())

    def git(*argv: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, encoding="utf-8", check=False,
                                  timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    head = git("rev-parse", "--short", "HEAD") or "no git"
    dirty = " + uncommitted changes in hitl/" if git("status", "--porcelain", "--", "hitl") else ""
    return f"{head}{dirty}, hitl/*.py sha256 {digest.hexdigest()[:12]}"


def same_code(start: str, end: str) -> bool:
    """Whether hitl/ was the same at both ends of the run (commits elsewhere do not matter)."""
    return start.rsplit("sha256 ", 1)[-1] == end.rsplit("sha256 ", 1)[-1]


def machine() -> dict:
    import gradio
    import openai
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)),
            "python": platform.python_version(), "gradio": gradio.__version__, "openai": openai.__version__,
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "kernel": platform.release()}


# The headline table is data: each Section expands the report's inputs into contexts (one per
# quantile, per N, per memory point, ...) and each of its Rows renders one table row per context,
# in order. A context is a dict, read as attributes too: the inputs (single, nopart, small, conc,
# variants, mems, args, L) plus what the section adds, such as r (the result a row reads), q, n,
# label. Row strings are str.format templates over the context; callables take the context.
# Adding a metric is adding a Row.

class Ctx(dict):
    """What one headline row is rendered from; keys read as attributes too (c.r, c.n)."""

    def __getattr__(self, name: str):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def info(c: Ctx, value) -> tuple[str, str]:
    return "info", ""


def at_most(goal: str, when: Callable[[Ctx], bool] = lambda c: True):
    """The goal `value ≤ GOALS[goal]`, for the contexts `when` picks; for the others 'info'."""
    def check(c: Ctx, value) -> tuple[str, str]:
        return (f"≤ {GOALS[goal]}", verdict(value, GOALS[goal])) if when(c) else info(c, value)
    return check


def near_baseline(c: Ctx, growth: float) -> tuple[str, str]:
    """RSS back near where it started: within 5 MiB, or a tenth of what the open sessions added."""
    return "≈ baseline", "met" if growth <= max(5.0, 0.1 * c.opened) else "**missed**"


@dataclass(frozen=True)
class Row:
    metric: str | Callable[[Ctx], str]
    value: str | Callable[[Ctx], float | str]  # a key of c.r (a template), or c -> number or ready text
    note: str | Callable[[Ctx], str] = ""
    goal: Callable[[Ctx, float], tuple[str, str]] = info  # -> (goal, status)
    shown: str | None = None  # how a number shows, e.g. "{:+.1f} MiB"; default fmt(): 3 digits, n/a for NaN
    when: Callable[[Ctx], bool] = lambda c: True  # which of the section's contexts get this row

    def cells(self, c: Ctx) -> tuple:
        value = c.r[self.value.format_map(c)] if isinstance(self.value, str) else self.value(c)
        shown = value if isinstance(value, str) else self.shown.format(value) if self.shown else fmt(value)
        return (_text(self.metric, c), shown, *self.goal(c, value), _text(self.note, c))


@dataclass(frozen=True)
class Section:
    each: Callable[[Ctx], Iterable[Ctx]]
    rows: list[Row]


def _text(template: str | Callable[[Ctx], str], c: Ctx) -> str:
    return template(c) if callable(template) else template.format_map(c)


def quantiles(name: str):
    """p50 then p95 of one single-generation result, if that phase ran."""
    return lambda c: (Ctx(c, r=c[name], q=q) for q in ("p50", "p95") if c[name])


def whole(name: str):
    """One context for a phase's result, if that phase ran."""
    return lambda c: [Ctx(c, r=c[name])] if c[name] else []


def concurrency_sizes(c: Ctx):
    """Each N > 1 of the default concurrency run."""
    return (Ctx(c, r=c.conc, n=n) for n in (c.conc["ns"] if c.conc else []) if n != 1)


def concurrency_top(c: Ctx):
    """The default concurrency run at its largest N."""
    return [Ctx(c, r=c.conc, top=c.conc["ns"][-1])] if c.conc else []


def variant_sizes(c: Ctx):
    """Each N > 1 of each launch variant."""
    return (Ctx(c, r=r, n=n, label=label) for label, r in c.variants.items() for n in r["ns"] if n != 1)


# The memory phase's points: (key in phase_memory's result, name in the details, name in the headline).
MEMORY_POINTS = [("baseline", "baseline (after a warm-up session)", None), ("open", "sessions open", None),
                 ("closed", "sessions closed", "after all sessions closed"),
                 ("released", "app's grace ({grace} s) passed", "after the app's closed-tab grace ({grace} s here)"),
                 ("expired", "Gradio's closed-session TTL passed (simulated)",
                  "after Gradio's closed-session TTL too (simulated)")]


def memory_points(mem: dict) -> list[tuple[str, str, str | None]]:
    """The points one memory run measured ('released' only with the app's closed-tab grace), names filled in."""
    return [(key, what.format(grace=mem["grace"]), step and step.format(grace=mem["grace"]))
            for key, what, step in MEMORY_POINTS if key != "released" or mem.get("released")]


def memory_steps(c: Ctx):
    """Each point of each memory run, then its malloc_trim(0)."""
    for label, mem in c.mems.items():
        base = mem["baseline"]
        for key, _, step in memory_points(mem) + [("trim", "", None)]:
            yield Ctx(c, r=mem, st=mem[key], point=key, step=step, base=base, n=mem["n"],
                      tag="" if label == "default" else f"[{label}] ",
                      opened=(mem["open"]["rss_kib"] - base["rss_kib"]) / 1024)


def held(st: dict) -> float:
    """Image bytes a /stats point found in Gradio's session store: gr.State + the per-session config."""
    return st["image_bytes_in_state_data"] + st["image_bytes_in_config_values"]


def vs_raw(client: str, tail: str = ""):
    return lambda c: f"app {fmt(c.r[f'{client}_{c.q}'])} s ÷ raw SDK {fmt(c.r[f'raw_{c.q}'])} s{tail}"


def app_bare(c: Ctx, key: str) -> str:
    return f"{fmt(c.r[key]['app'][c.n])} / {fmt(c.r[key]['bare'][c.n])}"


def rss_growth(c: Ctx) -> float:
    return (c.st["rss_kib"] - c.base["rss_kib"]) / 1024


HEADLINE = [
    Section(quantiles("single"), [
        Row("overhead_ratio {q} (gradio_client)", "overhead_gradio_client_{q}", vs_raw("gradio_client"),
            at_most("overhead"))]),
    Section(quantiles("single"), [
        Row("overhead_ratio {q} (light httpx client)", "overhead_light_{q}", vs_raw("light"))]),
    Section(quantiles("nopart"), [
        Row("overhead_ratio {q}, partial images off (gradio_client)", "overhead_gradio_client_{q}",
            vs_raw("gradio_client", " (non-streaming)"), at_most("overhead"))]),
    Section(quantiles("small"), [
        Row("overhead_ratio {q}, tiny images (gradio_client / light client)",
            lambda c: f"{fmt(c.r[f'overhead_gradio_client_{c.q}'])} / {fmt(c.r[f'overhead_light_{c.q}'])}",
            lambda c: "the fake's ~200-byte PNGs: what the app costs apart from moving images; "
                      f"first_preview_ratio {fmt(c.r.get('first_preview_ratio_p50'))}")]),
    Section(concurrency_sizes, [
        Row("concurrency_ratio_{n} app / bare", lambda c: app_bare(c, "ratio"),
            lambda c: "wall(N) ÷ wall(1); " + (f"{failed} failed sessions" if (
                failed := c.r["errors"]["app"][c.n] + c.r["errors"]["bare"][c.n]) else "all sessions ok")),
        Row("concurrency_overhead_{n}", lambda c: c.r["overhead"][c.n], "app ratio ÷ bare ratio"),
        Row("sdk_ratio_{n}", lambda c: c.r["sdk_ratio"][c.n],
            lambda c: f"N raw SDK calls at once from one process ÷ one call ({c.r['sdk_cpu_ms']:.0f} ms CPU per "
                      "call): the SDK's part, which the bare app does not pay; bare × SDK "
                      f"{fmt(c.r['ratio']['bare'][c.n] * c.r['sdk_ratio'][c.n])}"),
        Row("concurrency_vs_floor_{n}", lambda c: c.r["ratio"]["app"][c.n] / (
            c.r["ratio"]["bare"][c.n] * c.r["sdk_ratio"][c.n]),
            "app ratio ÷ (bare ratio × sdk ratio): against the stack's floor, a bare Gradio app × the raw SDK",
            at_most("concurrency_vs_floor_64", when=lambda c: c.n == 64))]),
    Section(concurrency_top, [
        Row("gradio_client floor: bare app ÷ L", lambda c: c.r["gradio_client_floor_p50"] / c.L,
            lambda c: f"gradio_client → a Gradio app whose handler only sleeps L: "
                      f"{fmt(c.r['gradio_client_floor_p50'])} s; the part of overhead_ratio no app can remove"),
        Row("CPU per session at N={top}: app / bare / fake OpenAI",
            lambda c: f"{c.r['cpu_ms']['app'][c.top]['server']:.0f} / {c.r['cpu_ms']['bare'][c.top]['server']:.0f}"
                      f" / {c.r['cpu_ms']['app'][c.top]['fake']:.0f} ms",
            "utime+stime of each process over the run ÷ N; on 2 cores this is what queues"),
        Row("Gradio analytics summary per event at N={top}: app / bare",
            lambda c: f"{c.r['analytics_ms']['app'][c.top]:.1f} / {c.r['analytics_ms']['bare'][c.top]:.1f} ms",
            lambda c: "time inside Queue.compute_analytics_summary (pandas, in a worker thread holding the GIL); "
                      "in a burst most completions find the summary fresh. One rebuild costs "
                      + ", ".join(f"{ms:.1f} ms at {k:,} recorded events"
                                  for k, ms in c.r["analytics_rebuild_ms"].items())
                      + " (default GRADIO_ANALYTICS_CACHE_FREQUENCY=1: after each event when they trickle in)")]),
    Section(variant_sizes, [
        Row("[{label}] concurrency_ratio_{n} app / bare", lambda c: app_bare(c, "ratio"),
            lambda c: f"concurrency_overhead_{c.n} {fmt(c.r['overhead'][c.n])}; "
                      f"CPU/session app {c.r['cpu_ms']['app'][c.n]['server']:.0f} ms, "
                      f"bare {c.r['cpu_ms']['bare'][c.n]['server']:.0f} ms; "
                      f"analytics/event app {c.r['analytics_ms']['app'][c.n]:.1f} ms")]),
    Section(whole("single"), [
        Row("first_preview_ratio p50", "first_preview_ratio_p50",
            lambda c: f"first image {fmt(c.r['first_image_p50'])} s of {fmt(c.r['light_p50'])} s; "
                      f"p95 {fmt(c.r['first_preview_ratio_p95'])}; "
                      f"raw SDK floor {fmt(c.r['raw_first_preview_ratio_p50'])}",
            at_most("first_preview"), when=lambda c: "first_preview_ratio_p50" in c.r),
        Row("bytes_ratio, partial images on (÷ every image delivered)", "bytes_per_all_images",
            lambda c: f"{c.r['bytes_received_p50'] / MIB:.2f} MiB sent ÷ {c.r['all_image_bytes'] / MIB:.2f} MiB "
                      f"of PNGs ({c.args.partial_images} partial + final)", at_most("bytes")),
        Row("bytes_ratio, partial images on (÷ final image only)", "bytes_per_final",
            lambda c: f"÷ {c.r['final_bytes'] / MIB:.2f} MiB final image")]),
    Section(whole("nopart"), [
        Row("bytes_ratio, partial images off", "bytes_per_final",
            lambda c: f"{c.r['bytes_received_p50'] / MIB:.2f} MiB sent ÷ {c.r['final_bytes'] / MIB:.2f} MiB "
                      "final image", at_most("bytes"))]),
    Section(memory_steps, [
        Row(lambda c: f"{c.tag}memory_per_session (RSS growth ÷ {c.n} open sessions, "
                      f"one {c.r['image_bytes'] / MIB:g} MiB image each)", lambda c: c.opened / c.n,
            lambda c: f"RSS {c.base['rss_kib'] / 1024:.0f} → {c.st['rss_kib'] / 1024:.0f} MiB; live image payload "
                      f"per session {(held(c.st) - held(c.base)) / c.n / MIB:.2f} MiB "
                      "(gr.State + Gradio's per-session config copy)",
            shown="{:.2f} MiB", when=lambda c: c.point == "open"),
        Row("{tag}memory {step}", rss_growth,
            lambda c: f"RSS {c.st['rss_kib'] / 1024:.0f} MiB; images still held in Gradio's session store "
                      f"{held(c.st) / MIB:.1f} MiB (gr.State {c.st['image_bytes_in_state_data'] / MIB:.1f}, "
                      f"per-session config {c.st['image_bytes_in_config_values'] / MIB:.1f}); "
                      f"{c.st['closed_sessions']} sessions marked closed, closed-session TTL {c.st['closed_ttl']} s",
            near_baseline, shown="{:+.1f} MiB", when=lambda c: c.step),
        Row("{tag}memory after that + malloc_trim(0)", rss_growth,
            "what glibc gives back when asked: the rest of the growth above was freed memory it kept",
            shown="{:+.1f} MiB", when=lambda c: c.point == "trim")]),
]

def lived(cap: dict | None) -> dict:
    """The capacity runs that came back with their numbers (a run that died has only an error)."""
    return {key: r for key, r in (cap or {}).items() if "error" not in r}


def capacity_runs(c: Ctx):
    """Each capacity run that uses the budget, with the bound its RSS must stay within."""
    for key, r in lived(c.capacity).items():
        if key != "before":
            yield Ctx(c, r=r, key=key, margin=capacity.margin_mib(r["concurrency"]))


def capacity_whole(c: Ctx):
    return [Ctx(c, r=lived(c.capacity), runs=c.capacity)] if c.capacity else []


def within_bound(c: Ctx, growth: float) -> tuple[str, str]:
    limit = c.r["budget_mib"] + c.margin
    return f"≤ budget + margin = {limit:.0f} MiB", "met" if growth <= limit else "**missed**"


def zero(c: Ctx, value) -> tuple[str, str]:
    return "0", "met" if value == 0 else "**missed**"


def per_gib_note(c: Ctx) -> str:
    over = c.r.get("over")
    return ("open pages holding their image ÷ peak RSS growth (GiB)" + (
        f"; with more open pages than the budget holds ({over['window']}): {capacity.per_gib(over):.0f}, "
        f"{over['open_with_image']} pages holding their image" if over else ""))


CAPACITY = [
    Section(capacity_runs, [
        Row(lambda c: f"capacity: peak RSS over baseline, {c.r['sessions']} sessions, {c.r['window']} open pages, "
                      f"{c.r['budget_mib']:g} MiB budget", lambda c: capacity.growth_mib(c.r),
            lambda c: f"VmHWM {c.r['peak_kib'] / 1024:.0f} MiB, baseline {c.r['baseline_kib'] / 1024:.0f} MiB; "
                      f"images held at most {c.r['peak_held'] / MIB:.0f} MiB; {c.r['released']} released, "
                      f"{c.r['refused']} generations refused (admission control) of "
                      f"{capacity.made(c.r) + c.r['refused']}; margin = 64 MiB + a preview in flight per "
                      f"generation ({c.r['concurrency']} × {capacity.HIGH / MIB:g} MiB)",
            within_bound, shown="{:+.0f} MiB")]),
    Section(capacity_whole, [
        Row("capacity: processes that died", lambda c: sum(r["exitcode"] != 0 for r in c.runs.values()),
            lambda c: ", ".join(f"{capacity.RUNS[key]}: exit code {r['exitcode']}" for key, r in c.runs.items()),
            zero, shown="{:d}"),
        Row("capacity: on-screen or approved images lost", lambda c: sum(r["lost"] for r in c.r.values()),
            "checked after every action and at the end, in every run", zero, shown="{:d}"),
        Row("capacity: sessions per GiB, budget / before (no budget)",
            lambda c: " / ".join(f"{capacity.per_gib(c.r[key]):.0f}" for key in ("budget", "before") if key in c.r),
            per_gib_note, when=lambda c: "budget" in c.r),
        Row("capacity before (no budget): peak RSS over baseline", lambda c: capacity.growth_mib(c.r["before"]),
            lambda c: "the same visitors; every candidate of every open page held: it grows with open pages × "
                      f"candidates ({capacity.made(c.r['before'])} images made)",
            shown="{:+.0f} MiB", when=lambda c: "before" in c.r)]),
]
HEADLINE += CAPACITY


def copies(c: Ctx, tab: str) -> float:
    """How many times a tab's stream carried each preview, on average."""
    return c.r[f"{tab}_copies"] / c.r["previews"] if c.r["previews"] else float("nan")


def idle_note(r: dict) -> str:
    def seconds(windows: list[float]) -> str:
        return ", ".join(f"{w:.2f}" for w in windows) + " s"

    quiet_ms = 1000 * statistics.mean(r["quiet_cpu"]) / r["window"]
    return (f"app CPU per {r['window']:g} s window with {r['n']} idle tabs open ({seconds(r['tabs_cpu'])}) − without "
            f"any ({seconds(r['quiet_cpu'])}: the app idles at {quiet_ms:.0f} ms/s), means ÷ tabs ÷ s: "
            f"{r['core_per_tab']:.1e} of one core per tab, {r['core_all_tabs']:.2%} for all {r['n']}; a tab is its "
            f"heartbeat stream, its page load and its page_watch ({r['watching']}/{r['n']} watching to the end)")


def tabs_part(key: str):
    """One context for a part of the tabs phase ("idle" or "previews"), if that phase ran."""
    return lambda c: [Ctx(c, r=c.tabs[key])] if c.tabs else []


TABS = [  # issue 22: how it is shown
    Section(tabs_part("idle"), [
        Row("idle_tab_cpu_ms_per_s", "ms_per_tab_s", lambda c: idle_note(c.r), shown="{:.3f} ms/s"),
        Row("Gradio sessions left once closed idle tabs should be gone", lambda c: c.r["sessions_left"][-1],
            lambda c: f"after each round of {c.r['n']} tabs closed (their heartbeat and watch streams), "
                      f"{tabs.WATCH_PING:g} s for their watches' next ping + the closed-tab grace ({TABS_GRACE} s "
                      f"here) + {tabs.SETTLE:g} s later: " + ", ".join(map(str, c.r["sessions_left"])),
            zero, shown="{:d}")]),
    Section(tabs_part("previews"), [
        Row("second_tab_preview_delay_p50_ms", "delay_p50_ms",
            lambda c: f"per preview, its arrival on a second tab of the session (page_watch) − on the clicking tab; "
                      f"max {fmt(c.r['delay_max_ms'], 1)} ms; {c.r['previews']} previews in {c.r['generations']} "
                      f"generations, {c.r['second_missed']} never reached the second tab",
            shown="{:.1f} ms"),
        Row("preview arrival after the click p50: clicking tab / second tab",
            lambda c: "; ".join(f"#{i + 1} {fmt(one, 0)} / {fmt(two, 0)} ms"
                                for i, (one, two) in enumerate(c.r["after_click_p50_ms"])),
            lambda c: f"preview #k is due k·L/{c.args.partial_images + 1} after the click (L = {c.L:g} s); "
                      f"streams carried each preview {copies(c, 'first'):.2f} / {copies(c, 'second'):.2f} times")]),
]
HEADLINE += TABS


def flood_outcomes(c: Ctx) -> str:
    calls = ", ".join(f"{n} {what}" for what, n in sorted(c.r["outcomes"].items(), key=lambda item: -item[1]))
    return (f"{c.r['calls']} /generate calls from one address past its limit ({c.r['rate']:.0f}/s while flooding, "
            f"{c.r['workers']} at a time, each a new session; every other one starting from a "
            f"{flood.PICTURE_SIDE}×{flood.PICTURE_SIDE} PNG of {c.r['picture_bytes'] / 1024:.0f} KB, the rest "
            f"with a {c.r['prompt_chars'] / MIB:g} Mi-character prompt), each costing the app about "
            f"{fmt(c.r['cpu_ms_per_call'], 0)} ms of CPU: {calls or 'none'}"
            + ("" if c.r["flooder_spent_its_limit"] else "; **the flooder's one generation failed: its limit was "
                                                        "not spent**"))


FLOOD = [  # issue 24: how it is shown
    Section(whole("flood"), [
        Row("flood_ratio p50: a bystander's generation while one address floods ÷ idle", "ratio",
            lambda c: f"{fmt(c.r['flood_p50'])} s ÷ {fmt(c.r['idle_p50'])} s, {c.r['samples']} samples each, "
                      f"interleaved (max {fmt(c.r['flood_max'])} / {fmt(c.r['idle_max'])} s); the app's CPU during "
                      f"them {c.r['flood_cpu']:.0%} / {c.r['idle_cpu']:.0%} of a core; "
                      f"bystander generations that failed: {len(c.r['errors'])}",
            at_most("flood")),
        Row("flood calls not refused", lambda c: c.r["outcomes"].get("not refused", 0), flood_outcomes, zero,
            shown="{:d}")]),
]
HEADLINE += FLOOD

# The details tables, by column: (header, cell of one item).
CONCURRENCY_COLUMNS = [  # items: (one concurrency run, N)
    ("N", lambda r, n: n),
    ("app wall", lambda r, n: fmt(statistics.median(r["walls"]["app"][n]))),
    ("bare wall", lambda r, n: fmt(statistics.median(r["walls"]["bare"][n]))),
    ("app ratio", lambda r, n: fmt(r["ratio"]["app"][n])),
    ("bare ratio", lambda r, n: fmt(r["ratio"]["bare"][n])),
    ("overhead", lambda r, n: fmt(r["overhead"][n])),
    ("app p50/p95", lambda r, n: f"{fmt(r['lat_p50']['app'][n])}/{fmt(r['lat_p95']['app'][n])}"),
    ("bare p50/p95", lambda r, n: f"{fmt(r['lat_p50']['bare'][n])}/{fmt(r['lat_p95']['bare'][n])}"),
    ("CPU ms/session app / bare / fake / load gen",
     lambda r, n: " / ".join(f"{r['cpu_ms'][side][n][key]:.0f}"
                             for side, key in (("app", "server"), ("bare", "server"), ("app", "fake"),
                                               ("app", "loadgen")))),
    ("analytics ms/session app / bare",
     lambda r, n: f"{r['analytics_ms']['app'][n]:.1f} / {r['analytics_ms']['bare'][n]:.1f}"),
    ("failed app/bare", lambda r, n: f"{r['errors']['app'][n]}/{r['errors']['bare'][n]}"),
]
MEMORY_COLUMNS = [  # items: (point name, the app's /stats there)
    ("point", lambda what, st: what),
    ("RSS MiB", lambda what, st: f"{st['rss_kib'] / 1024:.1f}"),
    ("sessions (closed)", lambda what, st: f"{st['sessions']} ({st['closed_sessions']})"),
    ("with gr.State", lambda what, st: st["sessions_with_state"]),
    ("images in gr.State MiB", lambda what, st: f"{st['image_bytes_in_state_data'] / MIB:.1f}"),
    ("images in per-session config MiB", lambda what, st: f"{st['image_bytes_in_config_values'] / MIB:.1f}"),
    ("diff streams MiB", lambda what, st: f"{st['image_bytes_in_pending_diff_streams'] / MIB:.1f}"),
    ("traced MiB", lambda what, st: f"{st.get('traced_current', 0) / MIB:.1f}"),
]


def md_table(headers: list[str], rows: Iterable) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows)]


def columns_table(columns: list, items: Iterable[tuple]) -> list[str]:
    return md_table([header for header, _ in columns], ([cell(*item) for _, cell in columns] for item in items))


def headline_rows(c: Ctx) -> list[tuple]:
    return [row.cells(x) for section in HEADLINE for x in section.each(c) for row in section.rows if row.when(x)]


def _preamble(args, m: dict, elapsed: float) -> list[str]:
    """The report's title and how the run was made."""
    return [
        "# Benchmark results (issue 6)",
        "",
        (f"- Date: {m['date']}; machine: **{m['cores']} cores** ({m['usable_cores']} usable), Python {m['python']}, "
         f"Gradio {m['gradio']}, openai {m['openai']}, Linux {m['kernel']}"),
        f"- App code: {m['code']}" + ("" if same_code(m["code"], m["code_at_end"]) else
                                      f" — **hitl/ changed during the run** (at the end: {m['code_at_end']}); "
                                      "phases started after the change measured different code, rerun"),
        (f"- Other processes on the machine used {m['foreign_share']:.0%} of its CPU during the run "
         f"(load average at start {m['load_at_start'] * m['cores']:.2f}); ratios are measured side by side, "
         "interleaved, so shared noise hits both sides, but the p95s and the concurrency walls feel it."),
        f"- Command: `{args.command}` ({'quick' if args.quick else 'full'} run, {elapsed / 60:.1f} min)",
        (f"- Fake OpenAI latency L = {args.latency} s; {args.partial_images} partial images; single-generation "
         f"phases use {args.image_bytes / MIB:g} MiB images, concurrency uses {args.concurrency_image_bytes} B "
         "images."),
        ("- Load generator: **light async httpx client speaking Gradio's sse_v3 queue protocol** (bench/loadgen.py) "
         "for concurrency, first preview and bytes; overhead_ratio is measured with **gradio_client** "
         "(as the issue asks) and, for comparison, with the light client."),
        ("" if UI_MODULE == "hitl.web.ui"
         else f"- **App built from `{UI_MODULE}`** (a candidate change), not hitl.web.ui.\n")
        + "- Processes: fake OpenAI, app (launched like app.py: "
        "`build_demo(settings).launch(**launch_options(settings))`, both apps with those options), "
        "bare floor app and load generator each in their own process.",
        "",
    ]


def _single_line(result: dict, heading: str) -> str:
    """One 'Single generation' details line: raw SDK, gradio_client and light client p50/p95."""
    return (f"Single generation, {heading}: raw SDK p50 {fmt(result['raw_p50'])} p95 {fmt(result['raw_p95'])}; "
            f"gradio_client p50 {fmt(result['gradio_client_p50'])} p95 {fmt(result['gradio_client_p95'])}; "
            f"light client p50 {fmt(result['light_p50'])} p95 {fmt(result['light_p95'])}."
            + (f" Errors: {result['errors']}" if result["errors"] else ""))


def _concurrency_details(label: str, r: dict) -> list[str]:
    lines = [(f"Concurrency, {label} (median wall of {len(r['walls']['app'][r['ns'][0]])} runs, seconds; "
              f"per-session latency p50/p95):"), ""]
    lines += columns_table(CONCURRENCY_COLUMNS, ((r, n) for n in r["ns"]))
    if r["error_samples"]:
        lines += ["", f"Errors seen: {r['error_samples']}"]
    return lines + [""]


def _memory_details(label: str, mem: dict) -> list[str]:
    lines = [(f"Memory, {label} (app process; image payload = str/bytes ≥ 16 KiB reachable from Gradio's "
              "per-session store `demo.state_holder`; a string referenced from both gr.State and the "
              "per-session config is counted once, under gr.State):"), ""]
    lines += columns_table(MEMORY_COLUMNS, ((what, mem[key]) for key, what, _ in memory_points(mem)))
    lines += ["", (f"After malloc_trim(0): RSS {mem['trim']['rss_kib'] / 1024:.1f} MiB. Heartbeat streams "
                   f"connected: {mem['heartbeats_connected']}/{mem['n']}; failed generations: {mem['failed']}.")]
    top = mem["expired"].get("traced_top")
    if top:
        lines += ["", "Largest live allocations after the simulated TTL (tracemalloc, 4 frames):", ""]
        lines += [f"- {t['kib'] / 1024:.1f} MiB in {t['count']} blocks: `{t['where']}`" for t in top[:5]]
    return lines + [""]


def report(args, m: dict, single: dict | None, nopart: dict | None, small: dict | None, conc: dict | None,
           variants: dict, mems: dict, elapsed: float, cap: dict | None = None, tabs: dict | None = None,
           flood: dict | None = None) -> str:
    """The markdown report: how the run was made, the headline table (HEADLINE), then the details.
    A phase that did not run is None (variants and mems: empty) and leaves its rows out."""
    c = Ctx(args=args, L=args.latency, single=single, nopart=nopart, small=small, conc=conc, variants=variants,
            mems=mems, capacity=cap, tabs=tabs, flood=flood)
    lines = _preamble(args, m, elapsed)
    lines += md_table(["metric", "value", "goal", "status", "how / notes"], headline_rows(c))
    lines += ["", "## Details", ""]
    for result, heading in ((single, "partial images on ({n} samples each, seconds)"),
                            (nopart, "partial images off ({n} samples)")):
        if result:
            lines += [_single_line(result, heading.format(n=result["samples"])), ""]
    for label, r in ([("default launch", conc)] if conc else []) + list(variants.items()):
        lines += _concurrency_details(label, r)
    for label, mem in mems.items():
        lines += _memory_details(label, mem)
    if cap:
        lines += capacity.details(cap, CAPACITY_SVG)
    return "\n".join(lines) + "\n"


# -- main ----------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--latency", type=float, default=2.0, help="fake OpenAI latency L in seconds (default 2)")
    p.add_argument("--quick", action="store_true", help="a ~2 minute smoke run: fewer samples, N ≤ 64, no variants")
    p.add_argument("--samples", type=int, help="single-generation samples per path (default 20, quick 6)")
    p.add_argument("--partial-images", type=int, default=2, help="partial images (app default 2)")
    p.add_argument("--image-bytes", type=int, default=MIB, help="image size for single-generation phases and memory")
    p.add_argument("--concurrency-image-bytes", type=int, default=0,
                   help="image size for the concurrency phase "
                        "(default 0: the fake's tiny PNG, so the queue is measured)")
    p.add_argument("--ns", default=None, help="comma-separated session counts (default 16,64,256; quick 16,64)")
    p.add_argument("--reps", type=int, help="repetitions per concurrency point (default 3, quick 1)")
    p.add_argument("--memory-sessions", type=int, help="sessions in the memory phase (default 64, quick 16)")
    p.add_argument("--memory-grace", type=int, default=5,
                   help="the app's closed_session_grace in the memory phase, seconds (app default 60)")
    p.add_argument("--ui-module", default="hitl.web.ui",
                   help="module providing build_demo and launch_options (default hitl.web.ui); to measure a candidate "
                        "change, put a modified copy on PYTHONPATH and name it here")
    p.add_argument("--tracemalloc", action="store_true",
                   help="trace allocations in the memory phase's app (adds its own memory; off by default)")
    p.add_argument("--memory-env", default="",
                   help="environment for a second memory run, e.g. MALLOC_MMAP_THRESHOLD_=131072")
    p.add_argument("--wait-quiet", type=float, default=0.0,
                   help="first wait up to this many seconds for the machine's load average to drop (shared machines)")
    p.add_argument("--phases", default="single,nopartials,small,concurrency,variants,memory,tabs,capacity,flood,"
                                       "firstvisit",
                   help="comma-separated subset of single,nopartials,small,concurrency,variants,memory,tabs,capacity,"
                        "flood,firstvisit; add 'analytics' for a variant run with "
                        "GRADIO_ANALYTICS_CACHE_FREQUENCY=1000")
    p.add_argument("--flood-samples", type=int, help="bystander generations idle and under the flood, each "
                                                      "(default 8, quick 4)")
    p.add_argument("--flood-workers", type=int, default=32,
                   help="flood calls under way at once (default 32, well under the queue's 256)")
    p.add_argument("--flood-max-calls", type=int, default=20_000, help="flood calls in all, at most (default 20000)")
    p.add_argument("--capacity-sessions", type=int, help="visitors in each capacity run (default 3000, quick 1000)")
    p.add_argument("--capacity-window", type=int, default=150,
                   help="open pages in the capacity run (older ones close), default 150: their images on screen "
                        "and those under way fit the budget")
    p.add_argument("--capacity-over-window", type=int, default=400,
                   help="open pages in the run with more than the budget holds (0: skip it), default 400")
    p.add_argument("--capacity-budget", type=float, default=512, help="HITL_IMAGE_MEMORY_MB there, default 512")
    p.add_argument("--capacity-before", action=argparse.BooleanOptionalAction, default=True,
                   help="also run the capacity visitors with no budget, as before it existed (default on)")
    p.add_argument("--idle-tabs", type=int, default=50, help="open idle tabs in the tabs phase (default 50)")
    p.add_argument("--idle-window", type=float, default=30.0,
                   help="seconds of app CPU measured with and without the idle tabs (default 30: two of the "
                        "watch's 15 s pings, three of Gradio's 10 s stream timeouts)")
    p.add_argument("--idle-rounds", type=int, default=2,
                   help="times the idle tabs open, each window with them between two without (default 2)")
    p.add_argument("--tab-generations", type=int, default=10,
                   help="generations watched by a second tab in the tabs phase (default 10)")
    p.add_argument("--first-visits", type=int, help="empty-cache visits of each page per network (default 5, quick 2)")
    p.add_argument("--out", default=str(HERE / "results.md"), help="where to write the markdown table")
    p.add_argument("--json", default=None, help="also dump raw numbers to this JSON file")
    args = p.parse_args(argv)
    args.samples = args.samples or (5 if args.quick else 16)
    args.flood_samples = args.flood_samples or (4 if args.quick else 8)
    args.reps = args.reps or (1 if args.quick else 3)
    args.memory_sessions = args.memory_sessions or (16 if args.quick else 64)
    args.capacity_sessions = args.capacity_sessions or (1000 if args.quick else 3000)
    args.first_visits = args.first_visits or (2 if args.quick else 5)
    ns = [int(x) for x in (args.ns or ("16,64" if args.quick else "16,64,256")).split(",")]
    args.ns = [1] + [n for n in ns if n != 1]
    args.phases = set(args.phases.split(","))
    if args.quick:
        args.phases -= {"variants", "small"}
    args.command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    return args


async def single_phases(args, fake: Proc) -> dict:
    """The single-generation phases args.phases asks for: {"single" | "nopartials" | "small": summary}."""
    p, n = args.partial_images, max(3, args.samples // 2)
    plans = [  # (phase, log line, partial images, samples, image bytes, warm-ups)
        ("single", f"single generations, {p} partial images, {args.samples} samples", p, args.samples,
         args.image_bytes, 1 if args.quick else 2),
        ("nopartials", f"single generations, partial images off, {n} samples", 0, n, args.image_bytes, 1),
        ("small", f"single generations with the fake's tiny images, {p} partial images, {n} samples", p, n, 0, 1)]
    out = {}
    for phase, what, partial_images, samples, image_bytes, warmups in plans:
        if phase not in args.phases:
            continue
        log(f"phase: {what}")
        with start_app(fake.info["url"], partial_images=partial_images) as app:
            raw = await phase_single(fake, app, partial_images=partial_images, samples=samples,
                                     latency=args.latency, image_bytes=image_bytes, warmups=warmups)
        out[phase] = summarize_single(raw, partial_images)
    return out


async def variant_phases(args, fake: Proc) -> dict:
    """Concurrency again at N in (1, 64, 256) with other launch settings: {label: phase_concurrency result}."""
    L, fake_url = args.latency, fake.info["url"]
    ns = [n for n in args.ns if n in (1, 64, 256)]
    reps = max(1, args.reps - 1)
    uncapped = {"max_threads": 4096}
    chosen = [("launch(max_threads=4096), max_concurrent=4096",
               {"launch": uncapped, "settings": {"max_concurrent": 4096, "queue_size": 4096}},
               {"launch": uncapped})]
    if "analytics" in args.phases:
        chosen.insert(0, ("GRADIO_ANALYTICS_CACHE_FREQUENCY=1000",
                          {"env": {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}},
                          {"env": {"GRADIO_ANALYTICS_CACHE_FREQUENCY": "1000"}}))
    variants = {}
    for label, app_kw, bare_kw in chosen:
        log(f"phase: variant {label}, N={ns}")
        with start_app(fake_url, partial_images=args.partial_images, **app_kw) as app, \
                start_app(fake_url, kind="bare", latency=L, **bare_kw) as bare:
            variants[label] = await phase_concurrency(app, bare, fake, ns=ns, reps=reps, latency=L,
                                                       partial_images=args.partial_images)
    return variants


async def memory_phases(args, fake: Proc) -> dict:
    """The memory phase, and again with --memory-env if given: {label: phase_memory result}."""
    runs = {"default": {}}
    if args.memory_env:
        runs[args.memory_env] = dict(item.split("=", 1) for item in args.memory_env.split(","))
    grace = grace_setting(args.memory_grace)
    mems = {}
    for label, env in runs.items():
        log(f"phase: memory ({label}), {args.memory_sessions} sessions "
            f"with {args.image_bytes / MIB:g} MiB images")
        with start_app(fake.info["url"], partial_images=args.partial_images, trace_memory=args.tracemalloc,
                       env=env, settings=grace) as app:
            mems[label] = await phase_memory(fake, app, n=args.memory_sessions, latency=args.latency,
                                             image_bytes=args.image_bytes,
                                             grace=grace.get("closed_session_grace"))
    return mems


TABS_GRACE = 5  # s: the tabs phase's closed_session_grace (the app's default is 60)


async def tabs_phase(args, fake: Proc) -> dict:
    """Idle tabs' CPU, then previews on a clicking tab and a second tab of its session, in one fresh app
    (with a short closed-tab grace, so closed tabs are gone before the next window)."""
    fake.ask({"latency": args.latency, "image_bytes": args.image_bytes})
    grace = grace_setting(TABS_GRACE)
    with start_app(fake.info["url"], partial_images=args.partial_images, settings=grace) as app:
        url = app.info["url"]
        log(f"phase: tabs, {args.idle_rounds} × {args.idle_tabs} idle tabs for {args.idle_window:g} s, "
            f"between {args.idle_rounds + 1} windows with none")
        idle = await tabs.idle_tabs(url, lambda: cpu_seconds(app.info["pid"]),
                                    lambda: debug(app, "/stats?gc=0")["sessions"], n=args.idle_tabs,
                                    window=args.idle_window, rounds=args.idle_rounds,
                                    grace=grace.get("closed_session_grace", 60))
        log(f"  app CPU s per window: no tabs {idle['quiet_cpu']}, {args.idle_tabs} tabs {idle['tabs_cpu']}; "
            f"{idle['watching']} watching; Gradio sessions after each round closed {idle['sessions_left']}")
        log(f"phase: tabs, {args.tab_generations} generations watched by a second tab")
        previews = await asyncio.to_thread(tabs.two_tab_previews, url, generations=args.tab_generations,
                                           timeout=20 * args.latency + 60)
    return {"idle": {**idle, **tabs.idle_cost(idle)}, "previews": previews}


async def flood_phase(args, fake: Proc) -> dict:
    """A bystander's generation on the idle app and while one address floods it, interleaved, in one fresh
    app with per-address limits on (bench/flood.py)."""
    fake.ask({"latency": args.latency, "image_bytes": args.image_bytes})
    with start_app(fake.info["url"], partial_images=args.partial_images, settings=flood.settings()) as app:
        ep = loadgen.endpoint(app.info["url"], "generate")
        log(f"phase: flood, {args.flood_samples} bystander generations idle and as many under a flood of "
            f"{args.flood_workers} calls at a time")
        with started("flooder", flood.flood_main, **flood.flood_kwargs(ep, args.flood_workers,
                                                                       args.flood_max_calls)) as flooder:
            raw = await flood.measure(ep, flooder, lambda: cpu_seconds(app.info["pid"]),
                                      samples=args.flood_samples, timeout=20 * args.latency + 60)
    result = {**flood.summary(raw), "workers": args.flood_workers, "picture_bytes": flooder.info["picture_bytes"],
              "prompt_chars": flood.GIANT_PROMPT}
    log(f"  bystander p50 idle {result['idle_p50']:.3f} s, flooding {result['flood_p50']:.3f} s "
        f"(ratio {result['ratio']:.3f}); flooder: {result['calls']} calls, {result['outcomes']}")
    return result


CAPACITY_SVG = "capacity.svg"  # written next to the report
NO_BUDGET = 10**7  # MiB: nothing is ever released, as before the budget existed


def capacity_phase(args) -> dict:
    """The capacity runs, each in a fresh process: {"budget" | "over" | "before": capacity.run result}."""
    plans = [("budget", args.capacity_window, args.capacity_budget)]
    if args.capacity_over_window:
        plans.append(("over", args.capacity_over_window, args.capacity_budget))
    if args.capacity_before:
        plans.append(("before", args.capacity_window, NO_BUDGET))
    out = {}
    for key, window, budget in plans:
        log(f"phase: capacity ({capacity.RUNS[key]}), {args.capacity_sessions} visitors, {window} open pages")
        out[key] = capacity.run(sessions=args.capacity_sessions, window=window, budget_mib=budget)
        if "error" in out[key]:
            log(f"capacity run {key}: {out[key]['error']} (exit code {out[key]['exitcode']})")
    return out


async def measure(args, fake: Proc) -> dict:
    """Every phase args.phases asks for, in order, against one fake OpenAI. The keys are the JSON dump's;
    a phase that did not run is None (variants and memory: empty)."""
    L = args.latency
    out: dict = {"single": None, "nopartials": None, "small": None, "concurrency": None, "variants": {},
                 "memory": {}, "tabs": None, "capacity": None, "flood": None, "firstvisit": None}
    out.update(await single_phases(args, fake))
    fake.ask({"latency": L, "image_bytes": args.concurrency_image_bytes})
    if "concurrency" in args.phases:
        log(f"phase: concurrency N={args.ns}, {args.reps} reps, app vs bare floor (the app's launch options)")
        with start_app(fake.info["url"], partial_images=args.partial_images) as app, \
                start_app(fake.info["url"], kind="bare", latency=L) as bare:
            out["concurrency"] = await phase_concurrency(app, bare, fake, ns=args.ns, reps=args.reps, latency=L,
                                                         partial_images=args.partial_images)
    if "variants" in args.phases:
        out["variants"] = await variant_phases(args, fake)
    if "memory" in args.phases:
        out["memory"] = await memory_phases(args, fake)
    if "tabs" in args.phases:
        out["tabs"] = await tabs_phase(args, fake)
    if "capacity" in args.phases:
        out["capacity"] = await asyncio.to_thread(capacity_phase, args)
    if "flood" in args.phases:
        out["flood"] = await flood_phase(args, fake)
    if "firstvisit" in args.phases:
        out["firstvisit"] = await first_visit_phase(args, fake)
    return out


async def first_visit_phase(args, fake: Proc) -> dict:
    """The page's first visit against the bare Gradio page's, both launched alike."""
    log(f"phase: first visit, {args.first_visits} empty-cache visits of each page, loopback and Fast 3G")
    with start_app(fake.info["url"], partial_images=args.partial_images) as app, \
            start_app(fake.info["url"], kind="bare") as bare:
        return await asyncio.to_thread(first_visit.first_visits, app.info["url"], bare.info["url"],
                                       args.first_visits)


async def run(args) -> None:
    m = machine()
    m["code"] = code_state()
    if args.wait_quiet:
        log(f"waiting up to {args.wait_quiet:.0f} s for a quiet machine (load {other_load():.2f} per core)")
        m["load_at_start"] = await wait_quiet(args.wait_quiet)
    else:
        m["load_at_start"] = other_load()
    started_at = time.monotonic()
    busy0, own0 = machine_busy_seconds(), own_seconds()
    log(f"machine: {m['cores']} cores ({m['usable_cores']} usable), Python {m['python']}, Gradio {m['gradio']}")
    with started("fake-openai", servers.fake_main, latency=args.latency, image_bytes=args.image_bytes) as fake:
        log(f"fake OpenAI at {fake.info['url']} (latency {args.latency} s)")
        results = await measure(args, fake)
    elapsed = time.monotonic() - started_at
    m["code_at_end"] = code_state()
    foreign = (machine_busy_seconds() - busy0) - (own_seconds() - own0)
    m["foreign_share"] = max(0.0, foreign) / (elapsed * (os.cpu_count() or 1))
    text = report(args, m, results["single"], results["nopartials"], results["small"], results["concurrency"],
                  results["variants"], results["memory"], elapsed, results["capacity"], results["tabs"],
                  results["flood"])
    if results.get("firstvisit"):
        text += "\n" + first_visit.section(results["firstvisit"])
    print()
    print(text)
    Path(args.out).write_text(text, encoding="utf-8")
    log(f"wrote {args.out}")
    if "budget" in lived(results["capacity"]):
        picture = Path(args.out).parent / CAPACITY_SVG
        picture.write_text(capacity.svg(results["capacity"]), encoding="utf-8")
        log(f"wrote {picture}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, **results}, indent=1, default=str), encoding="utf-8")


def main(argv=None) -> None:
    global UI_MODULE
    args = parse_args(argv)
    UI_MODULE = args.ui_module
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
