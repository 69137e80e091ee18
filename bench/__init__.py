"""Benchmarks: the speed, the memory and the calls to Genesys, each measured against the
tutorial's design (bench/baseline.py) in the same run. `python -m bench` (or `make bench`) runs
them and prints a table each; docs/PERFORMANCE.md has the figures and what limits them.

Not tests: nothing here runs under pytest, and only --strict turns a missed target into a
failure.
"""
