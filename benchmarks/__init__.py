"""Benchmarks of tune-mtl against other ways of searching; `search_efficiency.py` is the entry."""
