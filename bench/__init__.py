"""Benchmarks of the FloQast Open API keys service: `python -m bench [--quick]` (see README.md)."""
