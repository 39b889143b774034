"""Benchmarks that print their figures (results in bench/RESULTS.md). Each runs as a module from
the repository root, `.venv/bin/python -m bench.NAME`, so it can import `service`, `consumers`
and the test helpers in `tests.support` as packages, without touching sys.path."""
