"""Benchmarks for the transcription service: `python -m bench` (or `bench/run`); see bench/RESULTS.md."""
