"""cgan's speed, measured: `python -m benchmarks` (or `make bench`) runs the suite and prints one table.

Every figure is the median of several runs; every comparison is a ratio of two figures measured in
the same run. `timing.median_seconds` is the one timer all benchmark modules use.
"""
