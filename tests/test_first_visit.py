"""What a first visit costs on the wire (issue 23; the sizes themselves are measured by bench/first_visit.py):
the pages' HTML, which carries the whole app's config, travels compressed, and the page asks for no
font it does not show."""

from __future__ import annotations

import httpx
import pytest
from browser import open_app


@pytest.mark.parametrize("path", ["", "review"])
def test_a_pages_html_travels_compressed(app_url, path):
    response = httpx.get(app_url + path, headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-encoding"] == "gzip"
    assert "window.gradio_config" in response.text  # decoded by httpx: the whole page is there
    assert int(response.headers["content-length"]) < len(response.content) / 3


def test_the_page_fetches_no_monospace_font(browser, app_url):
    """Gradio's hidden timers are set in IBM Plex Mono; nothing on the page shows it, so it is not fetched."""
    context = browser.new_context()
    fonts: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: fonts.append(request.url) if request.resource_type == "font" else None)
    open_app(page, app_url)
    page.wait_for_timeout(2000)  # the timers run while the page loads and resumes its session (≈ 0.2 s here)
    context.close()
    assert fonts and not [url for url in fonts if "Mono" in url], fonts
