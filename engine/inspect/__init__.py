"""Read-only views of a bot's state: diagrams, the transition log, live status."""
