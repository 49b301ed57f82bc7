"""Positions: the model the position machine drives, its intents, and the guards/actions it names."""
