"""Faithful re-creations of the sample scripts' designs, run as baselines in the benchmarks."""
