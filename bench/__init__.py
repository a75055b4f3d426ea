"""Benchmarks and the load test: each prints ratios against a baseline run side by side.

Run them all with ``.venv/bin/python -m bench.run_all`` (``make bench``); results go to
``bench/results/latest.{md,json,png}``. Everything listens on 127.0.0.1 only.
"""
