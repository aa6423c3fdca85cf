"""bench/run.py's markdown report, built from fixed inputs shaped like what its phases return.

No benchmark runs here: the dicts below stand in for `summarize_single`, `phase_concurrency` and
`phase_memory` results (with a NaN or two, the way `pct` reports an empty sample), and each phase
the CLI can skip is also given as missing.
"""

from __future__ import annotations

import argparse
import math
import os

import pytest

_environ = dict(os.environ)
from bench import run as bench  # noqa: E402 - the module cleans os.environ for its own processes on import

os.environ.clear()
os.environ.update(_environ)  # ... which the other tests in this process should not inherit

MIB = 1 << 20
NAN = float("nan")


def make_args(**overrides) -> argparse.Namespace:
    values = dict(latency=2.0, partial_images=2, command="python -m bench.run --wait-quiet 60", quick=False,
                  image_bytes=MIB, concurrency_image_bytes=0)
    return argparse.Namespace(**{**values, **overrides})


def make_machine(code_at_end: str | None = None) -> dict:
    code = "7fd8427, hitl/*.py sha256 93f8b1609062"
    return {"cores": 2, "usable_cores": 2, "python": "3.11.7", "gradio": "6.31.0", "openai": "3.54.0",
            "date": "2026-11-24 21:24 UTC", "kernel": "6.18.44", "code": code, "code_at_end": code_at_end or code,
            "foreign_share": 0.031, "load_at_start": 0.235}


def make_single(partial_images: int = 2, errors: list | None = None, scale: float = 1.0) -> dict:
    """Shaped like summarize_single(...)."""
    r = {"raw_p50": 2.012 * scale, "raw_p95": 2.051 * scale, "gradio_client_p50": 2.131 * scale,
         "gradio_client_p95": 2.135 * scale, "light_p50": 2.070 * scale, "light_p95": 2.2 * scale}
    r["overhead_gradio_client_p50"] = r["gradio_client_p50"] / r["raw_p50"]
    r["overhead_gradio_client_p95"] = r["gradio_client_p95"] / r["raw_p95"]
    r["overhead_light_p50"] = r["light_p50"] / r["raw_p50"]
    r["overhead_light_p95"] = NAN  # no light samples at p95: pct of nothing
    if partial_images:
        r.update(first_preview_ratio_p50=0.345, first_preview_ratio_p95=0.3512, raw_first_preview_ratio_p50=0.338,
                 first_image_p50=0.714)
    r.update(bytes_per_final=1.2231, bytes_per_all_images=1.0034, bytes_received_p50=2.5 * MIB,
             final_bytes=1.0 * MIB, all_image_bytes=3.25 * MIB, samples=16, errors=errors or [])
    return r


def make_concurrency(ns: list[int], error_samples: list | None = None, shift: float = 0.0) -> dict:
    """Shaped like phase_concurrency(...)."""
    names = ("app", "bare")
    walls = {name: {n: [2.0 + n * (0.011 if name == "app" else 0.004) + shift + k * 0.01 for k in range(3)]
                    for n in ns} for name in names}
    one = {name: walls[name][1][1] for name in names}
    ratio = {name: {n: walls[name][n][1] / one[name] for n in ns} for name in names}
    out = {"analytics_rebuild_ms": {1000: 3.21, 10000: 31.5}, "gradio_client_floor_p50": 2.048, "ns": ns,
           "walls": walls, "errors": {"app": {n: (2 if n == 64 else 0) for n in ns}, "bare": {n: 0 for n in ns}},
           "error_samples": error_samples or [], "ratio": ratio,
           "overhead": {n: ratio["app"][n] / ratio["bare"][n] for n in ns},
           "lat_p50": {name: {n: 2.0 + n * 0.01 for n in ns} for name in names},
           "lat_p95": {"app": {n: 2.1 + n * 0.01 for n in ns}, "bare": {n: (NAN if n == 1 else 2.05) for n in ns}},
           "cpu_ms": {name: {n: {"server": 24.4 + n / 10 if name == "app" else 6.2, "fake": 3.5, "loadgen": 9.49}
                             for n in ns} for name in names},
           "analytics_ms": {"app": {n: 1.25 + n / 100 for n in ns}, "bare": {n: 0.55 for n in ns}}}
    out["sdk_ratio"] = {n: 1.0 + n / 640 for n in ns}
    out["sdk_cpu_ms"] = 5.2
    return out


