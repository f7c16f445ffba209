"""Benchmark runners for cachesrv (``python -m bench SUBCOMMAND``); see bench/__main__.py."""
