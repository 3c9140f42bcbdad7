"""Plain scripts a user would write instead of `segmentation features`, timed against it as
whole processes (``benchmarks/features_cli.py``). Each: ``python SCRIPT transactions.csv out.csv``."""