def stats(rss_mib: float, sessions: int, closed: int, state_mib: float, config_mib: float, **extra) -> dict:
    """Shaped like the app's /stats debug answer."""
    return {"rss_kib": rss_mib * 1024, "sessions": sessions, "closed_sessions": closed,
            "sessions_with_state": sessions - closed, "image_bytes_in_state_data": state_mib * MIB,
            "image_bytes_in_config_values": config_mib * MIB, "image_bytes_in_pending_diff_streams": 0.25 * MIB,
            "closed_ttl": 3600, **extra}


def make_memory(n: int = 64, grace: float | None = 5, traced: bool = True) -> dict:
    """Shaped like phase_memory(...): with a grace the app releases closed tabs itself ('released')."""
    mem = {"n": n, "image_bytes": MIB, "heartbeats_connected": n, "failed": 1, "grace": grace, "expired_count": n,
           "baseline": stats(180.0, 1, 1, 0.0, 0.0), "open": stats(467.5, n + 1, 1, 1.33 * n, 0.0),
           "closed": stats(470.2, n + 1, n + 1, 1.33 * n, 0.0), "trim": {"rss_kib": 190.4 * 1024}}
    if grace is not None:
        mem["released"] = stats(198.8, 1, 1, 0.0, 0.0)
    expired = {"traced_current": 12.5 * MIB,
               "traced_top": [{"kib": 4096.0 - 100 * i, "count": 10 + i, "where": f"hitl/x.py:{i}"}
                              for i in range(7)]} if traced else {}
    mem["expired"] = stats(230.0, 1, 1, 0.0, 0.0, **expired)
    return mem


