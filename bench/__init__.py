"""The relay benchmark (`python -m bench`, `make bench`); see bench/run.py and docs/benchmark.md."""
