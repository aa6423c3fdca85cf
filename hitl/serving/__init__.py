"""What serving a public app takes, below the core: settings, limits and the counters all processes
share, the image memory budget, the request-size edge. No Gradio here."""