def capacity_run(window: int, budget_mib: float, peak_mib: float, held_mib: float, with_image: int,
                 released: int = 0, refused: int = 0, lost: int = 0, sessions: int = 3000) -> dict:
    """Shaped like capacity.run(...): RSS samples as (s, KiB, visitors finished, bytes held)."""
    samples = [(0.1 * i, (96 + (peak_mib - 96) * i / 10) * 1024, sessions * i // 10, held_mib * MIB * i / 10)
               for i in range(11)]
    return {"sessions": sessions, "window": window, "budget_mib": budget_mib, "concurrency": 64, "latency": 0.05,
            "baseline_kib": 96 * 1024, "peak_kib": peak_mib * 1024, "end_kib": peak_mib * 1024 - 50_000,
            "samples": samples, "elapsed": 41.5, "lost": lost, "open": window, "open_with_image": with_image,
            "released": released, "refused": refused, "held_end": held_mib * MIB, "peak_held": held_mib * MIB,
            "outcomes": {"generate ok": sessions - refused, "regenerate ok": 9000, "approve ok": 1500,
                         **({"refused: memory full": refused} if refused else {})}, "exitcode": 0}


def make_capacity(died: bool = False) -> dict:
    cap = {"budget": capacity_run(200, 512, 700.0, 510.0, 200, released=9500),
           "over": capacity_run(400, 512, 712.0, 511.0, 227, released=9000, refused=800),
           "before": capacity_run(200, 10**7, 1900.0, 1800.0, 200)}
    if died:
        cap["over"] = {"error": "the process died", "exitcode": -9}
    return cap


def make_tabs() -> dict:
    """Shaped like tabs_phase(...)."""
    idle = {"n": 50, "window": 30.0, "quiet_cpu": [1.5, 1.7, 1.6], "tabs_cpu": [1.7, 1.8], "watching": 50,
            "sessions_left": [0, 50]}
    previews = {"generations": 10, "previews": 20, "second_missed": 1, "first_copies": 20, "second_copies": 19,
                "delay_p50_ms": 40.25, "delay_max_ms": 98.0,
                "after_click_p50_ms": [(701.25, 745.5), (1370.0, NAN)]}
    return {"idle": {**idle, **bench.tabs.idle_cost(idle)}, "previews": previews}


def make_flood_raw() -> dict:
    """Shaped like flood.measure(...): a bystander's seconds idle and under the flood, and the flooder's count."""
    return {"idle": [2.1, 2.3, 2.2], "flood": [2.5, 2.4, 2.9], "idle_cpu": [0.1, 0.12, 0.08],
            "flood_cpu": [0.9, 0.95, 0.85], "errors": ["flood: join 503: queue full"], "flood_seconds": 12.5,
            "flood_app_cpu": 6.25,
            "flooder_spent_its_limit": True,
            "flooder": {"calls": 250, "under_way": 0, "outcomes": {"refused: the address's limit": 125,
                                                                   "refused: the prompt's length": 124,
                                                                   "not refused": 1}}}


def make_flood() -> dict:
    """Shaped like flood_phase(...)."""
    return {**bench.flood.summary(make_flood_raw()), "workers": 32, "picture_bytes": 75 * 1024,
            "prompt_chars": 2 << 20}


def full_inputs() -> dict:
    return dict(args=make_args(), m=make_machine(), single=make_single(errors=["timeout after 60 s"]),
                nopart=make_single(partial_images=0, scale=0.97), small=make_single(scale=0.5),
                conc=make_concurrency([1, 16, 64, 256], error_samples=["app N=64: HTTP 502"]),
                variants={"launch(max_threads=4096), max_concurrent=4096": make_concurrency([1, 64], shift=0.1)},
                mems={"default": make_memory(),
                      "MALLOC_MMAP_THRESHOLD_=131072": make_memory(n=16, grace=None, traced=False)},
                elapsed=594.0, cap=make_capacity(), tabs=make_tabs(), flood=make_flood())


def sparse_inputs() -> dict:
    """Previews off, tiny images without a first preview, no concurrency or variants, code changed mid-run."""
    small = make_single(partial_images=0, scale=0.5)
    return dict(args=make_args(partial_images=0, quick=True, command="python -m bench.run --quick"),
                m=make_machine(code_at_end="abc1234, hitl/*.py sha256 000000000000"),
                single=make_single(partial_images=0), nopart=None, small=small, conc=None, variants={},
                mems={"default": make_memory(n=16, grace=None, traced=False)}, elapsed=131.0,
                cap=make_capacity(died=True))


def empty_inputs() -> dict:
    return dict(args=make_args(), m=make_machine(), single=None, nopart=None, small=None, conc=None, variants={},
                mems={}, elapsed=12.0)


CASES = {"full": full_inputs, "sparse": sparse_inputs, "empty": empty_inputs}


def build(case: str, ui_module: str = "hitl.web.ui") -> str:
    saved, bench.UI_MODULE = bench.UI_MODULE, ui_module
    try:
        return bench.report(**CASES[case]())
    finally:
        bench.UI_MODULE = saved


def table_rows(text: str) -> list[list[str]]:
    """The headline table's rows (after its header), as cells."""
    lines = text.splitlines()
    start = lines.index("| metric | value | goal | status | how / notes |") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_full_report_key_lines():
    text = build("full")
    lines = text.splitlines()
    assert lines[0] == "# Benchmark results (issue 6)"
    assert "- App code: 7fd8427, hitl/*.py sha256 93f8b1609062" in lines
    assert "- Command: `python -m bench.run --wait-quiet 60` (full run, 9.9 min)" in lines
    assert ("| overhead_ratio p50 (gradio_client) | 1.059 | ≤ 1.05 | **missed** "
            "| app 2.131 s ÷ raw SDK 2.012 s |") in lines
    assert "| overhead_ratio p95 (gradio_client) | 1.041 | ≤ 1.05 | met | app 2.135 s ÷ raw SDK 2.051 s |" in lines
    assert "| overhead_ratio p95 (light httpx client) | n/a | info |  | app 2.200 s ÷ raw SDK 2.051 s |" in lines
    assert "| concurrency_overhead_64 | 1.194 | info |  | app ratio ÷ bare ratio |" in lines
    assert ("| concurrency_vs_floor_64 | 1.085 | ≤ 1.1 | met | app ratio ÷ (bare ratio × sdk ratio): against the "
            "stack's floor, a bare Gradio app × the raw SDK |") in lines  # 1.343 ÷ (1.125 × 1.100)
    assert "| concurrency_overhead_16 | 1.050 | info |  | app ratio ÷ bare ratio |" in lines
    assert ("| concurrency_ratio_64 app / bare | 1.343 / 1.125 | info |  "
            "| wall(N) ÷ wall(1); 2 failed sessions |") in lines
    assert ("| first_preview_ratio p50 | 0.345 | ≤ 0.35 | met | first image 0.714 s of 2.070 s; p95 0.351; "
            "raw SDK floor 0.338 |") in lines
    assert ("| bytes_ratio, partial images on (÷ every image delivered) | 1.003 | ≤ 1.4 | met "
            "| 2.50 MiB sent ÷ 3.25 MiB of PNGs (2 partial + final) |") in lines
    assert ("| memory_per_session (RSS growth ÷ 64 open sessions, one 1 MiB image each) | 4.49 MiB | info |  "
            "| RSS 180 → 468 MiB; live image payload per session 1.33 MiB "
            "(gr.State + Gradio's per-session config copy) |") in lines
    assert any(line.startswith("| memory after the app's closed-tab grace (5 s here) | +18.8 MiB | ≈ baseline | met")
               for line in lines)
    assert any(line.startswith("| memory after Gradio's closed-session TTL too (simulated) | +50.0 MiB "
                               "| ≈ baseline | **missed** |") for line in lines)
    assert any(line.startswith("| [MALLOC_MMAP_THRESHOLD_=131072] memory_per_session (RSS growth ÷ 16 open")
               for line in lines)
    assert "| [MALLOC_MMAP_THRESHOLD_=131072] memory after that + malloc_trim(0) | +10.4 MiB | info |  " \
           "| what glibc gives back when asked: the rest of the growth above was freed memory it kept |" in lines
    assert "## Details" in lines
    assert ("Single generation, partial images on (16 samples each, seconds): raw SDK p50 2.012 p95 2.051; "
            "gradio_client p50 2.131 p95 2.135; light client p50 2.070 p95 2.200. "
            "Errors: ['timeout after 60 s']") in lines
    assert "| 64 | 2.714 | 2.266 | 1.343 | 1.125 | 1.194 | 2.640/2.740 | 2.640/2.050 | 31 / 6 / 4 / 9 " \
           "| 1.9 / 0.6 | 2/0 |" in lines
    assert "| 1 | 2.021 | 2.014 | 1.000 | 1.000 | 1.000 | 2.010/2.110 | 2.010/n/a | 24 / 6 / 4 / 9 " \
           "| 1.3 / 0.6 | 0/0 |" in lines
    assert "Errors seen: ['app N=64: HTTP 502']" in lines
    assert "| app's grace (5 s) passed | 198.8 | 1 (1) | 0 | 0.0 | 0.0 | 0.2 | 0.0 |" in lines
    assert "| Gradio's closed-session TTL passed (simulated) | 230.0 | 1 (1) | 0 | 0.0 | 0.0 | 0.2 | 12.5 |" in lines
    assert "- 4.0 MiB in 10 blocks: `hitl/x.py:0`" in lines
    assert sum(line.startswith("- ") and "blocks:" in line for line in lines) == 5
    assert text.endswith("\n") and not text.endswith("\n\n\n")


def test_full_report_headline_rows_in_order():
    names = [row[0] for row in table_rows(build("full"))]
    expected = (["overhead_ratio p50 (gradio_client)", "overhead_ratio p95 (gradio_client)",
                 "overhead_ratio p50 (light httpx client)", "overhead_ratio p95 (light httpx client)",
                 "overhead_ratio p50, partial images off (gradio_client)",
                 "overhead_ratio p95, partial images off (gradio_client)",
                 "overhead_ratio p50, tiny images (gradio_client / light client)",
                 "overhead_ratio p95, tiny images (gradio_client / light client)"]
                + [f"{name}_{n}" + (" app / bare" if name == "concurrency_ratio" else "")
                   for n in (16, 64, 256) for name in ("concurrency_ratio", "concurrency_overhead", "sdk_ratio",
                                                    "concurrency_vs_floor")]
                + ["gradio_client floor: bare app ÷ L", "CPU per session at N=256: app / bare / fake OpenAI",
                   "Gradio analytics summary per event at N=256: app / bare",
                   "[launch(max_threads=4096), max_concurrent=4096] concurrency_ratio_64 app / bare",
                   "first_preview_ratio p50", "bytes_ratio, partial images on (÷ every image delivered)",
                   "bytes_ratio, partial images on (÷ final image only)", "bytes_ratio, partial images off"])
    assert names[:len(expected)] == expected
    memory = names[len(expected):-12]
    assert [name.split(" (")[0] for name in memory] == [
        "memory_per_session", "memory after all sessions closed", "memory after the app's closed-tab grace",
        "memory after Gradio's closed-session TTL too", "memory after that + malloc_trim(0)",
        "[MALLOC_MMAP_THRESHOLD_=131072] memory_per_session", "[MALLOC_MMAP_THRESHOLD_=131072] memory after all "
        "sessions closed", "[MALLOC_MMAP_THRESHOLD_=131072] memory after Gradio's closed-session TTL too",
        "[MALLOC_MMAP_THRESHOLD_=131072] memory after that + malloc_trim(0)"]
    assert all(len(row) == 5 for row in table_rows(build("full")))


@pytest.mark.parametrize("case", list(CASES))
def test_every_table_row_has_its_header_width(case):
    width = None
    for line in build(case).splitlines():
        if not line.startswith("|"):
            width = None
            continue
        cells = line.count(" | ") + 1 if not line.startswith("|---") else line.count("---")
        width = width or cells
        assert cells == width, line


def test_sparse_report():
    text = build("sparse", ui_module="candidate.ui")
    lines = text.splitlines()
    assert any("**hitl/ changed during the run** (at the end: abc1234, hitl/*.py sha256 000000000000)" in line
               for line in lines)
    assert "- Command: `python -m bench.run --quick` (quick run, 2.2 min)" in lines
    assert "- **App built from `candidate.ui`** (a candidate change), not hitl.web.ui." in lines
    assert "first_preview_ratio" not in text.split("## Details")[0].replace("first_preview_ratio n/a", "")
    assert any(line.endswith("first_preview_ratio n/a |") for line in lines)
    assert "partial images off" not in text
    names = [row[0] for row in table_rows(text)]
    assert not any("concurrency" in name or "sdk_ratio" in name or "per session at N=" in name for name in names)
    assert not any(line.startswith("Concurrency, ") for line in lines)
    assert "Errors:" not in text
    assert not any("closed-tab grace" in line or "grace (" in line for line in lines)
    assert "Largest live allocations" not in text
    assert "Heartbeat streams connected: 16/16; failed generations: 1." in text


def test_empty_report_has_the_header_and_no_rows():
    text = build("empty")
    assert table_rows(text) == []
    assert text.endswith("| metric | value | goal | status | how / notes |\n|---|---|---|---|---|\n\n## Details\n\n")
    assert build("empty", ui_module="hitl.web.ui").count("App built from") == 0


def test_the_capacity_phase_says_whether_rss_stayed_within_the_bound_and_nothing_was_lost():
    text = build("full")
    lines = text.splitlines()
    names = [row[0] for row in table_rows(text)]
    assert names[-12:-6] == [
        "capacity: peak RSS over baseline, 3000 sessions, 200 open pages, 512 MiB budget",
        "capacity: peak RSS over baseline, 3000 sessions, 400 open pages, 512 MiB budget",
        "capacity: processes that died", "capacity: on-screen or approved images lost",
        "capacity: sessions per GiB, budget / before (no budget)",
        "capacity before (no budget): peak RSS over baseline"]
    assert any(line.startswith("| capacity: peak RSS over baseline, 3000 sessions, 200 open pages, 512 MiB budget "
                               "| +604 MiB | ≤ budget + margin = 768 MiB | met | VmHWM 700 MiB, baseline 96 MiB; "
                               "images held at most 510 MiB; 9500 released, 0 generations refused") for line in lines)
    assert "800 generations refused (admission control) of 12000" in text
    assert "| capacity: processes that died | 0 | 0 | met |" in text
    assert "| capacity: on-screen or approved images lost | 0 | 0 | met |" in text
    # 200 pages with their image ÷ 604 MiB; before: 200 ÷ 1804 MiB
    assert "| capacity: sessions per GiB, budget / before (no budget) | 339 / 114 | info |" in text
    assert "with more open pages than the budget holds (400): 377, 227 pages holding their image" in text
    assert "| capacity before (no budget): peak RSS over baseline | +1804 MiB | info |" in text
    assert "| budget | 3000 / 200 | 512 | 12000 / 9500 / 0 | 96 → 700 | 510 | 200 | 339 | 0 | 0 | 42 |" in lines
    assert "| before: no budget | 3000 / 200 | none | 12000 / 0 / 0 | 96 → 1900 | 1800 | 200 | 114 | 0 | 0 | 42 |" \
        in lines
    assert "RSS curve: [capacity.svg](capacity.svg)" in text


def test_a_capacity_run_that_died_or_lost_an_image_is_a_miss():
    lines = build("sparse").splitlines()
    assert any(line.startswith("| capacity: processes that died | 1 | 0 | **missed** |") for line in lines)
    assert not any("400 open pages" in line for line in lines)  # its numbers never came back
    cap = make_capacity()
    cap["budget"]["lost"] = 1
    cap["budget"]["peak_kib"] = (96 + 800) * 1024
    text = bench.report(**{**empty_inputs(), "cap": cap})
    assert "| capacity: on-screen or approved images lost | 1 | 0 | **missed** |" in text
    assert "| capacity: peak RSS over baseline, 3000 sessions, 200 open pages, 512 MiB budget | +800 MiB " \
           "| ≤ budget + margin = 768 MiB | **missed** |" in text


def test_the_rss_curve_is_an_svg_with_one_line_per_run_and_the_bound():
    from bench import capacity

    picture = capacity.svg(make_capacity())
    assert picture.startswith("<svg ") and picture.rstrip().endswith("</svg>")
    assert picture.count("<polyline") == 3 and "baseline + budget + margin" in picture
    assert "before: no budget (200 open pages)" in picture


def test_the_tabs_phase_reports_idle_cpu_per_tab_and_the_second_tab_delay():
    lines = build("full").splitlines()
    names = [row[0] for row in table_rows("\n".join(lines))]
    assert names[-6:-2] == ["idle_tab_cpu_ms_per_s", "Gradio sessions left once closed idle tabs should be gone",
                          "second_tab_preview_delay_p50_ms",
                          "preview arrival after the click p50: clicking tab / second tab"]
    # (mean(1.7, 1.8) − mean(1.5, 1.7, 1.6)) ÷ 50 tabs ÷ 30 s = 0.1 ms per tab per second
    assert any(line.startswith("| idle_tab_cpu_ms_per_s | 0.100 ms/s | info |  | app CPU per 30 s window with 50 idle "
                               "tabs open (1.70, 1.80 s) − without any (1.50, 1.70, 1.60 s: the app idles at 53 ms/s), "
                               "means ÷ tabs ÷ s: 1.0e-04 of one core per tab, 0.50% for all 50;") for line in lines)
    assert ("| Gradio sessions left once closed idle tabs should be gone | 50 | 0 | **missed** | after each round of "
            "50 tabs closed (their heartbeat and watch streams), 15 s for their watches' next ping + the closed-tab "
            "grace (5 s here) + 3 s later: 0, 50 |") in lines
    assert any(line.startswith("| second_tab_preview_delay_p50_ms | 40.2 ms | info |  |") and
               "max 98.0 ms; 20 previews in 10 generations, 1 never reached the second tab" in line for line in lines)
    assert any(line.startswith("| preview arrival after the click p50: clicking tab / second tab "
                               "| #1 701 / 746 ms; #2 1370 / n/a ms | info |  | preview #k is due k·L/3 after the "
                               "click (L = 2 s); streams carried each preview 1.00 / 0.95 times |") for line in lines)
    assert "idle_tab" not in build("sparse")


def test_preview_delays_pair_each_preview_by_its_first_arrival_on_each_tab():
    """Per generation: (click time, clicking tab's arrivals, second tab's arrivals), each (time, data URL)."""
    generations = [
        (10.0, [(10.5, "data:a"), (10.6, "data:a"), (11.0, "data:b")], [(10.54, "data:a"), (11.1, "data:b")]),
        (20.0, [(20.4, "data:c"), (20.9, "data:d")], [(20.46, "data:c"), (20.5, "data:c")]),  # d never came
    ]
    r = bench.tabs.preview_delays(generations)
    assert (r["generations"], r["previews"], r["second_missed"]) == (2, 4, 1)
    assert (r["first_copies"], r["second_copies"]) == (5, 4)
    # the first previews came 500 and 400 ms after the click, the second 1000 and 900 (on the second tab:
    # 540 and 460, 1100 and none)
    assert r["after_click_p50_ms"] == [pytest.approx((450.0, 500.0)), pytest.approx((950.0, 1100.0))]
    assert r["delay_p50_ms"] == pytest.approx(60.0)  # of 40, 100, 60
    assert r["delay_max_ms"] == pytest.approx(100.0)
    nothing = bench.tabs.preview_delays([])
    assert nothing["previews"] == 0 and math.isnan(nothing["delay_p50_ms"]) and math.isnan(nothing["delay_max_ms"])


def test_idle_cost_is_the_mean_window_with_tabs_minus_the_mean_without_per_tab_and_second():
    cost = bench.tabs.idle_cost({"n": 50, "window": 20.0, "quiet_cpu": [1.0, 1.2, 1.1], "tabs_cpu": [2.0, 2.2]})
    assert cost == pytest.approx({"ms_per_tab_s": 1.0, "core_per_tab": 0.001, "core_all_tabs": 0.05})


def test_the_flood_phase_reports_the_bystanders_ratio_and_every_flood_call_not_refused():
    lines = build("full").splitlines()
    names = [row[0] for row in table_rows("\n".join(lines))]
    assert names[-2:] == ["flood_ratio p50: a bystander's generation while one address floods ÷ idle",
                          "flood calls not refused"]
    # p50 2.5 s under the flood ÷ 2.2 s idle; the app's CPU p50 90% / 10% of a core
    assert ("| flood_ratio p50: a bystander's generation while one address floods ÷ idle | 1.136 | ≤ 1.1 | **missed** "
            "| 2.500 s ÷ 2.200 s, 3 samples each, interleaved (max 2.900 / 2.300 s); the app's CPU during them "
            "90% / 10% of a core; bystander generations that failed: 1 |") in lines
    assert ("| flood calls not refused | 1 | 0 | **missed** | 250 /generate calls from one address past its limit "
            "(20/s while flooding, 32 at a time, each a new session; every other one starting from a 4096×4096 PNG "
            "of 75 KB, the rest with a 2 Mi-character prompt), each costing the app about 20 ms of CPU: "
            "125 refused: the address's limit, 124 refused: "
            "the prompt's length, 1 not refused |") in lines
    assert "flood" not in build("sparse")
    unspent = {**make_flood(), "flooder_spent_its_limit": False}
    assert "its limit was not spent" in bench.report(**{**empty_inputs(), "flood": unspent})


def test_the_flood_summary_is_the_ratio_of_the_p50s_and_the_flooders_rate():
    raw = make_flood_raw()
    r = bench.flood.summary(raw)
    assert r["ratio"] == pytest.approx(2.5 / 2.2) and r["samples"] == 3
    assert (r["idle_max"], r["flood_max"]) == (2.3, 2.9)
    assert r["rate"] == pytest.approx(20.0) and r["calls"] == 250 and r["flooder_spent_its_limit"]
    assert r["cpu_ms_per_call"] == pytest.approx(20.0)  # (6.25 s − 10% of a core × 12.5 s) ÷ 250 calls
    raw.update(flood=[], flood_cpu=[], flood_seconds=0.0)  # every bystander under the flood failed
    none = bench.flood.summary(raw)
    assert none["samples"] == 0 and math.isnan(none["ratio"]) and none["rate"] == 0
    assert math.isnan(bench.flood.summary({**raw, "flooder": {"calls": 0, "outcomes": {}}})["cpu_ms_per_call"])
