"""Benchmarks: ours and a baseline side by side in the same run, reported as ratios.

``python -m bench`` runs every benchmark and prints one table; each module also runs
alone (``python -m bench.overhead``). Results go to ``bench/results/<name>.json``.
"""
