"""The web page and its API on Gradio: layout (`page`), what a tab shows (`screen`), the page's events
(`events`), the named endpoints (`api`), the routes that serve images and logs, and `ui`, which puts
them together. The only layer that imports Gradio."""
