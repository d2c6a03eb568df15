"""Benchmarks and experiments on real data (``make bench``); not part of the installed package."""
