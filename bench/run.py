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
from contextlib import contextmanager
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

from bench import loadgen, servers  # noqa: E402

MIB = 1 << 20
UI_MODULE = "hitl.ui"  # --ui-module: a module with build_demo and launch_options, to compare a candidate change
GOALS = {"overhead": 1.05, "concurrency_overhead_64": 1.1, "first_preview": 0.35, "bytes": 1.4}


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
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (/proc/stat: everything but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    """CPU seconds of this process and its reaped children (the server processes, once stopped)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def other_load() -> float:
    """Share of the machine (0..1) other processes used in the last minute, roughly: loadavg ÷ cores."""
    return float(Path("/proc/loadavg").read_text().split()[0]) / (os.cpu_count() or 1)


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
    # The app's own defaults, except a key, the fake's URL, and rate limits high enough not to refuse
    # the benchmark's thousands of generations from one address.
    return dict(api_key=servers.BENCH_KEY, base_url=fake_url, partial_images=partial_images,
                ip_limit=10**6, session_limit=10**6, **extra)


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
    from hitl.config import load_settings

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
    pids = {"app": app.info["pid"], "bare": bare.info["pid"]}
    procs = {"app": app, "bare": bare}
    analytics: dict[str, dict[int, list[float]]] = {name: {n: [] for n in ns} for name in targets}
    # CPU seconds per session: the server's own, the fake OpenAI's, and this load generator's.
    cpu: dict[str, dict[int, dict[str, list[float]]]] = {
        name: {n: {"server": [], "fake": [], "loadgen": []} for n in ns} for name in targets}
    samples_err: list[str] = []
    for name, (ep, make) in targets.items():  # warm-up
        await loadgen.run_many(ep, make, 4, timeout=20 * latency + 60)
    # The floor for one gradio_client call: the bare app's handler only sleeps L.
    from gradio_client import Client
    gclient = await asyncio.to_thread(Client, bare.info["url"], verbose=False)
    client_floor = []
    try:
        for i in range(6):
            start = time.perf_counter()
            await asyncio.to_thread(gclient.predict, f"floor {i}", api_name="/generate")
            client_floor.append(time.perf_counter() - start)
    finally:
        await asyncio.to_thread(gclient.close)
    order = list(targets)
    for n in ns:
        timeout = 20 * latency + 60 + n * 0.5
        for rep in range(reps):
            for name in order:
                ep, make = targets[name]
                a0 = (await asyncio.to_thread(debug, procs[name], "/stats?gc=0"))["analytics"]
                before = (cpu_seconds(pids[name]), cpu_seconds(fake.info["pid"]), time.process_time())
                async with loadgen.new_client() as client:
                    wall, results = await loadgen.run_many(ep, make, n, timeout=timeout, client=client)
                after = (cpu_seconds(pids[name]), cpu_seconds(fake.info["pid"]), time.process_time())
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
    out = {"analytics_rebuild_ms": rebuild, "gradio_client_floor_p50": pct(client_floor[1:], 50), "ns": ns,
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

    from hitl.config import Settings
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
            return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=False,
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



def _single_line(result: dict, heading: str) -> str:
    """One 'Single generation' details line: raw SDK, gradio_client and light client p50/p95."""
    return (f"Single generation, {heading}: raw SDK p50 {fmt(result['raw_p50'])} p95 {fmt(result['raw_p95'])}; "
            f"gradio_client p50 {fmt(result['gradio_client_p50'])} p95 {fmt(result['gradio_client_p95'])}; "
            f"light client p50 {fmt(result['light_p50'])} p95 {fmt(result['light_p95'])}."
            + (f" Errors: {result['errors']}" if result["errors"] else ""))

def report(args, m: dict, single: dict | None, nopart: dict | None, small: dict | None, conc: dict | None,
           variants: dict, mems: dict, elapsed: float) -> str:
    L = args.latency
    rows: list[tuple[str, str, str, str, str]] = []

    def row(metric, value, goal="", status="", note=""):
        rows.append((metric, value, goal, status, note))

    if single:
        g = GOALS["overhead"]
        for q in ("p50", "p95"):
            v = single[f"overhead_gradio_client_{q}"]
            row(f"overhead_ratio {q} (gradio_client)", fmt(v), f"≤ {g}", verdict(v, g),
                f"app {fmt(single[f'gradio_client_{q}'])} s ÷ raw SDK {fmt(single[f'raw_{q}'])} s")
        for q in ("p50", "p95"):
            v = single[f"overhead_light_{q}"]
            row(f"overhead_ratio {q} (light httpx client)", fmt(v), "info", "",
                f"app {fmt(single[f'light_{q}'])} s ÷ raw SDK {fmt(single[f'raw_{q}'])} s")
    if nopart:
        for q in ("p50", "p95"):
            v = nopart[f"overhead_gradio_client_{q}"]
            row(f"overhead_ratio {q}, partial images off (gradio_client)", fmt(v), f"≤ {GOALS['overhead']}",
                verdict(v, GOALS["overhead"]),
                f"app {fmt(nopart[f'gradio_client_{q}'])} s ÷ raw SDK {fmt(nopart[f'raw_{q}'])} s (non-streaming)")
    if small:
        for q in ("p50", "p95"):
            row(f"overhead_ratio {q}, tiny images (gradio_client / light client)",
                f"{fmt(small[f'overhead_gradio_client_{q}'])} / {fmt(small[f'overhead_light_{q}'])}", "info", "",
                f"the fake's ~200-byte PNGs: what the app costs apart from moving images; "
                f"first_preview_ratio {fmt(small.get('first_preview_ratio_p50'))}")
    if conc:
        for n in conc["ns"]:
            if n == 1:
                continue
            v = conc["overhead"][n]
            goal = f"≤ {GOALS['concurrency_overhead_64']}" if n == 64 else "info"
            status = verdict(v, GOALS["concurrency_overhead_64"]) if n == 64 else ""
            fails = conc["errors"]["app"][n] + conc["errors"]["bare"][n]
            ratios = f"{fmt(conc['ratio']['app'][n])} / {fmt(conc['ratio']['bare'][n])}"
            row(f"concurrency_ratio_{n} app / bare", ratios,
                "info", "", "wall(N) ÷ wall(1); " + (f"{fails} failed sessions" if fails else "all sessions ok"))
            row(f"concurrency_overhead_{n}", fmt(v), goal, status, "app ratio ÷ bare ratio")
            sdk = conc["sdk_ratio"][n]
            row(f"sdk_ratio_{n}", fmt(sdk), "info", "",
                f"N raw SDK calls at once from one process ÷ one call ({conc['sdk_cpu_ms']:.0f} ms CPU per call): "
                f"the SDK's part, which the bare app does not pay; bare × SDK {fmt(conc['ratio']['bare'][n] * sdk)}")
        floor = conc["gradio_client_floor_p50"]
        row("gradio_client floor: bare app ÷ L", fmt(floor / L), "info", "",
            f"gradio_client → a Gradio app whose handler only sleeps L: {fmt(floor)} s; the part of "
            "overhead_ratio no app can remove")
        top = conc["ns"][-1]
        cpu = conc["cpu_ms"]
        row(f"CPU per session at N={top}: app / bare / fake OpenAI", f"{cpu['app'][top]['server']:.0f} / "
            f"{cpu['bare'][top]['server']:.0f} / {cpu['app'][top]['fake']:.0f} ms", "info", "",
            "utime+stime of each process over the run ÷ N; on 2 cores this is what queues")
        an = conc["analytics_ms"]
        row(f"Gradio analytics summary per event at N={top}: app / bare", f"{an['app'][top]:.1f} / "
            f"{an['bare'][top]:.1f} ms", "info", "",
            "time inside Queue.compute_analytics_summary (pandas, in a worker thread holding the GIL); in a burst "
            "most completions find the summary fresh. One rebuild costs "
            + ", ".join(f"{ms:.1f} ms at {k:,} recorded events" for k, ms in conc["analytics_rebuild_ms"].items())
            + " (default GRADIO_ANALYTICS_CACHE_FREQUENCY=1: after each event when they trickle in)")
    for label, v in variants.items():
        for n in v["ns"]:
            if n == 1:
                continue
            row(f"[{label}] concurrency_ratio_{n} app / bare",
                f"{fmt(v['ratio']['app'][n])} / {fmt(v['ratio']['bare'][n])}", "info", "",
                f"concurrency_overhead_{n} {fmt(v['overhead'][n])}; "
                f"CPU/session app {v['cpu_ms']['app'][n]['server']:.0f} "
                f"ms, bare {v['cpu_ms']['bare'][n]['server']:.0f} ms; analytics/event app "
                f"{v['analytics_ms']['app'][n]:.1f} ms")
    if single and "first_preview_ratio_p50" in single:
        v = single["first_preview_ratio_p50"]
        row("first_preview_ratio p50", fmt(v), f"≤ {GOALS['first_preview']}", verdict(v, GOALS["first_preview"]),
            f"first image {fmt(single['first_image_p50'])} s of {fmt(single['light_p50'])} s; p95 "
            f"{fmt(single['first_preview_ratio_p95'])}; raw SDK floor {fmt(single['raw_first_preview_ratio_p50'])}")
    gb = GOALS["bytes"]
    if single:
        v = single["bytes_per_all_images"]
        row("bytes_ratio, partial images on (÷ every image delivered)", fmt(v), f"≤ {gb}", verdict(v, gb),
            f"{single['bytes_received_p50'] / MIB:.2f} MiB sent ÷ {single['all_image_bytes'] / MIB:.2f} MiB "
            f"of PNGs ({args.partial_images} partial + final)")
        row("bytes_ratio, partial images on (÷ final image only)", fmt(single["bytes_per_final"]), "info", "",
            f"÷ {single['final_bytes'] / MIB:.2f} MiB final image")
    if nopart:
        v = nopart["bytes_per_final"]
        row("bytes_ratio, partial images off", fmt(v), f"≤ {gb}", verdict(v, gb),
            f"{nopart['bytes_received_p50'] / MIB:.2f} MiB sent ÷ {nopart['final_bytes'] / MIB:.2f} MiB final image")
    for label, mem in mems.items():
        tag = "" if label == "default" else f"[{label}] "
        base, open_ = mem["baseline"], mem["open"]
        n = mem["n"]
        opened = (open_["rss_kib"] - base["rss_kib"]) / 1024
        live = (open_["image_bytes_in_state_data"] + open_["image_bytes_in_config_values"]
                - base["image_bytes_in_state_data"] - base["image_bytes_in_config_values"]) / n / MIB
        row(f"{tag}memory_per_session (RSS growth ÷ {n} open sessions, "
            f"one {mem['image_bytes'] / MIB:g} MiB image each)",
            f"{opened / n:.2f} MiB", "info", "",
            f"RSS {base['rss_kib'] / 1024:.0f} → {open_['rss_kib'] / 1024:.0f} MiB; live image payload per session "
            f"{live:.2f} MiB (gr.State + Gradio's per-session config copy)")
        steps = [("after all sessions closed", "closed")]
        if mem.get("released"):
            steps.append((f"after the app's closed-tab grace ({mem['grace']} s here)", "released"))
        steps.append(("after Gradio's closed-session TTL too (simulated)", "expired"))
        for what, key in steps:
            st = mem[key]
            growth = (st["rss_kib"] - base["rss_kib"]) / 1024
            held = (st["image_bytes_in_state_data"] + st["image_bytes_in_config_values"]) / MIB
            ok = growth <= max(5.0, 0.1 * opened)
            row(f"{tag}memory {what}", f"{growth:+.1f} MiB", "≈ baseline", "met" if ok else "**missed**",
                f"RSS {st['rss_kib'] / 1024:.0f} MiB; images still held in Gradio's session store {held:.1f} MiB "
                f"(gr.State {st['image_bytes_in_state_data'] / MIB:.1f}, per-session config "
                f"{st['image_bytes_in_config_values'] / MIB:.1f}); {st['closed_sessions']} sessions marked closed, "
                f"closed-session TTL {st['closed_ttl']} s")
        trim = mem["trim"]
        row(f"{tag}memory after that + malloc_trim(0)", f"{(trim['rss_kib'] - base['rss_kib']) / 1024:+.1f} MiB",
            "info", "", "what glibc gives back when asked: the rest of the growth above was freed memory it kept")

    lines = [
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
        (f"- Fake OpenAI latency L = {L} s; {args.partial_images} partial images; single-generation phases use "
        f"{args.image_bytes / MIB:g} MiB images, concurrency uses {args.concurrency_image_bytes} B images."),
        ("- Load generator: **light async httpx client speaking Gradio's sse_v3 queue protocol** (bench/loadgen.py) "
        "for concurrency, first preview and bytes; overhead_ratio is measured with **gradio_client** "
        "(as the issue asks) and, for comparison, with the light client."),
        ("" if UI_MODULE == "hitl.ui" else f"- **App built from `{UI_MODULE}`** (a candidate change), not hitl.ui.\n")
        + "- Processes: fake OpenAI, app (launched like app.py: "
        "`build_demo(settings).launch(**launch_options(settings))`, both apps with those options), "
        "bare floor app and load generator each in their own process.",
        "",
        "| metric | value | goal | status | how / notes |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows]
    lines += ["", "## Details", ""]
    for result, heading in ((single, "partial images on ({n} samples each, seconds)"),
                            (nopart, "partial images off ({n} samples)")):
        if result:
            lines += [_single_line(result, heading.format(n=result["samples"])), ""]
    for label, c in ([("default launch", conc)] if conc else []) + list(variants.items()):
        lines += [(f"Concurrency, {label} (median wall of {len(c['walls']['app'][c['ns'][0]])} runs, seconds; "
                  f"per-session latency p50/p95):"), "",
                  ("| N | app wall | bare wall | app ratio | bare ratio | overhead | app p50/p95 | bare p50/p95 "
                  "| CPU ms/session app / bare / fake / load gen | analytics ms/session app / bare "
                  "| failed app/bare |"),
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for n in c["ns"]:
            lines.append(
                f"| {n} | {fmt(statistics.median(c['walls']['app'][n]))} "
                f"| {fmt(statistics.median(c['walls']['bare'][n]))} "
                f"| {fmt(c['ratio']['app'][n])} | {fmt(c['ratio']['bare'][n])} | {fmt(c['overhead'][n])} "
                f"| {fmt(c['lat_p50']['app'][n])}/{fmt(c['lat_p95']['app'][n])} "
                f"| {fmt(c['lat_p50']['bare'][n])}/{fmt(c['lat_p95']['bare'][n])} "
                f"| {c['cpu_ms']['app'][n]['server']:.0f} / {c['cpu_ms']['bare'][n]['server']:.0f} / "
                f"{c['cpu_ms']['app'][n]['fake']:.0f} / {c['cpu_ms']['app'][n]['loadgen']:.0f} "
                f"| {c['analytics_ms']['app'][n]:.1f} / {c['analytics_ms']['bare'][n]:.1f} "
                f"| {c['errors']['app'][n]}/{c['errors']['bare'][n]} |")
        if c["error_samples"]:
            lines.append("")
            lines.append(f"Errors seen: {c['error_samples']}")
        lines.append("")
    for label, mem in mems.items():
        lines += [(f"Memory, {label} (app process; image payload = str/bytes ≥ 16 KiB reachable from Gradio's "
                  "per-session store `demo.state_holder`; a string referenced from both gr.State and the "
                  "per-session config is counted once, under gr.State):"), "",
                  ("| point | RSS MiB | sessions (closed) | with gr.State | images in gr.State MiB "
                  "| images in per-session config MiB | diff streams MiB | traced MiB |"),
                  "|---|---|---|---|---|---|---|---|"]
        points = [("baseline (after a warm-up session)", "baseline"), ("sessions open", "open"),
                  ("sessions closed", "closed")]
        if mem.get("released"):
            points.append((f"app's grace ({mem['grace']} s) passed", "released"))
        points.append(("Gradio's closed-session TTL passed (simulated)", "expired"))
        for what, key in points:
            st = mem[key]
            lines.append(f"| {what} | {st['rss_kib'] / 1024:.1f} | {st['sessions']} ({st['closed_sessions']}) "
                         f"| {st['sessions_with_state']} | {st['image_bytes_in_state_data'] / MIB:.1f} "
                         f"| {st['image_bytes_in_config_values'] / MIB:.1f} "
                         f"| {st['image_bytes_in_pending_diff_streams'] / MIB:.1f} "
                         f"| {st.get('traced_current', 0) / MIB:.1f} |")
        lines += ["", (f"After malloc_trim(0): RSS {mem['trim']['rss_kib'] / 1024:.1f} MiB. Heartbeat streams "
                  f"connected: {mem['heartbeats_connected']}/{mem['n']}; failed generations: {mem['failed']}.")]
        top = mem["expired"].get("traced_top")
        if top:
            lines += ["", "Largest live allocations after the simulated TTL (tracemalloc, 4 frames):", ""]
            lines += [f"- {t['kib'] / 1024:.1f} MiB in {t['count']} blocks: `{t['where']}`" for t in top[:5]]
        lines.append("")
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
    p.add_argument("--ui-module", default="hitl.ui",
                   help="module providing build_demo and launch_options (default hitl.ui); to measure a candidate "
                        "change, put a modified copy on PYTHONPATH and name it here")
    p.add_argument("--tracemalloc", action="store_true",
                   help="trace allocations in the memory phase's app (adds its own memory; off by default)")
    p.add_argument("--memory-env", default="",
                   help="environment for a second memory run, e.g. MALLOC_MMAP_THRESHOLD_=131072")
    p.add_argument("--wait-quiet", type=float, default=0.0,
                   help="first wait up to this many seconds for the machine's load average to drop (shared machines)")
    p.add_argument("--phases", default="single,nopartials,small,concurrency,variants,memory",
                   help="comma-separated subset of single,nopartials,small,concurrency,variants,memory; "
                        "add 'analytics' for a variant run with GRADIO_ANALYTICS_CACHE_FREQUENCY=1000")
    p.add_argument("--out", default=str(HERE / "results.md"), help="where to write the markdown table")
    p.add_argument("--json", default=None, help="also dump raw numbers to this JSON file")
    args = p.parse_args(argv)
    args.samples = args.samples or (5 if args.quick else 16)
    args.reps = args.reps or (1 if args.quick else 3)
    args.memory_sessions = args.memory_sessions or (16 if args.quick else 64)
    ns = [int(x) for x in (args.ns or ("16,64" if args.quick else "16,64,256")).split(",")]
    args.ns = [1] + [n for n in ns if n != 1]
    args.phases = set(args.phases.split(","))
    if args.quick:
        args.phases -= {"variants", "small"}
    args.command = "python -m bench.run " + " ".join(argv if argv is not None else sys.argv[1:])
    return args


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
    L = args.latency
    single = nopart = small = conc = None
    mems: dict = {}
    variants: dict = {}
    with started("fake-openai", servers.fake_main, latency=L, image_bytes=args.image_bytes) as fake:
        fake_url = fake.info["url"]
        log(f"fake OpenAI at {fake_url} (latency {L} s)")
        if "single" in args.phases:
            log(f"phase: single generations, {args.partial_images} partial images, {args.samples} samples")
            with start_app(fake_url, partial_images=args.partial_images) as app:
                raw = await phase_single(fake, app, partial_images=args.partial_images, samples=args.samples,
                                         latency=L, image_bytes=args.image_bytes, warmups=1 if args.quick else 2)
            single = summarize_single(raw, args.partial_images)
        if "nopartials" in args.phases:
            n = max(3, args.samples // 2)
            log(f"phase: single generations, partial images off, {n} samples")
            with start_app(fake_url, partial_images=0) as app:
                raw = await phase_single(fake, app, partial_images=0, samples=n, latency=L,
                                         image_bytes=args.image_bytes, warmups=1)
            nopart = summarize_single(raw, 0)
        if "small" in args.phases:
            n = max(3, args.samples // 2)
            log(f"phase: single generations with the fake's tiny images, {args.partial_images} partial images, "
                f"{n} samples")
            with start_app(fake_url, partial_images=args.partial_images) as app:
                raw = await phase_single(fake, app, partial_images=args.partial_images, samples=n, latency=L,
                                         image_bytes=0, warmups=1)
            small = summarize_single(raw, args.partial_images)
        fake.ask({"latency": L, "image_bytes": args.concurrency_image_bytes})
        if "concurrency" in args.phases:
            log(f"phase: concurrency N={args.ns}, {args.reps} reps, app vs bare floor (the app's launch options)")
            with start_app(fake_url, partial_images=args.partial_images) as app, \
                    start_app(fake_url, kind="bare", latency=L) as bare:
                conc = await phase_concurrency(app, bare, fake, ns=args.ns, reps=args.reps, latency=L,
                                              partial_images=args.partial_images)
        if "variants" in args.phases:
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
            for label, app_kw, bare_kw in chosen:
                log(f"phase: variant {label}, N={ns}")
                with start_app(fake_url, partial_images=args.partial_images, **app_kw) as app, \
                        start_app(fake_url, kind="bare", latency=L, **bare_kw) as bare:
                    variants[label] = await phase_concurrency(app, bare, fake, ns=ns, reps=reps, latency=L,
                                                               partial_images=args.partial_images)
        if "memory" in args.phases:
            runs = {"default": {}}
            if args.memory_env:
                runs[args.memory_env] = dict(item.split("=", 1) for item in args.memory_env.split(","))
            grace = grace_setting(args.memory_grace)
            for label, env in runs.items():
                log(f"phase: memory ({label}), {args.memory_sessions} sessions "
                    f"with {args.image_bytes / MIB:g} MiB images")
                with start_app(fake_url, partial_images=args.partial_images, trace_memory=args.tracemalloc,
                               env=env, settings=grace) as app:
                    mems[label] = await phase_memory(fake, app, n=args.memory_sessions, latency=L,
                                                     image_bytes=args.image_bytes,
                                                     grace=grace.get("closed_session_grace"))
    elapsed = time.monotonic() - started_at
    m["code_at_end"] = code_state()
    foreign = (machine_busy_seconds() - busy0) - (own_seconds() - own0)
    m["foreign_share"] = max(0.0, foreign) / (elapsed * (os.cpu_count() or 1))
    text = report(args, m, single, nopart, small, conc, variants, mems, elapsed)
    print()
    print(text)
    Path(args.out).write_text(text)
    log(f"wrote {args.out}")
    if args.json:
        Path(args.json).write_text(json.dumps({"machine": m, "single": single, "nopartials": nopart,
                                               "small": small, "concurrency": conc, "variants": variants,
                                               "memory": mems},
                                              indent=1, default=str))


def main(argv=None) -> None:
    global UI_MODULE
    args = parse_args(argv)
    UI_MODULE = args.ui_module
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
