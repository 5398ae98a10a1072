"""``make bench``: every module here with ``bench() -> list[dict]`` contributes rows to BENCHMARKS.md."""
