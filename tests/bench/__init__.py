"""The benchmark harness (`make bench`): see harness.py and docs/performance.md."""
