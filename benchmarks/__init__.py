"""Benchmarks that print figures (``make bench-*``); never installed, never in a bento."""
