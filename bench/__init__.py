"""Benchmarks: `python -m bench.run` writes bench/RESULTS.md."""
