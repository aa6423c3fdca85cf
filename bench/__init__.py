"""Benchmark for HITL Image Studio (issue 6): `python -m bench.run`."""
