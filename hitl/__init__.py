"""HITL Image Studio: human-in-the-loop image generation on Gradio and PocketFlow."""
