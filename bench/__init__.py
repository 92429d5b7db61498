"""Benchmarks: they print numbers; they are never timed tests."""
