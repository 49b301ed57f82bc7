"""Command-line interface: `python -m engine COMMAND …` (see `python -m engine --help`)."""
