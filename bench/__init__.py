"""Benchmarks of the engine: figures as ratios measured in one run (``python -m bench``)."""
