"""Zero disk for pictures users send: a starting image and a painted mask travel as data: URLs inside the
queue's JSON, and no byte of them lands in GRADIO_TEMP_DIR, the temp folder (the test's own while it runs),
or any file the process holds open, whichever way they come (gradio_client against the fake, demo mode,
the page's own events)."""

from __future__ import annotations

import base64
import io
import os
import secrets
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from gradio_client import Client
from helpers import MESSAGE, Page, data_url
from PIL import Image, PngImagePlugin

from hitl.web.edge import MAX_BODY


def marked_png(size: tuple[int, int], marker: str, mask_box: tuple[int, int, int, int] | None = None) -> bytes:
    """A PNG carrying `marker` in a text chunk; with `mask_box`, an OpenAI mask (alpha 0 there)."""
    info = PngImagePlugin.PngInfo()
    info.add_text("marker", marker)
    image = Image.new("RGBA", size, (0, 0, 0, 255)) if mask_box else Image.effect_noise(size, 60).convert("RGB")
    if mask_box:
        image.paste((0, 0, 0, 0), mask_box)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def traces(data: bytes, marker: str) -> list[bytes]:
    """What would betray the picture in a file: the marker's bytes, and a stretch of its base64 (as in a
    data: URL written out as text)."""
    text = base64.b64encode(data)
    start = (data.index(marker.encode()) // 3 + 1) * 3  # a base64 group that lies inside the marker
    return [marker.encode(), text[start * 4 // 3: start * 4 // 3 + 40]]


@pytest.fixture
def temp_dir(tmp_path, monkeypatch) -> Path:
    """The temp folder of this process (the app runs in it) while the test runs: a folder of the test's own,
    so the test scans only that, never the machine's shared /tmp, where other processes' files come and go."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    assert Path(tempfile.gettempdir()) == folder
    return folder


def files_written_since(folders: list[Path], since: float) -> list[Path]:
    found = []
    for folder in folders:
        for root, _, names in os.walk(folder):  # a folder gone meanwhile is skipped (os.walk ignores the error)
            for name in names:
                path = Path(root, name)
                try:
                    if path.is_file() and path.stat().st_mtime >= since and path.stat().st_size < 64 * 1024 * 1024:
                        found.append(path)
                except OSError:  # gone meanwhile
                    continue
    return found


def open_files() -> list[Path]:
    paths = []
    for fd in Path("/proc/self/fd").iterdir():
        try:
            target = Path(os.readlink(fd))
        except OSError:
            continue
        if target.is_file():
            paths.append(target)
    return paths


def holding(paths: list[Path], needles: list[bytes]) -> list[Path]:
    hits = []
    for path in paths:
        try:
            content = path.read_bytes()
        except OSError:
            continue
        if any(needle in content for needle in needles):
            hits.append(path)
    return hits


def test_no_byte_of_an_upload_or_a_mask_reaches_the_disk(client, fake, demo_url, app_url, gradio_temp, temp_dir):
    since = time.time() - 1
    marker = "hitl-zero-disk-" + secrets.token_hex(24)
    picture = marked_png((96, 72), marker)
    needles = traces(picture, marker)

    made = client.predict("from my photo", "auto", "auto", "auto", "png", "", 1, data_url(picture),
                          api_name="/generate")
    assert made[MESSAGE] == ""
    mask = marked_png((32, 32), marker, mask_box=(0, 0, 8, 8))  # the fake makes 32 px squares
    needles += traces(mask, marker)
    assert client.predict(data_url(mask), "a boat", api_name="/edit_region")[MESSAGE] == ""

    demo = Client(demo_url, verbose=False)
    assert demo.predict("demo too", "auto", "auto", "auto", "png", "", 1, data_url(picture),
                        api_name="/generate")[MESSAGE] == ""
    demo_mask = marked_png((512, 512), marker, mask_box=(0, 0, 64, 64))
    needles += traces(demo_mask, marker)
    assert demo.predict(data_url(demo_mask), "a door", api_name="/edit_region")[MESSAGE] == ""

    page = Page(app_url)  # the page's own event, as the browser sends it (its js= fills `upload`)
    messages = page.click("generate", "from the page", 1, "auto", "auto", "auto", "png", "", 0, [], data_url(picture))
    assert messages[-1]["success"], messages[-1]
    assert len(fake.requests) == 3 and all(r.body["tools"][0]["action"] == "edit" for r in fake.requests)

    written = files_written_since([gradio_temp, temp_dir], since)
    assert holding(written, needles) == []
    assert holding(open_files(), needles) == []
    assert [p for p in written if gradio_temp in p.parents] == []  # nothing at all, pictures or not


def test_gradio_routes_that_store_or_serve_files_are_closed(app_url, gradio_temp, temp_dir):
    """Gradio's upload route would store an anonymous file under GRADIO_TEMP_DIR and its file route serve
    it back to anyone: both answer 404, and nothing lands on disk."""
    since = time.time() - 1
    marker = "hitl-anonymous-upload-" + secrets.token_hex(24)
    files = {"files": ("note.txt", marker.encode() * 1000, "text/plain")}
    upload = httpx.post(f"{app_url}gradio_api/upload", files=files, timeout=30)
    assert upload.status_code == 404, upload.text[:200]
    recording = httpx.post(f"{app_url}gradio_api/process_recording", files={"video": ("v.mp4", b"0" * 1000)},
                           timeout=30)
    assert recording.status_code == 404
    planted = gradio_temp / f"{marker}.txt"  # a file already there, as the upload route would have left it
    planted.write_text(marker, encoding="utf-8")
    try:
        for route in (f"gradio_api/file={planted}", f"gradio_api/file/{planted}", "gradio_api/proxy=https://x.hf.space/a",
                      "gradio_api/stream/abc/0/1/playlist.m3u8"):
            assert httpx.get(f"{app_url}{route}", timeout=30).status_code == 404, route
    finally:
        planted.unlink()
    written = files_written_since([gradio_temp, temp_dir], since)
    assert holding(written, [marker.encode()]) == []


def test_public_monitoring_is_off_unless_the_owner_asks(app_url, own_app):
    assert httpx.get(f"{app_url}monitoring/summary", timeout=30).status_code == 403
    asked = own_app(monitoring=True)
    assert httpx.get(f"{asked.local_url}monitoring/summary", timeout=30).status_code == 200


def test_a_body_over_the_largest_the_app_accepts_is_refused_unread(app_url, client, fake):
    """413 from the declared length, before the body is read; a chunked body (no length) once it passes
    the limit; a body of the largest allowed size still gets through to the app's own checks."""
    too_big = b'{"data": ["' + b"a" * MAX_BODY + b'"]}'
    declared = httpx.post(f"{app_url}gradio_api/queue/join", content=too_big,
                          headers={"content-type": "application/json"}, timeout=60)
    assert declared.status_code == 413

    def chunks():
        yield b'{"data": ["'
        for _ in range(MAX_BODY // (1 << 20) + 1):
            yield b"a" * (1 << 20)
        yield b'"]}'

    chunked = httpx.post(f"{app_url}gradio_api/call/generate", content=chunks(),
                         headers={"content-type": "application/json"}, timeout=60)
    assert chunked.status_code == 413
    picture = data_url(b"\x89PNG" + b"0" * (10 * 1024 * 1024 - 100))  # about the largest a visitor may send
    made = client.predict("large but allowed", "auto", "auto", "auto", "png", "", 1, picture, api_name="/generate")
    assert "not a PNG, JPEG or WebP" in made[MESSAGE]  # reached the app's own check, which refuses it
